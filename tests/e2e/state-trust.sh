#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The state root is trusted storage (design.md, Trust): its records name pids
# to kill and directories to remove. Whoever can write a directory above it
# can put another root in its place, so every directory of its chain must be
# writable only by us or root (a sticky one, like /tmp, is fine). A damaged
# record is never acted on.
: "${top_srcdir:?}"
. "$top_srcdir/tests/e2e/lib.sh" || exit 99
[ "$REAL" = 1 ] && skip_all "plants directories owned by another uid"

OTHER_UID=10001
prepare hello st1 || exit 99
MANIFEST=$WORK/st1/vm.json

# run_with_root DIR: run -d with FIREC_STATE_DIR=DIR; prints the exit code.
run_with_root() {
  FIREC_STATE_DIR=$1 "$FIREC_RUN" run -d -q "$MANIFEST" >"$WORK/out" 2>"$WORK/err"
  echo $?
}
# refused DIR WORDS: preflight refused the run (exit 3) naming WORDS, left nothing.
refused() {
  local rc; rc=$(run_with_root "$1")
  if [ "$rc" = 3 ] && grep -q -- "$2" "$WORK/err" && [ -z "$(our_pids "st1( |$)")" ]; then return 0; fi
  echo "# exit $rc:"; sed 's/^/#   /' "$WORK/err"
  FIREC_STATE_DIR=$1 "$FIREC_RUN" rm -f st1 >/dev/null 2>&1
  return 1
}

mkdir -p "$WORK/open/a" && chmod 0777 "$WORK/open"
check "a state root below a directory anyone may write is refused (exit 3)" \
  refused "$WORK/open/a/state" "$WORK/open, above the state directory .* may be written by others"
check "... also when the root does not exist yet: nothing is made in it" \
  test ! -e "$WORK/open/a/state"

mkdir -p "$WORK/theirs/x/state" && chown "$OTHER_UID" "$WORK/theirs"
check "a state root below a directory of another uid is refused" \
  refused "$WORK/theirs/x/state" "$WORK/theirs, above the state directory .* belongs to uid $OTHER_UID"

ln -s "$WORK/theirs/x/state" "$WORK/link"
check "... also through a symbolic link (the real directory's chain counts)" \
  refused "$WORK/link" "$WORK/theirs, above the state directory"

mkdir -p "$WORK/sticky" && chmod 1777 "$WORK/sticky"
rc=$(run_with_root "$WORK/sticky/state")
check "a state root in a sticky directory (as /tmp) is fine" test "$rc" = 0
FIREC_STATE_DIR=$WORK/sticky/state "$FIREC_RUN" rm -f st1 >/dev/null 2>&1
check "... and rm removes the VM" clean_after_run st1

done_testing
