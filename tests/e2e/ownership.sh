#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Ownership (TAP): firec-run destroys only what it made, and never says that
# nothing is left while something of the VM is. A cgroup, a jail, a TAP or an
# output file that someone else made (before the run, or while it ran), records
# that cannot be read, a stop or an rm racing an rm, the guard of an attached VM
# that was handed over as detached, or that was killed.
. "$top_srcdir/tests/e2e/lib.sh"

json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else str(v).lower() if isinstance(v,bool) else v)' "$1"; }
status_of() { "$FIREC_RUN" status --output json "$1" 2>/dev/null | json_field state; }
record_field() { "$PYTHON3" -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(" ".join(v) if isinstance(v, list) else v)' "$FIREC_STATE_DIR/$1/state.json" "$2"; }
set_field() { # set_field FILE PYTHON-STATEMENT (m is the manifest)
  "$PYTHON3" -c "import json,sys; p=sys.argv[1]; m=json.load(open(p)); $2; json.dump(m, open(p, 'w'))" "$1"
}
# Until nothing of NAME is left, at most SECONDS.
wait_clean() { # wait_clean NAME [SECONDS]
  local i
  for i in $(seq $((${2:-10} * 20))); do
    [ -z "$(leftovers "$1")" ] && [ ! -e "$FIREC_STATE_DIR/$1.lock" ] && return 0
    sleep 0.05
  done
  return 1
}
force_clean() { our_pids "$1( |$)" | xargs -r kill -KILL; sleep 0.2; rm -rf "$WORK/jail/"*/"$1" "$FIREC_STATE_DIR/$1" "$FIREC_STATE_DIR/$1.lock"; }
guard_of() { pgrep -f -- "firec-supervise --guard [0-9]* --state-root $FIREC_STATE_DIR --name $1\$"; }
keeper_of() { pgrep -f -- "--console --state-dir $FIREC_STATE_DIR/$1( |$)"; }
daemon() { set_field "$WORK/$1/vm.json" 'm["spec"].setdefault("run", {})["mode"] = "daemon"'; }

# --- a cgroup of the VM's name that someone else made ----------------------------
# (another state root's VM, another tool): preflight refuses it, naming it and
# what runs in it; one that appears between preflight and the jailer is not the
# run's either. Either way the victim lives and its cgroup stays.
if has_jailer && [ "$REAL" = 0 ]; then
  name=e2e-cg
  prepare jailer-full "$name"
  daemon "$name"
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
  cg=$(record_field "$name" cgroup_dirs)
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
  fingerprint "$WORK/$name" >"$WORK/$name/before" # (its output files moved aside)
  check "jailer-full has a cgroup of its own (${cg:-none})" test -n "$cg"
  sleep 9999 & victim=$!
  mkdir -p "$cg"; echo "$victim" >"$cg/cgroup.procs"
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/err"; rc=$?
  check "a cgroup of the VM's name that exists: refused in preflight (exit $rc)" test "$rc" -eq 3
  check "naming the cgroup and the process in it" sh -c "grep -q -- '$cg' '$WORK/$name/err' && grep -q '$victim' '$WORK/$name/err'"
  check "the process in it lives, and the cgroup stays" sh -c "kill -0 $victim && grep -qx $victim '$cg/cgroup.procs'"
  rm -rf "$cg"
  FIREC_TEST_FAULT=SIGSTOP:jailer.spawn "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/err" & p=$!
  wait_stopped "$p"
  mkdir -p "$cg"; echo "$victim" >"$cg/cgroup.procs"
  kill -CONT "$p"; wait "$p"; rc=$?
  check "a cgroup that appears after preflight: the start fails (exit $rc)" test "$rc" -ne 0
  check "saying that the cgroup is not this run's" grep -q -- "$cg.*not this run's\|not this run's.*$cg" "$WORK/$name/err"
  check "the rollback leaves the process in it alive and the cgroup as it was" sh -c "kill -0 $victim && grep -qx $victim '$cg/cgroup.procs'"
  kill "$victim"; wait "$victim" 2>/dev/null; rm -rf "$cg"
  check "and leaves nothing else" clean_after "$name"
fi

# --- the jail: another run of the name made it meanwhile ---------------------------
# Run A is held after preflight; B, the same VM from another state root (which A
# cannot know of), starts and makes the jail; A's mkdir finds it: not A's.
if has_jailer; then
  name=e2e-jrace
  prepare hello "$name"
  daemon "$name"
  FIREC_TEST_FAULT=SIGSTOP:stage.jail "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/a.err" & p=$!
  wait_stopped "$p"
  FIREC_STATE_DIR=$WORK/state2 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null; brc=$?
  bpid=$(FIREC_STATE_DIR=$WORK/state2 "$FIREC_RUN" status -o json "$name" 2>/dev/null | json_field pid)
  kill -CONT "$p"; wait "$p"; rc=$?
  check "B started (exit $brc); A, whose jail B made, fails (exit $rc)" test "$brc" -eq 0 -a "$rc" -ne 0
  check "A does not claim that nothing is left of B's jail... it names it as not its own" grep -q "appeared since preflight" "$WORK/$name/a.err"
  check "B's VMM lives on" kill -0 "$bpid"
  check "and its jail is whole" test -d "$WORK/jail/$(basename "$(readlink -f "$FC")")/$name/root/run"
  check "A left nothing of its own (its state)" test ! -e "$FIREC_STATE_DIR/$name"
  FIREC_STATE_DIR=$WORK/state2 "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
  check "B's rm leaves nothing" clean_after "$name"

  # A dies after naming the jail, before making it; B makes it: A's rm leaves B alone.
  FIREC_TEST_FAULT=SIGKILL:stage.jail "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" >/dev/null 2>&1
  FIREC_STATE_DIR=$WORK/state2 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null; brc=$?
  bpid=$(FIREC_STATE_DIR=$WORK/state2 "$FIREC_RUN" status -o json "$name" 2>/dev/null | json_field pid)
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>"$WORK/$name/rm.err"; rc=$?
  check "A killed before its jail's mkdir, B started (exit $brc): A's rm (exit $rc) leaves B's VMM alive" sh -c "[ $brc -eq 0 ] && kill -0 $bpid"
  check "and B's jail whole" test -d "$WORK/jail/$(basename "$(readlink -f "$FC")")/$name/root/run"
  check "and A's state is gone (exit 0)" sh -c "[ $rc -eq 0 ] && [ ! -e '$FIREC_STATE_DIR/$name' ]"
  FIREC_STATE_DIR=$WORK/state2 "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
  check "B's rm leaves nothing" clean_after "$name"
fi

# --- a TAP and an output file that appear while the run makes them -----------------
if has_jailer && [ "$REAL" = 0 ] && [ -n "${FIREC_TEST_NETNS:-}" ]; then
  name=e2e-appear
  prepare jailer-full "$name"
  daemon "$name"
  tap=$(tap_prefix "$name")0
  FIREC_TEST_FAULT=SIGSTOP:net.tap.eth0 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/err" & p=$!
  wait_stopped "$p"
  nsenter --net="$FIREC_TEST_NETNS" ip tuntap add "$tap" mode tap user 10001 group 10001
  kill -CONT "$p"; wait "$p"; rc=$?
  check "a TAP that appears before the run makes it: the start fails (exit $rc)" test "$rc" -ne 0
  check "and the rollback leaves that TAP" sh -c "nsenter --net='$FIREC_TEST_NETNS' ip link show '$tap' >/dev/null"
  nsenter --net="$FIREC_TEST_NETNS" ip link delete "$tap"
  check "and nothing else" clean_after "$name"

  # Killed with the TAP named and not made; another VM's TAP of that name (in
  # use: a process has it open) is not the one it would have made.
  FIREC_TEST_FAULT=SIGKILL:net.tap.eth0/named "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" >/dev/null 2>&1
  nsenter --net="$FIREC_TEST_NETNS" ip tuntap add "$tap" mode tap user 10001 group 10001
  nsenter --net="$FIREC_TEST_NETNS" "$PYTHON3" -c 'import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000))
open(sys.argv[2], "w").close(); time.sleep(60)' "$tap" "$WORK/$name/tap-open" & holder=$!
  for i in $(seq 100); do [ -e "$WORK/$name/tap-open" ] && break; sleep 0.05; done
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1; rc=$?
  check "killed with its TAP named, not made: rm (exit $rc) leaves a TAP of that name another process uses" \
    sh -c "nsenter --net='$FIREC_TEST_NETNS' ip link show '$tap' >/dev/null"
  kill "$holder"; wait "$holder" 2>/dev/null
  nsenter --net="$FIREC_TEST_NETNS" ip link delete "$tap"
  check "and nothing else is left" clean_after "$name"

  log=$(head -1 "$WORK/$name/outputs")
  FIREC_TEST_FAULT=SIGSTOP:stage.logger/cleared "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/err" & p=$!
  wait_stopped "$p"
  : >"$log"; chown 10001:10001 "$log"; ino=$(stat -c %i "$log")
  kill -CONT "$p"; wait "$p"; rc=$?
  check "an output file that appears as the run makes it: the start fails (exit $rc)" test "$rc" -ne 0
  check "and the rollback leaves that file (empty, of the VM's uid: as the run would have made it)" test "$(stat -c %i "$log" 2>/dev/null)" = "$ino"
  rm -f "$log"; [ -e "$log.1" ] && mv "$log.1" "$log"
  check "and nothing else" sh -c "[ -z \"\$(leftovers $name)\" ]"
fi

# --- a damaged record: the copy knows every host resource ---------------------------
if has_jailer && [ "$REAL" = 0 ] && [ -n "${FIREC_TEST_NETNS:-}" ]; then
  name=e2e-copy
  prepare jailer-full "$name"
  daemon "$name"
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
  check "the run made a TAP" test -n "$(taps_of "$name")"
  : >"$FIREC_STATE_DIR/$name/state.json"
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>"$WORK/$name/err"; rc=$?
  check "state.json damaged: rm -f exits 0 (got $rc)" test "$rc" -eq 0
  check "and removes everything, the TAP too" clean_after_run "$name"
fi

# --- both records unreadable ---------------------------------------------------------
# rm finds what runs from the host (the console keeper by its state directory,
# Firecracker by the console it writes to, its jail from its root) and removes
# it; what it cannot tie to the VM it names, with exit 5, and leaves alone.
if has_jailer; then
  name=e2e-norec
  prepare hello "$name"
  daemon "$name"
  for how in damaged removed; do
    "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
    case $how in
      damaged) : >"$FIREC_STATE_DIR/$name/state.json"; echo '{' >"$FIREC_STATE_DIR/$name/identity.json" ;;
      removed) rm -f "$FIREC_STATE_DIR/$name/state.json" "$FIREC_STATE_DIR/$name/identity.json" ;;
    esac
    "$FIREC_RUN" rm -f "$name" >/dev/null 2>"$WORK/$name/err"; rc=$?
    check "state.json and identity.json $how: rm -f exits 0 (got $rc)" test "$rc" -eq 0
    check "... and leaves nothing: no process, no keeper, no jail" clean_after "$name" || force_clean "$name"
  done
  # Without its keeper nothing ties Firecracker to this state directory.
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
  vmm=$("$FIREC_RUN" status -o json "$name" | json_field pid)
  keeper=$(keeper_of "$name")
  kill -KILL "$keeper"
  for i in $(seq 100); do # until it is dead (rm would find it)
    case $(awk '{print $3}' "/proc/$keeper/stat" 2>/dev/null) in '' | Z) break ;; esac; sleep 0.05
  done
  rm -f "$FIREC_STATE_DIR/$name/state.json" "$FIREC_STATE_DIR/$name/identity.json"
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>"$WORK/$name/err"; rc=$?
  check "no record and no keeper: rm -f exits 5 (got $rc), never 'removed'" test "$rc" -eq 5
  check "naming the process it cannot tie to the VM (${vmm:-none})" sh -c "[ -n '$vmm' ] && grep -q '$vmm' '$WORK/$name/err'"
  check "which it leaves alone, and the state directory stays" sh -c "kill -0 $vmm && [ -d '$FIREC_STATE_DIR/$name' ]"
  "$FIREC_RUN" rm -f "$WORK/$name/vm.json" >/dev/null 2>"$WORK/$name/err"; rc=$?
  check "rm -f FILE (the manifest tells the jail) removes it all (exit $rc)" sh -c "[ $rc -eq 0 ] && { [ ! -e /proc/$vmm ] || grep -q '^State:[[:space:]]*[ZX]' /proc/$vmm/status; }"
  check "... and nothing is left" clean_after "$name" || force_clean "$name"
