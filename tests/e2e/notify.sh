#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The service-manager side of firec-run (TAP): what a listener on NOTIFY_SOCKET
# receives (as systemd's Type=notify reads it) for detached and attached runs,
# with and without firec-supervise; and an attached run under the systemd
# unit's capability bounding set and NoNewPrivileges (setpriv), as the unit
# starts it. STOPPING=1 is checked to arrive, not when.
. "$top_srcdir/tests/e2e/lib.sh"

listener=
# listen SOCKET LOG: a listener on SOCKET, ready when this returns.
listen() {
  "$PYTHON3" "$top_srcdir/tests/e2e/notify-listen.py" "$1" "$2" &
  listener=$!
  local i=0
  while [ ! -e "$2" ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
}
unlisten() { kill "$listener" 2>/dev/null; wait "$listener" 2>/dev/null; listener=; }
trap 'unlisten; cleanup_work' EXIT
# got LOG PID FIELD: the listener received FIELD from PID.
got() { grep -qx -- "$2 $3" "$1"; }
# wait_for LOG PATTERN: up to 20 s for a line matching PATTERN (grep -E).
wait_for() {
  local i=0
  while [ $i -lt 400 ]; do grep -Eq -- "$2" "$1" && return 0; sleep 0.05; i=$((i + 1)); done
  return 1
}
# wait_exit PID SECONDS: its exit status, or 124 (and SIGKILL) if it is still
# running after SECONDS: a stop that hangs fails the test instead of hanging it.
wait_exit() {
  local i=0
  while alive "$1" && [ $i -lt $(($2 * 20)) ]; do sleep 0.05; i=$((i + 1)); done
  alive "$1" && { kill -KILL "$1"; wait "$1"; return 124; }
  wait "$1"
}
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
json_field() { "$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
# first_line LOG PATTERN: the line number of the first line matching PATTERN.
first_line() { grep -nE -- "$2" "$1" | head -1 | cut -d: -f1; }

# --- detached: STATUS per step, then READY=1 and MAINPID=, from firec-run ------
name=e2e-notify-d
prepare hello "$name"
log=$WORK/$name.notify
listen "$WORK/$name.sock" "$log"
NOTIFY_SOCKET=$WORK/$name.sock "$FIREC_RUN" run -d -q --output json "$WORK/$name/vm.json" >"$WORK/$name/out" 2>"$WORK/$name/stderr" &
runner=$!
wait "$runner"; rc=$?
check "run -d exits 0 (got $rc)" test "$rc" -eq 0
wait_for "$log" " READY=1$" >/dev/null # the listener writes what it received a moment later
fcpid=$(json_field pid <"$WORK/$name/out")
check "READY=1 from firec-run" got "$log" "$runner" READY=1
check "MAINPID= names Firecracker's pid ($fcpid), the process that lives on" got "$log" "$runner" "MAINPID=$fcpid"
check "STATUS= names a step before READY=1" \
  test "$(first_line "$log" " STATUS=[a-z]")" -lt "$(first_line "$log" " READY=1$")"
check "STATUS= says it is running" got "$log" "$runner" "STATUS=$name is running"
check "every message comes from firec-run (systemd's NotifyAccess=main)" \
  sh -c "! grep -v '^$runner ' '$log'"
unlisten
"$FIREC_RUN" rm "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# --- the same to an abstract socket (@NAME) --------------------------------------
name=e2e-notify-abs
prepare hello "$name"
log=$WORK/$name.notify
listen "@firec-e2e-notify-$$" "$log"
NOTIFY_SOCKET=@firec-e2e-notify-$$ "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null &
runner=$!
wait "$runner"
wait_for "$log" " READY=1$" >/dev/null
check "an abstract NOTIFY_SOCKET gets READY=1 too" got "$log" "$runner" READY=1
unlisten
"$FIREC_RUN" rm "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# --- attached: READY=1 and STATUS=, then STOPPING=1 when it is stopped -----------
# attached NAME FIREC_RUN [PREFIX...]: runs it attached with a listener, stops it
# with SIGTERM once READY=1 arrived, and checks what the listener got.
attached() {
  local name=$1 bin=$2; shift 2
  prepare hello "$name"
  [ -z "${stop_policy:-}" ] || "$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); m["spec"]["run"]["stop"]=json.loads(sys.argv[2]); json.dump(m, open(sys.argv[1], "w"))' \
    "$WORK/$name/vm.json" "$stop_policy"
  log=$WORK/$name.notify
  listen "$WORK/$name.sock" "$log"
  NOTIFY_SOCKET=$WORK/$name.sock "$@" "$bin" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr" &
  local runner=$!
  if wait_for "$log" " READY=1$"; then ok "$name: READY=1 arrives"
  else not_ok "$name: READY=1 arrives"; sed 's/^/#   /' "$WORK/$name/stderr"; fi
  check "$name: from the process the service manager started (pid $runner)" got "$log" "$runner" READY=1
  check "$name: STATUS= says it is running" got "$log" "$runner" "STATUS=$name is running"
  check "$name: no MAINPID= (the main process stays firec-run, which gets the stop signal)" \
    sh -c "! grep -v ' MAINPID=$runner\$' '$log' | grep -q ' MAINPID='"
  sleep 0.2
  kill -TERM "$runner"; wait_exit "$runner" 45; local rc=$?
  check "$name: SIGTERM runs the stop policy, exit 0 (got $rc)" test "$rc" -eq 0
  wait_for "$log" " STOPPING=1$" >/dev/null
  check "$name: STOPPING=1 arrives, from the same process" got "$log" "$runner" STOPPING=1
  check "$name: every message comes from that process" sh -c "! grep -v '^$runner ' '$log'"
  unlisten
  check "$name: nothing is left" clean_after "$name"
}
attached e2e-notify-a "$FIREC_RUN"
# Without firec-supervise beside it, the same from in-process supervision.
mkdir -p "$WORK/lonely"; cp "$FIREC_RUN" "$WORK/lonely/firec-run"
attached e2e-notify-i "$WORK/lonely/firec-run"

# --- as the systemd unit runs it -------------------------------------------------
# Its CapabilityBoundingSet and NoNewPrivileges, applied with setpriv (systemd is
# not PID 1 here), to `firec-run run FILE`, as its ExecStart says.
unit=$top_srcdir/data/systemd/firec@.service.in
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g')
if ! command -v setpriv >/dev/null; then
  ok "# SKIP setpriv (util-linux) is not installed"
elif [ -z "$caps" ] || ! grep -qx 'NoNewPrivileges=yes' "$unit"; then
  not_ok "the unit sets CapabilityBoundingSet= and NoNewPrivileges=yes"
else
  # A stop policy of SIGKILL alone: Firecracker runs as the VM's uid, so killing
  # it needs CAP_KILL (the doubles' Firecracker stops on Ctrl+Alt+Del by itself).
  stop_policy='["sigkill"]' attached e2e-notify-unit "$FIREC_RUN" setpriv --bounding-set=-all,"$caps" --no-new-privs --
  # The same without CAP_MKNOD (the jailer's): preflight refuses before touching
  # anything, so a set too small shows up as a clear error and not as a half-made jail.
  has_jailer || { done_testing; exit 0; }
  name=e2e-notify-nomknod
  prepare hello "$name"
  setpriv --bounding-set=-all,"${caps//+mknod,/}" --no-new-privs -- \
    "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "without CAP_MKNOD preflight refuses (exit 3, got $rc)" test "$rc" -eq 3
  check "and names CAP_MKNOD" grep -q CAP_MKNOD "$WORK/$name/stderr"
  check "nothing is left" clean_after "$name"
fi

done_testing
