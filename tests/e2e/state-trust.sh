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

# A damaged manifest.json of a running VM: what it runs as is unknown, so
# apply (and update) refuse with exit 3 and say how to start it anew; the VM
# runs on untouched. An empty object is damage too, not a manifest with
# everything absent.
prepare hello md1 || exit 99
"$FIREC_RUN" run -d -q "$WORK/md1/vm.json" >/dev/null 2>&1 || not_ok "md1 starts"
STORED=$FIREC_STATE_DIR/md1/manifest.json
vmm_of() { json_field vmm <"$FIREC_STATE_DIR/md1/state.json"; }
json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print(json.dumps(v))' "$1"; }
VMM=$(vmm_of)
cp "$STORED" "$WORK/manifest.good"
# refuses_damaged COMMAND...: exit 3, "damaged", the remedy, the VM as it was.
refuses_damaged() {
  "$FIREC_RUN" "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [ $rc = 3 ] && grep -q "manifest.json is damaged" "$WORK/err" && grep -q "firec-run stop md1" "$WORK/err" &&
     [ "$(vmm_of)" = "$VMM" ] && "$FIREC_RUN" status md1 2>/dev/null | grep -q running; then return 0; fi
  echo "# exit $rc:"; sed 's/^/#   /' "$WORK/out" "$WORK/err"
  return 1
}
for damage in truncated empty-object garbage; do
  case $damage in
    truncated) head -c 100 "$WORK/manifest.good" >"$STORED" ;;
    empty-object) echo '{}' >"$STORED" ;;
    garbage) echo '[1, 2' >"$STORED" ;;
  esac
  check "apply refuses a $damage manifest.json (exit 3, a remedy), the VM untouched" refuses_damaged apply "$WORK/md1/vm.json"
  check "... apply --replace as well" refuses_damaged apply --replace "$WORK/md1/vm.json"
  check "... update drive as well" refuses_damaged update md1 drive rootfs --rate-limiter '{"bandwidth": {"size": 1000, "refill_time": 100}}'
done
cp "$WORK/manifest.good" "$STORED"
"$FIREC_RUN" rm -f md1 >/dev/null 2>&1
check "rm removes it" clean_after_run md1

done_testing
