#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# JSON results (TAP): every command with --output json, on each exit status it
# can end with, prints exactly one object on stdout that
# schemas/firec-result.v1.schema.json accepts, whose error agrees with the exit
# status (tests/e2e/check-result.py); usage errors, invalid manifests (with
# their diagnostics), preflight failures, locks and runtime failures included.
. "$top_srcdir/tests/e2e/lib.sh"
"$PYTHON3" -c 'import jsonschema' 2>/dev/null || skip_all "python3-jsonschema is not installed"
SCHEMA=$top_srcdir/schemas/firec-result.v1.schema.json

# result WANT_STATUS COMMAND ARGS...: runs firec-run ARGS... and checks its
# exit status and its result (COMMAND: the result's command).
result() {
  local want=$1 command=$2 rc problems; shift 2
  "$FIREC_RUN" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null; rc=$?
  problems=$("$PYTHON3" "$top_srcdir/tests/e2e/check-result.py" "$SCHEMA" "$command" "$rc" "$WORK/out")
  if [ "$rc" -eq "$want" ] && [ -z "$problems" ]; then ok "$* -> exit $rc, one valid result"
  else
    not_ok "$* -> exit $rc (wanted $want), one valid result"
    printf '%s\n' "$problems" | sed 's/^/#   /'; head -c 600 "$WORK/err" | sed 's/^/#   stderr: /'
  fi
}
field() { "$PYTHON3" -c 'import json,sys; r=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): r = r[int(k)] if isinstance(r, list) else r[k]
print(json.dumps(r) if not isinstance(r, str) else r)' "$WORK/out" "$1"; }
# hold_lock NAME SECONDS: a process that holds the VM's lock, as a firec-run
# would (its pid in the file), for SECONDS; prints its pid.
hold_lock() {
  "$PYTHON3" -c '
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.ftruncate(fd, 0); os.write(fd, b"%d\n" % os.getpid())
print("held", flush=True)
time.sleep(float(sys.argv[2]))' "$FIREC_STATE_DIR/$1.lock" "$2" >"$WORK/held" &
  local pid=$! i=0
  while ! grep -q held "$WORK/held" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  echo "$pid"
}

name=e2e-json
prepare mmds "$name"
vm=$WORK/$name/vm.json
"$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); m["spec"]["balloon"]={"amount_mib": 16, "deflate_on_oom": True, "stats_polling_interval_s": 1}; json.dump(m, open(sys.argv[1],"w"))' "$vm"
mkdir -p "$FIREC_STATE_DIR" && chmod 0700 "$FIREC_STATE_DIR"
printf 'apiVersion: firec/v1alpha1\nkind: MicroVM\nmetadata: {name: bad}\nspec:\n  machine-config: {vcpu_count: many}\n' >"$WORK/bad.yaml"

# --- before the VM exists ------------------------------------------------------
result 2 no-such-command no-such-command --output json
result 2 run run --no-such-option --output json "$vm"
result 2 run run --output json "$WORK/bad.yaml"
check "an invalid manifest's result carries its diagnostics (file, line, column, path)" "$PYTHON3" -c '
import json, sys
d = json.load(open(sys.argv[1]))["error"]["diagnostics"]
sys.exit(not any(x["path"] == "/spec/machine-config/vcpu_count" and (x["line"], x["column"]) == (5, 32)
                 and x["file"].endswith("bad.yaml") for x in d))' "$WORK/out"
result 2 run run --output json "$vm"   # attached: stdout is the console
result 2 validate validate --output json "$WORK/bad.yaml"
result 0 validate validate --output json "$vm"
result 2 plan plan --output json "$WORK/bad.yaml"
result 2 render render --output json "$WORK/bad.yaml"
result 2 apply apply --output json --bogus "$vm"
result 2 apply apply --lock-timeout soon --output json "$vm"
result 2 apply apply --output json "$WORK/bad.yaml"
result 1 diff diff --output json "$vm"
check "diff of an absent VM: differs, apply would start it" test "$(field action)" = start -a "$(field differs)" = true
result 2 diff diff --output json "$WORK/bad.yaml"
result 1 status status --output json "$name"
result 2 status status --output json "bad name!"
result 0 ps ps --output json
for c in pause resume "metrics flush" "balloon stats"; do
  # shellcheck disable=SC2086
  result 1 ${c%% *} $c --output json "$name"
done
result 1 snapshot snapshot create --output json "$name" --snapshot "$WORK/s.snap" --mem "$WORK/s.mem"
result 0 stop stop --output json "$name"
check "stop of an absent VM: changed false" test "$(field changed)" = false
result 0 kill kill --output json "$name"
result 0 rm rm --output json "$name"
check "rm of an absent VM: changed false, action none" test "$(field changed)/$(field action)" = false/none

# preflight (a missing kernel), a runtime failure rolled back, a lock
kernel=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["boot-source"]["kernel_image_path"])' "$vm")
mv "$kernel" "$kernel.away"
result 3 run run -d --output json "$vm"
result 3 apply apply --output json "$vm"
mv "$kernel.away" "$kernel"
FIREC_TEST_FAULT=fail:api.put.machine-config result 1 run run -d --output json "$vm"
FIREC_TEST_FAULT=fail:api.put.machine-config result 1 apply apply --output json "$vm"
nothing_at_all() { [ ! -e "$FIREC_STATE_DIR/$1.lock" ] && clean_after "$1"; }
check "a failed start rolled back leaves nothing, no lock file either" nothing_at_all "$name"
holder=$(hold_lock "$name" 30)
result 4 run run -d --output json "$vm"
result 4 apply apply --output json "$vm"
kill "$holder"; wait "$holder" 2>/dev/null
rm -f "$FIREC_STATE_DIR/$name.lock"

