#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The fault matrix (TAP): for every step that `plan` lists for jailer-full, make
# that step fail, and send SIGINT and SIGTERM to firec-run as it starts; each time
# firec-run must exit with the documented code, name the step, and leave no
# process, no jail directory, no state, and the source files as they were.
. "$top_srcdir/tests/e2e/lib.sh"

name=e2e-fault
prepare jailer-full "$name" || { not_ok "prepared"; done_testing; exit 0; }
mapfile -t steps < <("$FIREC_RUN" plan --output json "$WORK/$name/vm.json" |
  "$PYTHON3" -c 'import json,sys; [print(s["id"], s.get("request", {}).get("method", "-"), s.get("request", {}).get("path", "-")) for s in json.load(sys.stdin)["steps"]]')
[ ${#steps[@]} -gt 10 ] || not_ok "plan lists the steps"

run_case() { # run_case WHAT EXPECTED_RC STEP ENV...
  local what=$1 want=$2 step=$3; shift 3
  env "$@" timeout 60 "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"
  local rc=$?
  if [ "$rc" -eq "$want" ] && grep -q -- "$step" "$WORK/$name/stderr" && clean_after "$name"; then
    ok "$what at $step: exit $rc, the step is named, nothing is left"
  else
    not_ok "$what at $step: exit $rc (want $want)"; head -5 "$WORK/$name/stderr" | sed 's/^/#   /'
    leftovers "$name" | sed 's/^/#   /'
    our_pids "$name( |$)" | xargs -r kill -KILL; rm -rf "$WORK/jail/"*/"$name" "$FIREC_STATE_DIR/$name"
  fi
}

for line in "${steps[@]}"; do
  read -r step method path <<<"$line"
  case $step in preflight.*) want=3 ;; *) want=1 ;; esac
  run_case "an injected failure" "$want" "$step" FIREC_TEST_FAULT="fail:$step"
  run_case "SIGINT" 1 "$step" FIREC_TEST_FAULT="SIGINT:$step"
  run_case "SIGTERM" 1 "$step" FIREC_TEST_FAULT="SIGTERM:$step"
  if [ "$REAL" = 0 ] && [ "$method" != - ]; then
    run_case "Firecracker answering 400" 1 "$step" FAKE_FC_FAIL_AT="$method $path"
    run_case "Firecracker crashing" 1 "$step" FAKE_FC_CRASH_AT="$method $path"
  fi
done
if [ "$REAL" = 0 ]; then
  run_case "Firecracker exiting at start" 1 "api.wait" FAKE_FC_EXIT_AT_START=1
fi

# A field newer than the binary (metrics.emit_id: 1.17, newer than every
# release tested): preflight says which field needs which version.
"$PYTHON3" -c 'import json, sys
p = sys.argv[1]; m = json.load(open(p)); m["spec"]["metrics"]["emit_id"] = True; json.dump(m, open(p, "w"))' "$WORK/$name/vm.json"
run_case "A field newer than Firecracker $FC_VERSION" 3 "preflight.binaries"
if grep -q "is version $FC_VERSION, but the manifest needs at least 1.17: .*metrics/emit_id" "$WORK/$name/stderr"; then
  ok "... the error names the version needed and the field that needs it"
else
  not_ok "... the error names the version needed and the field that needs it"; head -5 "$WORK/$name/stderr" | sed 's/^/#   /'
fi

# Files the jail's uid may not use: preflight names each, with the fix, and no
# file is touched (the drive's owner and mode stay as they were).
if ! has_jailer; then
  skip "A drive the VM's uid cannot write" "no jailer in this release"; done_testing; exit 0
fi
drive=$("$PYTHON3" -c 'import json, sys
p = sys.argv[1]; m = json.load(open(p)); del m["spec"]["metrics"]["emit_id"]
d = m["spec"]["drives"][0]; d["is_read_only"] = False; m["spec"]["staging"]["drives"][d["drive_id"]] = "auto"
json.dump(m, open(p, "w")); print(d["path_on_host"])' "$WORK/$name/vm.json")
mode=$(stat -c %a "$drive"); owner=$(stat -c %u:%g "$drive")
chown 0:0 "$drive"; chmod 0600 "$drive"
fingerprint "$WORK/$name" >"$WORK/$name/before"
run_case "A drive the VM's uid cannot write" 3 "preflight.sources"
if grep -q "must be readable and writable by the VM's uid" "$WORK/$name/stderr" && grep -q "setfacl -m u:" "$WORK/$name/stderr"; then
  ok "... the error says who must be able to do what, and how to fix it"
else
  not_ok "... the error says who must be able to do what, and how to fix it"; head -5 "$WORK/$name/stderr" | sed 's/^/#   /'
fi
chown "$owner" "$drive"; chmod "$mode" "$drive"; fingerprint "$WORK/$name" >"$WORK/$name/before"
done_testing
