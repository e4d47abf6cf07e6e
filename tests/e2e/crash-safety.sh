#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Crash safety and one owner for a VM's life (TAP): SIGKILL of firec-run at every
# step and at random instants, SIGTERM right after a start, a damaged record, a
# second start of a running VM, a jail without a record, an untrusted state root,
# and what `rm` leaves (nothing: no process, cgroup, mount, jail, record or lock).
. "$top_srcdir/tests/e2e/lib.sh"

json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else str(v).lower() if isinstance(v,bool) else v)' "$1"; }
status_of() { "$FIREC_RUN" status --output json "$1" 2>/dev/null | json_field state; }
# Until nothing of NAME is left, at most SECONDS.
wait_clean() { # wait_clean NAME [SECONDS]
  local i
  for i in $(seq $((${2:-10} * 20))); do
    [ -z "$(leftovers "$1")" ] && [ ! -e "$FIREC_STATE_DIR/$1.lock" ] && return 0
    sleep 0.05
  done
  return 1
}
# Nothing left, and the lock went with the VM. After a start that failed the
# files the manifest names are as they were; after one that reached running
# (all_gone started), the earlier output files were moved aside unchanged.
all_gone() { # all_gone NAME [started | either]
  case ${2:-} in
    started) clean_after_run "$1" || return 1 ;;
    either) clean_after "$1" >/dev/null || clean_after_run "$1" >/dev/null || { clean_after "$1"; return 1; } ;;
    *) clean_after "$1" || return 1 ;;
  esac
  [ ! -e "$FIREC_STATE_DIR/$1.lock" ] || { echo "#   lock: $FIREC_STATE_DIR/$1.lock"; return 1; }
}
# The same after a run that started: its earlier output files moved aside.
all_gone_run() { # all_gone_run NAME
  clean_after_run "$1" || return 1
  [ ! -e "$FIREC_STATE_DIR/$1.lock" ] || { echo "#   lock: $FIREC_STATE_DIR/$1.lock"; return 1; }
}
force_clean() { our_pids "$1( |$)" | xargs -r kill -KILL; sleep 0.2; rm -rf "$WORK/jail/"*/"$1" "$FIREC_STATE_DIR/$1" "$FIREC_STATE_DIR/$1.lock"; }
set_field() { # set_field FILE PYTHON-STATEMENT (m is the manifest)
  "$PYTHON3" -c "import json,sys; p=sys.argv[1]; m=json.load(open(p)); $2; json.dump(m, open(p, 'w'))" "$1"
}

name=e2e-crash
prepare jailer-full "$name"
mapfile -t steps < <("$FIREC_RUN" plan --output json "$WORK/$name/vm.json" | "$PYTHON3" -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)["steps"]]')

# --- attached: SIGKILL of firec-run at every step -------------------------------
# The guard started with the run removes whatever the run had made.
for step in "${steps[@]}" attached-running; do
  if [ "$step" = attached-running ]; then
    "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1 &
    p=$!; wait_running "$name"; kill -KILL "$p"; wait "$p" 2>/dev/null
  else
    FIREC_TEST_FAULT="SIGKILL:$step" "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1
  fi
  if [ "$step" = attached-running ]; then started=started; else started=; fi
  if wait_clean "$name" 10 && all_gone "$name" $started; then ok "attached, SIGKILL at $step: the guard leaves nothing"
  else not_ok "attached, SIGKILL at $step: the guard leaves nothing"; leftovers "$name" | sed 's/^/#   /'; force_clean "$name"; fi
done

# --- detached: SIGKILL of run -d at every step ----------------------------------
for step in "${steps[@]}"; do
  FIREC_TEST_FAULT="SIGKILL:$step" "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1
  st=$(status_of "$name")
  # (the fault strikes as the step starts: at state.create nothing exists yet)
  case $step in preflight.* | state.create) want=absent ;; *) want=stale ;; esac
  if [ "$st" = "$want" ]; then ok "run -d, SIGKILL at $step: status says $st"; else not_ok "run -d, SIGKILL at $step: status says $st (want $want)"; fi
  if [ "$want" = stale ]; then
    "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/again"; rc=$?
    # A VMM that was already started makes it "running"; before that it is a leftover.
    if { [ $rc -eq 4 ] || [ $rc -eq 3 ]; } && grep -q "firec-run \(rm\|stop\) $name" "$WORK/$name/again"; then
      ok "run -d, SIGKILL at $step: a new run refuses (exit $rc) naming the command that clears it"
    else
      not_ok "run -d, SIGKILL at $step: a new run refuses (exit $rc) naming the command that clears it"; head -3 "$WORK/$name/again" | sed 's/^/#   /'
    fi
  fi
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1; rc=$?
  if [ $rc -eq 0 ] && all_gone "$name"; then ok "run -d, SIGKILL at $step: rm -f removes everything"
  else not_ok "run -d, SIGKILL at $step: rm -f removes everything (exit $rc)"; leftovers "$name" | sed 's/^/#   /'; force_clean "$name"; fi
