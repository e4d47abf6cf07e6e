#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Where an attached firec-run finds firec-supervise (TAP): in an installed
# layout moved elsewhere (`make install prefix=/x`, a DESTDIR tree), relative to
# the running binary; never another installation's; with a warning, and
# in-process supervision, when it has none.
. "$top_srcdir/tests/e2e/lib.sh"
: "${FIREC_TEST_BINDIR:?}" "${FIREC_TEST_PKGLIBEXECDIR:?}"

# run_attached NAME FIREC_RUN: starts it attached and waits until it runs.
run_attached() {
  local name=$1 bin=$2
  prepare hello "$name" || return 1
  "$bin" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr" &
  pid=$!
  wait_running "$name" && sleep 0.2
}
stop_attached() {
  kill -TERM "$pid"; wait "$pid"
}

# The layout `make install DESTDIR=$WORK/dest` makes, as install copies it.
dest=$WORK/dest
mkdir -p "$dest$FIREC_TEST_BINDIR" "$dest$FIREC_TEST_PKGLIBEXECDIR"
cp "$FIREC_RUN" "$dest$FIREC_TEST_BINDIR/firec-run"
cp "$top_builddir/firec-supervise" "$dest$FIREC_TEST_PKGLIBEXECDIR/firec-supervise"
name=e2e-relocated
run_attached "$name" "$dest$FIREC_TEST_BINDIR/firec-run"
check "a relocated installation runs its VM" test "$(grep -c running "$FIREC_STATE_DIR/$name/state.json" 2>/dev/null)" -gt 0
check "and becomes its own firec-supervise (same pid)" \
  test "$(readlink "/proc/$pid/exe")" = "$dest$FIREC_TEST_PKGLIBEXECDIR/firec-supervise"
check "without a warning" sh -c "! grep -q 'warning: no firec-supervise' '$WORK/$name/stderr'"
stop_attached; rc=$?
check "SIGTERM stops it (exit $rc)" test "$rc" -eq 0
check "nothing is left" clean_after "$name"

# The same binary without its helper: the other installation's helper, which
# may be of another version, is not taken; it warns and supervises in-process.
rm "$dest$FIREC_TEST_PKGLIBEXECDIR/firec-supervise"
name=e2e-nohelper
run_attached "$name" "$dest$FIREC_TEST_BINDIR/firec-run"
check "without its helper it supervises in-process" test "$(readlink "/proc/$pid/exe")" = "$dest$FIREC_TEST_BINDIR/firec-run"
check "and says so on stderr, naming where it looked" \
  grep -q "warning: no firec-supervise in $dest$FIREC_TEST_BINDIR/.*/firec-supervise: supervising in-process" "$WORK/$name/stderr"
stop_attached; rc=$?
check "SIGTERM stops it (exit $rc)" test "$rc" -eq 0
check "nothing is left" clean_after "$name"

done_testing
