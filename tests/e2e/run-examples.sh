#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every example runs attached, reaches Running, is stopped by SIGTERM through its
# stop policy, and leaves nothing behind (TAP).
. "$top_srcdir/tests/e2e/lib.sh"

i=0
for example in hello rootfs jailer-full mmds; do
  i=$((i + 1))
  name=e2e-ex$i
  if ! prepare "$example" "$name"; then not_ok "$example: prepared"; continue; fi
  "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >"$WORK/$name/stdout" 2>"$WORK/$name/stderr" &
  pid=$!
  if wait_running "$name"; then ok "$example: firec-run run reaches Running"
  else not_ok "$example: firec-run run reaches Running"; sed 's/^/#   /' "$WORK/$name/stderr"; fi
  if [ "$REAL" = 1 ]; then
    # Firecracker's own view of the VM matches the manifest.
    sock=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["api_socket"])' "$FIREC_STATE_DIR/$name/state.json" 2>/dev/null)
    curl -s --unix-socket "$sock" http://localhost/vm/config >"$WORK/$name/vm-config.json"
    check "$example: GET /vm/config matches the manifest" "$PYTHON3" - "$WORK/$name/vm.json" "$WORK/$name/vm-config.json" <<'PY'
import json, sys
m, c = (json.load(open(p)) for p in sys.argv[1:3])
spec = m["spec"]
ok = c["machine-config"]["vcpu_count"] == spec["machine-config"]["vcpu_count"]
ok &= c["machine-config"]["mem_size_mib"] == spec["machine-config"]["mem_size_mib"]
ok &= sorted(d["drive_id"] for d in c["drives"]) == sorted(d["drive_id"] for d in spec.get("drives", []))
ok &= c["boot-source"]["boot_args"] == spec["boot-source"].get("boot_args", c["boot-source"]["boot_args"])
sys.exit(0 if ok else 1)
PY
  fi
  kill -TERM "$pid" 2>/dev/null
  wait "$pid"; rc=$?
  check "$example: SIGTERM stops it and firec-run exits 0 (got $rc)" test "$rc" -eq 0
  check "$example: nothing is left, the inputs are unchanged, earlier outputs moved aside unchanged" clean_after_run "$name"
done

# Attached firec-run becomes the small firec-supervise once the VM runs; a copy of
# firec-run that cannot find the helper supervises in-process, with the same result.
name=e2e-inproc
prepare hello "$name"
mkdir -p "$WORK/lonely"; cp "$FIREC_RUN" "$WORK/lonely/firec-run"
"$WORK/lonely/firec-run" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr" &
pid=$!
if wait_running "$name"; then ok "without the helper: it runs"; else not_ok "without the helper: it runs"; fi
check "and still supervises in the same process (no exec)" test "$(readlink "/proc/$pid/exe")" = "$WORK/lonely/firec-run"
kill -TERM "$pid"; wait "$pid"; rc=$?
check "SIGTERM stops it (exit $rc)" test "$rc" -eq 0
check "nothing is left" clean_after "$name"
name=e2e-helper
prepare hello "$name"
"$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1 &
pid=$!
wait_running "$name"; sleep 0.2
check "with the helper, the attached firec-run has become firec-supervise (same pid)" sh -c "readlink /proc/$pid/exe | grep -q firec-supervise"
kill -TERM "$pid"; wait "$pid"; rc=$?
check "SIGTERM to it stops the VM (exit $rc)" test "$rc" -eq 0
check "nothing is left" clean_after "$name"

# A failing start says which step failed and leaves nothing.
name=e2e-missing
prepare hello "$name"
"$PYTHON3" - "$WORK/$name/vm.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["spec"]["boot-source"]["kernel_image_path"] += ".missing"
json.dump(m, open(sys.argv[1], "w"))
PY
"$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a missing kernel is a host precondition (exit 3, got $rc)" test "$rc" -eq 3
check "the message names the file and the field" grep -q "kernel_image_path" "$WORK/$name/stderr"
check "nothing is left" clean_after "$name"

# Without CAP_KILL nothing could stop Firecracker once it runs as the VM's uid:
# preflight says so before anything starts.
if has_jailer && command -v setpriv >/dev/null; then
  name=e2e-nokill
  prepare hello "$name"
  setpriv --bounding-set=-kill --inh-caps=-kill "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null \
    2>"$WORK/$name/stderr"; rc=$?
  check "without CAP_KILL: a precondition failure (exit 3, got $rc)" test "$rc" -eq 3
  check "naming CAP_KILL and why" grep -q "missing capability CAP_KILL (firec-run signals Firecracker" "$WORK/$name/stderr"
  check "nothing is left" clean_after "$name"
fi

# A stale jail directory (without the jailer: run directory) is refused with
# the command that removes it: for a jail no record names, rm of the manifest
# (rm NAME finds jails without a record only under the default chroot base).
name=e2e-stale
prepare hello "$name"
if has_jailer; then stale=$WORK/jail/$(basename "$(readlink -f "$FC")")/$name want="firec-run rm $WORK/$name/vm.json"
else stale=$FIREC_STATE_DIR/$name want="firec-run rm $name"; fi
mkdir -p "$stale/root"
"$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a stale jail directory is a precondition failure (exit 3, got $rc)" test "$rc" -eq 3
check "the message gives the cleanup command" grep -q "$want" "$WORK/$name/stderr"
"$FIREC_RUN" ${want#firec-run } >/dev/null 2>&1
check "which removes it" test ! -e "$stale"

done_testing