done

# --- detached, new_pid_ns: SIGKILL at random instants of the start ---------------
# The pid is recorded only once the pid file appears: rm finds the VMM from the
# host (its jail, its cgroup) before that.
set_field "$WORK/$name/vm.json" 'm["spec"]["jailer"]["new_pid_ns"] = True'
survived=0
for i in $(seq 25); do
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1 &
  p=$!
  sleep "0.0$((RANDOM % 40 + 1))"
  kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>"$WORK/$name/rm.err"; rc=$?
  if [ $rc -ne 0 ] || ! all_gone "$name" either; then
    survived=$((survived + 1))
    echo "# round $i: rm -f exit $rc: $(head -2 "$WORK/$name/rm.err" | tr '\n' ' ')"; leftovers "$name" | sed 's/^/#   /'; force_clean "$name"
  fi
done
check "run -d SIGKILLed at 25 random instants: rm -f leaves nothing each time ($survived with leftovers)" test "$survived" -eq 0

# --- SIGTERM right after the start runs the stop policy --------------------------
# A short policy (real guests cannot boot here: Ctrl+Alt+Del is never answered).
name=e2e-term
prepare hello "$name"
set_field "$WORK/$name/vm.json" 'm["spec"].setdefault("run", {})["stop"] = [{"ctrl_alt_del": "1s"}, "sigkill"]'
: >"$WORK/requests"; chmod 0666 "$WORK/requests"
# The policy ran: firec-run says so and (with the doubles) SendCtrlAltDel came.
policy_ran() {
  grep -q "the VM was stopped\|(the stop policy)" "$WORK/$name/stderr" &&
    { [ "$REAL" = 1 ] || grep -q SendCtrlAltDel "$WORK/requests"; }
}
policy=0
for i in $(seq 10); do
  : >"$WORK/requests"
  FAKE_FC_REQUEST_LOG=$WORK/requests "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr" &
  p=$!
  wait_running "$name"
  kill -TERM "$p"; wait "$p"; rc=$?
  if [ $rc -eq 0 ] && policy_ran && all_gone "$name" >/dev/null; then policy=$((policy + 1))
  else echo "# round $i: exit $rc; $(tail -2 "$WORK/$name/stderr" | tr '\n' ' ')"; force_clean "$name"; fi
done
check "SIGTERM right after the start runs the stop policy (SendCtrlAltDel) every time ($policy of 10)" test "$policy" -eq 10
# The same, with the signal already there as the last step ends.
policy=0
for i in $(seq 5); do
  : >"$WORK/requests"
  FAKE_FC_REQUEST_LOG=$WORK/requests FIREC_TEST_FAULT="SIGTERM:started" timeout 60 "$FIREC_RUN" run -q "$WORK/$name/vm.json" \
    </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  if [ $rc -eq 0 ] && policy_ran && all_gone "$name" >/dev/null; then policy=$((policy + 1))
  else echo "# round $i: exit $rc; $(tail -2 "$WORK/$name/stderr" | tr '\n' ' ')"; force_clean "$name"; fi
done
check "SIGTERM that arrived before the supervisor took over runs the stop policy ($policy of 5)" test "$policy" -eq 5

# --- a SIGTERM the VMM gets directly is not the stop policy's ---------------------
"$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr" &
p=$!; wait_running "$name"
vmm=$("$FIREC_RUN" status -o json "$name" | json_field pid)
kill -TERM "$vmm"; wait "$p"; rc=$?
check "firecracker killed by someone else's SIGTERM: exit 1 (got $rc)" test "$rc" -eq 1
check "and the message says firec-run did not send it (KillMode=mixed)" grep -q "not sent by firec-run.*KillMode=mixed" "$WORK/$name/stderr"
check "everything is removed" all_gone "$name"

# --- stop --timeout reaches an attached VM's supervisor ---------------------------
set_field "$WORK/$name/vm.json" 'm["spec"]["run"]["stop"] = [{"ctrl_alt_del": "10s"}, "sigkill"]'
FAKE_FC_IGNORE_CTRL_ALT_DEL=1 "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1 &
p=$!; wait_running "$name"
start=$(date +%s%N)
"$FIREC_RUN" stop --timeout 1 "$name" 2>/dev/null; rc=$?
wait "$p"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "stop --timeout 1 of an attached VM whose guest ignores Ctrl+Alt+Del takes about 1 s, not the policy's 10 s wait (exit $rc, ${ms} ms)" test "$rc" -eq 0 -a "$ms" -lt 2500
check "and leaves nothing" all_gone "$name"