# --- a running VM --------------------------------------------------------------
result 0 run run -d --output json "$vm"
check "run -d: changed true, action start, a pid" test "$(field changed)/$(field action)" = true/start -a -n "$(field pid)"
result 0 status status --output json "$vm"
result 0 ps ps --output json
result 0 apply apply --output json "$vm"
result 0 apply apply --check --diff --output json "$vm"
result 0 diff diff --output json "$vm"
result 4 run run -d --output json "$vm"   # already running
check "already running: the remedy is \`firec-run stop NAME\`, as argv" \
  test "$(field error.remedy.kind)/$(field error.remedy.argv)" = "stop/[\"firec-run\", \"stop\", \"$name\"]"
check "and standard error says it on a line of its own" grep -qx "firec-run: \`firec-run stop $name\` stops it, .*" "$WORK/err"
result 2 pause pause --output json
result 0 pause pause --output json "$name"
result 1 diff diff --output json "$vm"
result 0 resume resume --output json "$name"
echo '{"a": 1}' >"$WORK/mmds.json"
result 0 mmds mmds put --output json "$name" "$WORK/mmds.json"
result 0 mmds mmds patch --output json "$name" "$WORK/mmds.json"
result 2 mmds mmds put --output json "$name" "$WORK/no-such.json"
result 2 balloon balloon set --output json "$name" lots
result 2 update update --output json "$name" iface eth0 --rx-rate-limiter 'nope'
result 2 update update --output json "$name" disk x
result 0 metrics metrics flush --output json "$name"
if [ "$REAL" = 0 ]; then
  # (a real guest here never activates its balloon or network device)
  result 0 balloon balloon set --output json "$name" 32
  result 0 balloon balloon stats --output json "$name"
  check "balloon stats: the statistics in the result" test "$(field statistics.target_mib)" = 32
  result 0 update update --output json "$name" iface eth0 --rx-rate-limiter '{"ops": {"size": 10, "refill_time": 100}}'
fi
result 0 apply apply --output json "$vm"   # converges what the commands above changed
check "apply after those: action update" test "$(field action)" = update
"$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); m["spec"]["machine-config"]["vcpu_count"]=2; json.dump(m, open(sys.argv[2],"w"))' "$vm" "$WORK/vm2.json"
result 6 apply apply --output json "$WORK/vm2.json"
result 6 apply apply --check --output json "$WORK/vm2.json"
result 1 diff diff --output json "$WORK/vm2.json"
result 2 snapshot snapshot create --output json "$name"
: >"$WORK/taken.snap"
result 3 snapshot snapshot create --output json "$name" --snapshot "$WORK/taken.snap" --mem "$WORK/s.mem"
result 0 snapshot snapshot create --output json "$name" --snapshot "$WORK/s.snap" --mem "$WORK/s.mem"
holder=$(hold_lock "$name" 30)
result 4 stop stop --output json "$name"
result 4 kill kill --output json "$name"
result 4 rm rm --output json "$name"
result 4 apply apply --output json "$vm"
kill -0 "$holder" 2>/dev/null
check "the lock's holder (an operation on a detached VM) was waited for, not signalled" test $? -eq 0
kill "$holder"; wait "$holder" 2>/dev/null
result 0 stop stop --output json "$name"
check "stop: changed true, action stop" test "$(field changed)/$(field action)" = true/stop
result 1 status status --output json "$name"
check "a stopped VM's status: the remedy is rm" test "$(field remedy.argv)" = "[\"firec-run\", \"rm\", \"$name\"]"
result 0 rm rm --output json "$name"
check "rm: changed true, action remove" test "$(field changed)/$(field action)" = true/remove
check "nothing is left" clean_after "$name"

# A damaged record: diff cannot compare (3), apply cannot decide (3).
mkdir -p "$FIREC_STATE_DIR/$name" && echo '{' >"$FIREC_STATE_DIR/$name/state.json"
result 3 diff diff --output json "$vm"
result 3 apply apply --output json "$vm"
result 1 status status --output json "$name"
check "a damaged VM's status: state damaged, the remedy rm" test "$(field state)/$(field remedy.kind)" = damaged/remove
result 1 stop stop --output json "$name"
check "stopping a damaged VM: the remedy is rm -f" \
  test "$(field error.remedy.argv)" = "[\"firec-run\", \"rm\", \"-f\", \"$name\"]"
"$FIREC_RUN" rm "$name" 2>/dev/null

# --help prints help, never a result.
out=$("$FIREC_RUN" apply --help --output json)
check "apply --help --output json: the help, no result" test "${out:0:6}" = Usage:
done_testing