fi

# --- another VM's damaged record does not hide its files ---------------------------
name=e2e-ua
prepare rootfs e2e-ua
prepare rootfs e2e-ub
daemon e2e-ua; daemon e2e-ub
"$FIREC_RUN" run -d -q "$WORK/e2e-ua/vm.json" 2>/dev/null
disk=$("$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); print([d for d in m["spec"]["drives"] if not d.get("is_read_only")][0]["path_on_host"])' "$WORK/e2e-ua/vm.json")
set_field "$WORK/e2e-ub/vm.json" "[d.update(path_on_host='$disk') for d in m['spec']['drives'] if not d.get('is_read_only')]"
: >"$FIREC_STATE_DIR/e2e-ua/state.json"
"$FIREC_RUN" run -d -q "$WORK/e2e-ub/vm.json" 2>"$WORK/e2e-ub/err"; rc=$?
check "a VM whose state.json is damaged still keeps its writable drive from another run (exit $rc)" sh -c "[ $rc -eq 3 ] && grep -q 'e2e-ua' '$WORK/e2e-ub/err'"
: >"$FIREC_STATE_DIR/e2e-ua/identity.json"
"$FIREC_RUN" run -d -q "$WORK/e2e-ub/vm.json" 2>"$WORK/e2e-ub/err"; rc=$?
check "and with both its records damaged: refused (exit $rc), its files cannot be known" sh -c "[ $rc -eq 3 ] && grep -q 'e2e-ua.*cannot be known' '$WORK/e2e-ub/err'"
"$FIREC_RUN" rm -f e2e-ub >/dev/null 2>&1; "$FIREC_RUN" rm -f "$WORK/e2e-ua/vm.json" >/dev/null 2>&1
check "rm leaves nothing of either" sh -c "[ -z \"\$(leftovers e2e-ua)\" ] && [ -z \"\$(leftovers e2e-ub)\" ]"

# --- stop and rm of a VM that an rm holds -------------------------------------------
# The holder of the lock is signalled only when it is the VM's own run; an rm is
# waited for (or reported as holding it, exit 4), and an rm finishes what it
# began even when it gets SIGTERM, with one JSON result.
if [ "$REAL" = 0 ]; then
  name=e2e-rmrace
  prepare hello "$name"
  # A VM whose run was killed mid-start (its record says starting), whose
  # guest ignores Ctrl+Alt+Del: an rm of it holds the lock for the policy's 4 s.
  set_field "$WORK/$name/vm.json" 'm["spec"].setdefault("run", {})["stop"] = [{"ctrl_alt_del": "4s"}, "sigkill"]'
  slow_rm() {
    FAKE_FC_IGNORE_CTRL_ALT_DEL=1 FIREC_TEST_FAULT=SIGKILL:api.confirm "$FIREC_RUN" run -d "$WORK/$name/vm.json" >/dev/null 2>&1
    "$FIREC_RUN" rm --output json "$name" >"$WORK/$name/rm.out" 2>"$WORK/$name/rm.err" & rm1=$!
    for i in $(seq 100); do "$FIREC_RUN" status "$name" 2>&1 | grep -q "pid $rm1" && break; sleep 0.05; done
  }
  slow_rm
  "$FIREC_RUN" stop "$name" >/dev/null 2>"$WORK/$name/stop.err"; src=$?
  "$FIREC_RUN" rm --lock-timeout 0 "$name" >/dev/null 2>"$WORK/$name/rm2.err"; rc2=$?
  wait "$rm1"; rc1=$?
  check "stop of a VM an rm holds waits, then says it is locked by that rm (exit $src)" sh -c "[ $src -eq 4 ] && grep -q 'pid $rm1' '$WORK/$name/stop.err'"
  check "a second rm (--lock-timeout 0) says it is locked by the first (exit $rc2)" sh -c "[ $rc2 -eq 4 ] && grep -q 'pid $rm1' '$WORK/$name/rm2.err'"
  check "the first rm was not signalled: exit 0 (got $rc1)" test "$rc1" -eq 0
  check "with its JSON result" test "$(json_field changed <"$WORK/$name/rm.out")" = true
  check "and nothing is left" clean_after "$name" || force_clean "$name"
  slow_rm
  start=$(date +%s%N)
  kill -TERM "$rm1"; wait "$rm1"; rc1=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  changed=$(json_field changed <"$WORK/$name/rm.out")
  check "rm that gets SIGTERM kills at once and finishes (exit $rc1, ${ms} ms) with one JSON result (changed ${changed:-?})" \
    test "$rc1" -eq 0 -a "$ms" -lt 3000 -a "$changed" = true
  check "and nothing is left" clean_after "$name" || force_clean "$name"
fi

# --- the guard of an attached VM ---------------------------------------------------
name=e2e-guard
prepare hello "$name"
# Killed between its record saying detached (Ctrl+] q) and the guard's release,
# the supervisor leaves the guard a VM that is no longer attached: it stays.
hint='Ctrl\+\] q'
FIREC_TEST_FAULT=SIGKILL:detach/recorded PTY_LOG=$WORK/pty.log "$PYTHON3" "$top_srcdir/tests/e2e/pty-drive.py" \
  "expect:$hint" termios:raw "send:\x1dq" "sleep:1" -- "$FIREC_RUN" run -q "$WORK/$name/vm.json" >/dev/null 2>&1
for i in $(seq 100); do [ -z "$(guard_of "$name")" ] && break; sleep 0.05; done
check "the guard of a VM handed over as detached leaves it running" test "$(status_of "$name")" = running
check "as a daemon VM" test "$("$FIREC_RUN" status --output json "$name" | json_field mode)" = daemon
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
check "rm leaves nothing" clean_after "$name" || force_clean "$name"
# A guard killed with kill -9 is started again: the VM still goes with its firec-run.
"$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1 & p=$!
wait_running "$name"
g1=$(guard_of "$name")
kill -KILL "$g1"
g2=
for i in $(seq 100); do g2=$(guard_of "$name"); [ -n "$g2" ] && [ "$g2" != "$g1" ] && break; sleep 0.05; done
check "a guard killed with kill -9 ($g1) is replaced (${g2:-none})" test -n "$g2" -a "$g2" != "$g1"
kill -KILL "$p"; wait "$p" 2>/dev/null
check "which removes the VM when its firec-run is SIGKILLed" wait_clean "$name" 10 || force_clean "$name"

done_testing