# --- a second start of a running VM ------------------------------------------------
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
vmm=$("$FIREC_RUN" status -o json "$name" | json_field pid)
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/second"; rc=$?
check "a second run -d of a running VM exits 4 (got $rc)" test "$rc" -eq 4
check "naming its pid and the stop command, not rm" sh -c "grep -q 'already running (pid $vmm' '$WORK/$name/second' && grep -q 'firec-run stop $name' '$WORK/$name/second' && ! grep -q 'firec-run rm' '$WORK/$name/second'"
check "the VM was left alone" kill -0 "$vmm"

# --- a damaged record of a running VM ----------------------------------------------
printf '{"format_version": 2, "na' >"$FIREC_STATE_DIR/$name/state.json"
"$FIREC_RUN" status "$name" >"$WORK/$name/status" 2>&1; rc=$?
check "status of a damaged record: not 'running', not 'absent', exit 1 (got $rc)" sh -c "[ $rc -eq 1 ] && grep -q damaged '$WORK/$name/status'"
check "it names the file and what rm will do" sh -c "grep -q 'state.json' '$WORK/$name/status' && grep -q 'firec-run rm $name' '$WORK/$name/status'"
"$FIREC_RUN" stop "$name" 2>"$WORK/$name/stop"; rc=$?
check "stop refuses (exit $rc) instead of saying it was not running" sh -c "[ $rc -ne 0 ] && ! grep -q 'was not running' '$WORK/$name/stop'"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/again"; rc=$?
check "a new run of it exits 4: its VMM still runs (got $rc)" test "$rc" -eq 4
"$FIREC_RUN" apply "$WORK/$name/vm.json" 2>/dev/null; rc=$?
count=$(our_pids "$name( |$)" | wc -l)
check "apply does not start a second VMM (exit $rc, $count VMM)" test "$rc" -ne 0 -a "$count" -eq 1
"$FIREC_RUN" rm -f "$name" 2>/dev/null; rc=$?
check "rm -f of it exits 0 (got $rc)" test "$rc" -eq 0
check "... and kills the VMM and removes everything" all_gone "$name"

# --- an incomplete state directory (SIGKILL during state.create) ----------------
mkdir -p "$FIREC_STATE_DIR/$name"; chmod 0700 "$FIREC_STATE_DIR/$name"
check "ps lists a state directory without a record" sh -c "'$FIREC_RUN' ps | grep -q '^$name .*stale'"
"$FIREC_RUN" rm "$name" >/dev/null 2>&1; rc=$?
check "rm NAME removes it (exit $rc)" sh -c "[ $rc -eq 0 ] && [ ! -e '$FIREC_STATE_DIR/$name' ]"

# --- a jail without a record (the state root went with a reboot) -------------------
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
"$FIREC_RUN" kill "$name" 2>/dev/null
rm -rf "$FIREC_STATE_DIR"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/orphan"; rc=$?
if has_jailer; then
  check "a jail left without a record is refused (exit 3, got $rc)" test "$rc" -eq 3
  advice=$(grep -o 'firec-run rm [^`]*' "$WORK/$name/orphan" | head -1)
  check "with an rm command ($advice)" test -n "$advice"
  "$FIREC_RUN" ${advice#firec-run } >/dev/null 2>&1
  check "... and that command removes it" all_gone "$name"
else
  # Without the jailer the VM's root is in the state directory: nothing is left.
  check "without the jailer, a cleared state root leaves nothing in the way (exit $rc)" test "$rc" -eq 0
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
fi

# --- rm NAME finds a record-less jail under the default chroot base ---------------
dname=e2e-default-$$
mkdir -p "/srv/jailer/fake-firecracker/$dname/root"
"$FIREC_RUN" rm "$dname" >/dev/null 2>&1; rc=$?
check "rm NAME removes a record-less jail under /srv/jailer (exit $rc)" sh -c "[ $rc -eq 0 ] && [ ! -e /srv/jailer/fake-firecracker/$dname ]"
rm -rf "/srv/jailer/fake-firecracker/$dname"

# --- the jailer's parent cgroup, made for this VM, goes with it ------------------
"$FIREC_RUN" run -d -q "$WORK/e2e-crash/vm.json" 2>/dev/null
parents=$("$PYTHON3" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["cgroup_parents"]))' "$FIREC_STATE_DIR/e2e-crash/state.json")
"$FIREC_RUN" rm -f e2e-crash 2>/dev/null
left=""; for d in $parents; do [ -e "$d" ] && left="$left $d"; done
check "the parent cgroups the run made (${parents:-none: they existed}) are removed once empty" test -z "$left"
check "... and nothing else is left" all_gone_run e2e-crash

