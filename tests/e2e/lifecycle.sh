#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Lifecycle (TAP): detached runs, status/ps, apply's three cases, pause/resume,
# MMDS, snapshot create and a manifest that loads it, stop/kill/rm, attached
# runs stopped from outside, locks, the stop policy escalating, reused pids, and
# concurrency (crash safety: crash-safety.sh).
. "$top_srcdir/tests/e2e/lib.sh"

json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else str(v).lower() if isinstance(v,bool) else v)' "$1"; }
status_of() { "$FIREC_RUN" status --output json "$1" 2>/dev/null | json_field state; }

# --- detached, status, ps, apply ------------------------------------------------
name=e2e-life
prepare mmds "$name"
out=$("$FIREC_RUN" run -d --output json "$WORK/$name/vm.json" 2>"$WORK/$name/stderr"); rc=$?
check "run -d exits 0 once the VM runs (got $rc)" test "$rc" -eq 0
check "run -d prints one JSON object saying running" test "$(echo "$out" | json_field state)" = running
pid=$(echo "$out" | json_field pid)
check "the VM's process is alive after firec-run returned" kill -0 "$pid"
check "status says running" test "$(status_of "$name")" = running
check "status of the manifest file says running too" test "$("$FIREC_RUN" status -o json "$WORK/$name/vm.json" 2>/dev/null | json_field state)" = running
check "ps lists it" sh -c "'$FIREC_RUN' ps | grep -q '^$name .*running'"

out=$("$FIREC_RUN" apply --output json "$WORK/$name/vm.json"); rc=$?
check "apply of the running manifest: exit 0, changed false" test "$rc" -eq 0 -a "$(echo "$out" | json_field changed)" = false
"$PYTHON3" - "$WORK/$name/vm.json" "$WORK/$name/vm2.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["spec"]["machine-config"]["mem_size_mib"] += 128
json.dump(m, open(sys.argv[2], "w"))
PY
out=$("$FIREC_RUN" apply --output json "$WORK/$name/vm2.json" 2>"$WORK/$name/diff"); rc=$?
check "apply of a changed manifest refuses (exit 6, changed false)" test "$rc" -eq 6 -a "$(echo "$out" | json_field changed)" = false
check "and prints the field that differs" grep -q "/spec/machine-config/mem_size_mib: " "$WORK/$name/diff"
check "the VM was left alone" kill -0 "$pid"
out=$("$FIREC_RUN" apply --replace --output json "$WORK/$name/vm2.json" 2>/dev/null); rc=$?
newpid=$(echo "$out" | json_field pid)
check "apply --replace: exit 0, changed true, a new process" test "$rc" -eq 0 -a "$(echo "$out" | json_field changed)" = true -a "$newpid" != "$pid"
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status"; }
check "the old process is gone" gone "$pid"

# --- post-boot operations -------------------------------------------------------
"$FIREC_RUN" pause "$name" 2>/dev/null
check "pause: status says paused" test "$(status_of "$name")" = paused
"$FIREC_RUN" resume "$name" 2>/dev/null
check "resume: status says running" test "$(status_of "$name")" = running
echo '{"latest": {"meta-data": {"instance-id": "i-e2e"}}}' >"$WORK/$name/mmds.json"
check "mmds put" "$FIREC_RUN" mmds put "$name" "$WORK/$name/mmds.json"
echo '{"latest": {"meta-data": {"zone": "z1"}}}' >"$WORK/$name/patch.json"
check "mmds patch" "$FIREC_RUN" mmds patch "$name" "$WORK/$name/patch.json"
check "metrics flush" "$FIREC_RUN" metrics flush "$name"
# A snapshot stores its drives' paths, and a manifest that loads one cannot list
# drives: snapshot a VM without drives (initrd only), as examples/snapshot-restore.yaml says.
if [ "$REAL" = 0 ]; then
  # Rate limiters and a new backing file after boot (real 1.5.1 guests cannot
  # activate devices here, so these run against the doubles only).
  check "update iface: new rx/tx rate limiters" "$FIREC_RUN" update "$name" iface eth0 \
    --rx-rate-limiter '{"bandwidth": {"size": 1000000, "refill_time": 100}}' --tx-rate-limiter '{"ops": {"size": 100, "refill_time": 1000}}'
  check "update drive: a new rate limiter" "$FIREC_RUN" update "$name" drive rootfs --rate-limiter '{"ops": {"size": 500, "refill_time": 1000}}'
  cp "$(head -1 "$WORK/$name/inputs")" "$WORK/$name/other.img"; chown 10001:10001 "$WORK/$name/other.img"
  check "update drive: a new backing file, staged into the jail" "$FIREC_RUN" update "$name" drive rootfs --path "$WORK/$name/other.img"
  check "update of an unknown drive is refused" sh -c "! '$FIREC_RUN' update '$name' drive nope --path '$WORK/$name/other.img' 2>/dev/null"
fi
if [ "$REAL" = 0 ]; then
  check "the API saw the MMDS patch (GET /mmds)" sh -c "curl -s --unix-socket '$("$FIREC_RUN" status -o json "$name" | json_field api_socket)' http://localhost/mmds | grep -q z1"
fi

# A snapshot of this VM, which has a root drive: restored below with snapshot.drives.
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/snap-drives.snap" --mem "$WORK/snap-drives.mem" 2>/dev/null
check "snapshot create of a VM with a drive" test -s "$WORK/snap-drives.snap"
# (its drive is other.img since the update above, with the doubles)
if [ "$REAL" = 0 ]; then rootfs=$WORK/$name/other.img
else rootfs=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["drives"][0]["path_on_host"])' "$WORK/$name/vm2.json"); fi

# --- stop, rm -------------------------------------------------------------------
"$FIREC_RUN" stop "$name" 2>/dev/null; rc=$?
check "stop exits 0 (got $rc)" test "$rc" -eq 0
check "status says exited" test "$(status_of "$name")" = exited
"$FIREC_RUN" rm "$name" 2>/dev/null; rc=$?
check "rm exits 0" test "$rc" -eq 0
check "nothing is left after stop + rm" clean_after "$name"
out=$("$FIREC_RUN" rm "$name" 2>&1); rc=$?
check "rm of an absent VM: exit 0, nothing to do" sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q 'nothing to remove'"

# --- snapshot create (after e2e-life is gone: one VM at a time) -----------------
mkdir -p "$WORK/snap"
prepare hello e2e-snapsrc
"$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); m["spec"]["balloon"]={"amount_mib": 16, "deflate_on_oom": True, "stats_polling_interval_s": 1}; json.dump(m, open(sys.argv[1],"w"))' "$WORK/e2e-snapsrc/vm.json"
"$FIREC_RUN" run -d -q "$WORK/e2e-snapsrc/vm.json" 2>/dev/null
"$FIREC_RUN" snapshot create e2e-snapsrc --snapshot "$WORK/snap/vm.snap" --mem "$WORK/snap/vm.mem" 2>"$WORK/$name/snap.err"; rc=$?
check "snapshot create exits 0 (got $rc)" test "$rc" -eq 0
check "the snapshot files land at the host paths, owned by root" test -s "$WORK/snap/vm.snap" -a -e "$WORK/snap/vm.mem" -a "$(stat -c %u "$WORK/snap/vm.snap")" = 0
check "and the VM runs again" test "$(status_of e2e-snapsrc)" = running
if [ "$REAL" = 0 ]; then
  check "balloon set" "$FIREC_RUN" balloon set e2e-snapsrc 32
  check "balloon stats prints the statistics" sh -c "'$FIREC_RUN' balloon stats e2e-snapsrc | grep -q target_mib"
fi
check "balloon set refuses a non-number" sh -c "! '$FIREC_RUN' balloon set e2e-snapsrc lots 2>/dev/null"
"$FIREC_RUN" rm e2e-snapsrc 2>/dev/null
check "rm of the snapshot's source VM leaves nothing" clean_after e2e-snapsrc
# --- a manifest that loads the snapshot ---------------------------------------
if true; then
  name=e2e-restore
  prepare snapshot-restore "$name"
  "$PYTHON3" - "$WORK/$name/vm.json" "$WORK/snap" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