# --- what rm cannot remove stays listed, and so does the record --------------------
if command -v chattr >/dev/null && [ "$REAL" = 0 ]; then
  "$FIREC_RUN" run -d -q "$WORK/e2e-crash/vm.json" 2>/dev/null
  root=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["vm_root"])' "$FIREC_STATE_DIR/e2e-crash/state.json")
  : >"$root/stuck"
  if chattr +i "$root/stuck" 2>/dev/null; then
    "$FIREC_RUN" rm -f e2e-crash 2>"$WORK/e2e-crash/rm.err"; rc=$?
    check "rm that cannot remove everything exits 5 (got $rc) and lists what is left" sh -c "[ $rc -eq 5 ] && grep -q stuck '$WORK/e2e-crash/rm.err'"
    check "and keeps the record, so that rm can try again" test -f "$FIREC_STATE_DIR/e2e-crash/state.json"
    check "the VM's process is gone all the same" test -z "$(our_pids "e2e-crash( |$)")"
    chattr -i "$root/stuck"
    "$FIREC_RUN" rm e2e-crash 2>/dev/null; rc=$?
    check "once it can, rm removes the rest (exit $rc)" test "$rc" -eq 0
    check "... and nothing is left" all_gone_run e2e-crash
  else
    "$FIREC_RUN" rm -f e2e-crash 2>/dev/null
  fi
fi

# --- an untrusted state root ----------------------------------------------------------
trusted=$FIREC_STATE_DIR
export FIREC_STATE_DIR=$WORK/hostile-state
mkdir -p "$FIREC_STATE_DIR"; chown 10001 "$FIREC_STATE_DIR"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/hostile"; rc=$?
check "a state root owned by another user is refused (exit 3, got $rc)" test "$rc" -eq 3
check "naming the path and the fix" sh -c "grep -q '$FIREC_STATE_DIR belongs to uid 10001' '$WORK/$name/hostile' && grep -q 'chown' '$WORK/$name/hostile'"
chown 0 "$FIREC_STATE_DIR"; chmod 0777 "$FIREC_STATE_DIR"
"$FIREC_RUN" ps >/dev/null 2>"$WORK/$name/hostile"; rc=$?
check "a state root others may write is refused (exit 3, got $rc), with chmod go-w" sh -c "[ $rc -eq 3 ] && grep -q 'chmod go-w' '$WORK/$name/hostile'"
chmod 0755 "$FIREC_STATE_DIR"
# Another user plants a VM directory with a record naming a directory to remove and a process to kill.
sleep 300 & decoy=$!
mkdir -p "$WORK/victim-dir"
mkdir "$FIREC_STATE_DIR/planted"; chown 10001 "$FIREC_STATE_DIR/planted"
"$PYTHON3" - "$FIREC_STATE_DIR/planted/state.json" "$WORK/victim-dir" "$decoy" "$(awk '{print $22}' /proc/$decoy/stat)" <<'PY'
import json, sys
p, d, pid, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
json.dump({"format_version": 2, "name": "planted", "phase": "running", "manifest": "/x", "digest": None,
  "mode": "daemon", "firec_pid": 1, "jailer": False, "jail_dir": None, "chroot_base": None,
  "exec_name": "firecracker", "vm_root": d, "api_socket": d + "/s", "firecracker_version": "1.5.1",
  "uid": 0, "gid": 0, "stop": [], "stop_timeout_ms": 1000, "cgroup_dirs": [], "cgroup_parents": [],
  "outputs": [], "jailer_process": {"pid": pid, "start_time": start}, "vmm": {"pid": pid, "start_time": start},
  "started_at": 1}, open(p, "w"))
PY
chown 10001 "$FIREC_STATE_DIR/planted/state.json"
"$FIREC_RUN" kill planted 2>/dev/null; krc=$?
"$FIREC_RUN" rm -f planted 2>"$WORK/$name/planted"; rc=$?
check "kill and rm refuse a VM directory another user owns (exit $krc, $rc)" sh -c "[ $krc -eq 3 ] && [ $rc -eq 3 ]"
check "the process it names lives, and the directory it names stays" sh -c "kill -0 $decoy && [ -d '$WORK/victim-dir' ]"
kill "$decoy"; wait "$decoy" 2>/dev/null
export FIREC_STATE_DIR=$trusted

done_testing