s = m["spec"]["snapshot"]
s["snapshot_path"] = sys.argv[2] + "/vm.snap"
s["mem_backend"]["backend_path"] = sys.argv[2] + "/vm.mem"
json.dump(m, open(sys.argv[1], "w"))
PY
  printf '%s\n%s\n' "$WORK/snap/vm.snap" "$WORK/snap/vm.mem" >"$WORK/$name/inputs"; fingerprint "$WORK/$name" >"$WORK/$name/before"
  "$FIREC_RUN" run -d "$WORK/$name/vm.json" 2>"$WORK/$name/stderr"; rc=$?
  check "a manifest loading the snapshot starts (exit $rc)" test "$rc" -eq 0
  [ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/$name/stderr"
  check "it runs" test "$(status_of "$name")" = running
  "$FIREC_RUN" rm -f "$name" 2>/dev/null
  check "rm -f leaves nothing and the snapshot files unchanged" clean_after "$name"
fi

# --- a Uffd memory backend: the page-fault handler's socket is reached from the jail
# The handler listens on a host socket; Firecracker, chrooted, connects to it by
# its path in the jail, where firec-run linked (or bind-mounted) it.
name=e2e-uffd
prepare snapshot-restore "$name"
mkdir -p "$WORK/$name/uffd"
"$PYTHON3" - "$WORK/$name/vm.json" "$WORK/snap" "$WORK/$name/uffd/handler.sock" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
s = m["spec"]["snapshot"]
s["snapshot_path"] = sys.argv[2] + "/vm.snap"
s["mem_backend"] = {"backend_type": "Uffd", "backend_path": sys.argv[3]}
json.dump(m, open(sys.argv[1], "w"))
PY
printf '%s\n' "$WORK/snap/vm.snap" >"$WORK/$name/inputs"; fingerprint "$WORK/$name" >"$WORK/$name/before"
: >"$WORK/$name/uffd/handler.sock"
"$FIREC_RUN" run -d "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a Uffd backend_path that is not a socket is refused in preflight (exit $rc)" \
  sh -c "[ $rc -eq 3 ] && grep -q 'backend_path: .*handler.sock is not a Unix socket' '$WORK/$name/stderr'"
rm -f "$WORK/$name/uffd/handler.sock"
# handler.py SOCKET MODE OUT: accepts one connection, keeps what it was sent in OUT.
cat >"$WORK/$name/handler.py" <<'PY'
import os, socket, sys
path, mode, out = sys.argv[1], int(sys.argv[2], 8), sys.argv[3]
s = socket.socket(socket.AF_UNIX)
s.bind(path); os.chmod(path, mode); s.listen(1)
open(out + ".ready", "w").close()
c, _ = s.accept()
open(out + ".tmp", "wb").write(c.recv(65536))
os.rename(out + ".tmp", out)
PY
start_handler() { # start_handler MODE
  rm -f "$WORK/$name/uffd/handler.sock" "$WORK/$name/got" "$WORK/$name/got.ready"
  "$PYTHON3" "$WORK/$name/handler.py" "$WORK/$name/uffd/handler.sock" "$1" "$WORK/$name/got" & handler=$!
  for i in $(seq 100); do [ -e "$WORK/$name/got.ready" ] && break; sleep 0.05; done
}
if has_jailer; then
  start_handler 0755
  "$FIREC_RUN" run -d "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "a handler socket the VM's uid cannot write is refused in preflight, with the fix (exit $rc)" \
    sh -c "[ $rc -eq 3 ] && grep -q 'handler.sock must be readable and writable by the VM.s uid .*setfacl' '$WORK/$name/stderr'"
  check "and nothing is left" clean_after "$name"
  kill "$handler" 2>/dev/null; wait "$handler" 2>/dev/null
fi
if [ "$REAL" = 0 ]; then
  start_handler 0777
  "$FIREC_RUN" run -d "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "a snapshot whose memory a Uffd handler serves loads (exit $rc)" test "$rc" -eq 0
  [ $rc -eq 0 ] || tail -3 "$WORK/$name/stderr" | sed 's/^/#   /'
  # (the handler may still be writing what it got: a moment)
  for i in $(seq 100); do [ -e "$WORK/$name/got" ] && break; sleep 0.05; done
  check "Firecracker reached the handler through the jail and sent it the memory regions" grep -q base_host_virt_addr "$WORK/$name/got"
  "$FIREC_RUN" rm -f "$name" 2>/dev/null
  check "rm -f leaves nothing, and the handler's socket is still there" sh -c "test -S '$WORK/$name/uffd/handler.sock'" 
  check "... nothing else either" clean_after "$name"
  kill "$handler" 2>/dev/null; wait "$handler" 2>/dev/null
fi

# --- restoring a snapshot of a VM with drives: snapshot.drives stages them ------
name=e2e-restore2
prepare snapshot-restore "$name"
"$PYTHON3" - "$WORK/$name/vm.json" "$WORK" "$rootfs" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
s = m["spec"]["snapshot"]
s["snapshot_path"] = sys.argv[2] + "/snap-drives.snap"
s["mem_backend"]["backend_path"] = sys.argv[2] + "/snap-drives.mem"
s["drives"] = [{"drive_id": "rootfs", "path_on_host": sys.argv[3]}]
json.dump(m, open(sys.argv[1], "w"))
PY
printf '%s\n' "$WORK/snap-drives.snap" "$WORK/snap-drives.mem" >"$WORK/$name/inputs"; fingerprint "$WORK/$name" >"$WORK/$name/before"
# The snapshot names e2e-life's TAP, which firec-run made and removed with that
# VM: as for any restore, the TAPs the snapshot names must exist (this one the
# VM's uid may open; firec-run uses it as it is and leaves it).
snap_tap=$(tap_prefix e2e-life)0
ip tuntap add "$snap_tap" mode tap user 10001 group 10001
"$FIREC_RUN" run -d "$WORK/$name/vm.json" 2>"$WORK/$name/stderr"; rc=$?
check "a snapshot of a VM with a drive restores with snapshot.drives (exit $rc)" test "$rc" -eq 0
[ $rc -eq 0 ] || tail -5 "$WORK/$name/stderr" | sed 's/^/#   /'
check "it runs" test "$(status_of "$name")" = running
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm -f leaves nothing" clean_after "$name"
check "and the TAP the snapshot named, not the run's, is still there" sh -c "ip link show '$snap_tap' >/dev/null"
ip link delete "$snap_tap"

# --- kill ----------------------------------------------------------------------
name=e2e-kill
prepare hello "$name"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
"$FIREC_RUN" kill "$name" 2>/dev/null; rc=$?
check "kill exits 0 and the VM is gone" sh -c "[ $rc -eq 0 ] && [ \"\$('$FIREC_RUN' status -o json $name | \"$PYTHON3\" -c 'import json,sys; print(json.load(sys.stdin)[\"state\"])')\" = exited ]"
"$FIREC_RUN" rm "$name" 2>/dev/null
check "rm after kill leaves nothing" clean_after "$name"

# --- attached: stop from outside, the lock ------------------------------------
name=e2e-attached
prepare hello "$name"
"$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr" &
apid=$!
wait_running "$name"
"$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/second"; rc=$?
check "a second run of a name in use exits 4 (got $rc)" test "$rc" -eq 4
check "naming the holder's pid" grep -q "pid $apid" "$WORK/$name/second"
"$FIREC_RUN" stop "$name" 2>/dev/null; rc=$?
wait "$apid"; arc=$?
check "stop of an attached VM goes through its firec-run (stop $rc, firec-run $arc)" test "$rc" -eq 0 -a "$arc" -eq 0
check "which removes everything" clean_after "$name"

# --- tmux mode: the console in a tmux session named after the VM --------------
if command -v tmux >/dev/null; then
  name=e2e-tmux
  prepare hello "$name"
  "$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); m["spec"]["run"]["mode"]="tmux"; json.dump(m, open(sys.argv[1],"w"))' "$WORK/$name/vm.json"
  "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "run.mode tmux returns once the VM runs (exit $rc)" test "$rc" -eq 0
  check "in a tmux session named after the VM" tmux has-session -t "=$name"
  check "status says running" test "$(status_of "$name")" = running
  "$FIREC_RUN" stop "$name" 2>/dev/null
  for i in $(seq 100); do tmux has-session -t "=$name" 2>/dev/null || break; sleep 0.05; done
  check "stop ends the session and leaves nothing" sh -c "! tmux has-session -t '=$name' 2>/dev/null && [ -z \"\$(echo)\" ]"
  check "nothing is left" clean_after "$name"
fi

# --- the stop policy escalates when the guest ignores Ctrl+Alt+Del -------------
if [ "$REAL" = 0 ]; then
  name=e2e-escalate
  prepare hello "$name"
  FAKE_FC_IGNORE_CTRL_ALT_DEL=1 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
  start=$(date +%s%N)
  "$FIREC_RUN" stop "$name" 2>/dev/null; rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  check "a guest ignoring Ctrl+Alt+Del is killed after the policy's wait (exit $rc, ${ms} ms)" test "$rc" -eq 0 -a "$ms" -ge 1900 -a "$ms" -lt 8000
  "$FIREC_RUN" rm "$name" 2>/dev/null
  check "and removed cleanly" clean_after "$name"
fi

# --- a reused pid is not the VM -------------------------------------------------
name=e2e-reused
prepare hello "$name"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
"$FIREC_RUN" kill "$name" 2>/dev/null
sleep 300 & decoy=$!
"$PYTHON3" - "$FIREC_STATE_DIR/$name/state.json" "$decoy" <<'PY'
import json, sys
p, pid = sys.argv[1], int(sys.argv[2])
r = json.load(open(p)); r["pid"] = pid; r["phase"] = "running"   # the same pid, another start time
json.dump(r, open(p, "w"))
PY
check "a recorded pid now used by another process is not taken for the VM" test "$(status_of "$name")" = exited
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm does not kill that process" kill -0 "$decoy"
kill "$decoy"; wait "$decoy" 2>/dev/null
check "and removes the VM's leftovers" clean_after "$name"

# --- concurrency -----------------------------------------------------------------
name=e2e-race
prepare hello "$name"
for i in $(seq 20); do "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" >/dev/null 2>&1 & done
wait
running=$(our_pids "$name( |$)" | wc -l)
check "20 parallel runs of one name give exactly one VM (got $running)" test "$running" -eq 1
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# run shows each step as it comes, in the words `plan` uses (prose is built from
# the plan when shown, not stored in it).
prepare rootfs e2e-progress
"$FIREC_RUN" run -d "$WORK/e2e-progress/vm.json" 2>"$WORK/e2e-progress/stderr"; rc=$?
"$FIREC_RUN" plan --output json "$WORK/e2e-progress/vm.json" 2>/dev/null | "$PYTHON3" -c '
import json, sys
for s in json.load(sys.stdin)["steps"]:
    print("firec-run: %s: %s" % (s["id"], s["description"]))' >"$WORK/e2e-progress/expected"
grep -E '^firec-run: [a-z-]+\.[a-zA-Z0-9._-]+: ' "$WORK/e2e-progress/stderr" >"$WORK/e2e-progress/progress"
check "run -d (exit $rc) prints every step of the plan, in order, as plan describes it" \
  cmp -s "$WORK/e2e-progress/expected" "$WORK/e2e-progress/progress"
[ "$(wc -l <"$WORK/e2e-progress/progress")" -gt 10 ] || sed 's/^/#   /' "$WORK/e2e-progress/stderr"
"$FIREC_RUN" rm -f e2e-progress 2>/dev/null
check "and rm -f leaves nothing" clean_after e2e-progress

if [ "$REAL" = 1 ]; then
  skip "20 names in parallel give 20 running VMs" "real VMs run one at a time here"
  done_testing; exit 0
fi
for i in $(seq 20); do prepare hello "e2e-many$i" & done; wait
for i in $(seq 20); do "$FIREC_RUN" run -d -q "$WORK/e2e-many$i/vm.json" >/dev/null 2>&1 & done; wait
count=0; for i in $(seq 20); do [ "$(status_of "e2e-many$i")" = running ] && count=$((count + 1)); done
check "20 names in parallel give 20 running VMs (got $count)" test "$count" -eq 20
for i in $(seq 20); do "$FIREC_RUN" rm -f "e2e-many$i" >/dev/null 2>&1 & done; wait
left=0; for i in $(seq 20); do clean_after "e2e-many$i" >/dev/null || left=$((left + 1)); done
check "and rm of all 20 leaves nothing ($left with leftovers)" test "$left" -eq 0

# --- a chroot base that does not exist: refused in preflight, at its field --------------
if has_jailer; then
  name=e2e-nobase
  prepare hello "$name"
  "$PYTHON3" -c 'import json,sys; p=sys.argv[1]; m=json.load(open(p)); m["spec"]["jailer"]["chroot_base_dir"] = sys.argv[2]; json.dump(m, open(p, "w"), indent=1)' \
    "$WORK/$name/vm.json" "$WORK/no-such-base"
  "$FIREC_RUN" run -d "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "a chroot base that does not exist is refused in preflight (exit $rc)" test "$rc" -eq 3
  check "naming the file, line and column of spec.jailer.chroot_base_dir" \
    grep -q "vm.json:[0-9]*:[0-9]*: /spec/jailer/chroot_base_dir: the chroot base $WORK/no-such-base does not exist" "$WORK/$name/stderr"
  check "and it is not made" test ! -e "$WORK/no-such-base"
fi

# --- binaries that are not there: refused in preflight, at their fields ---------------
name=e2e-nobin
prepare hello "$name"
"$PYTHON3" -c 'import json,sys; p=sys.argv[1]; m=json.load(open(p)); m["spec"]["firecracker"]["binary"] = sys.argv[2]
if "jailer" in m["spec"]: m["spec"]["jailer"]["binary"] = sys.argv[2]
json.dump(m, open(p, "w"), indent=1)' "$WORK/$name/vm.json" "$WORK/no-such-binary"
"$FIREC_RUN" run -d "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a firecracker binary that does not exist is refused in preflight (exit $rc)" test "$rc" -eq 3
check "naming the file, line and column of spec.firecracker.binary" \
  grep -q "vm.json:[0-9]*:[0-9]*: /spec/firecracker/binary: firecracker binary $WORK/no-such-binary not found" "$WORK/$name/stderr"
if has_jailer; then
  check "and of spec.jailer.binary" \
    grep -q "vm.json:[0-9]*:[0-9]*: /spec/jailer/binary: jailer binary $WORK/no-such-binary not found" "$WORK/$name/stderr"
fi

done_testing
