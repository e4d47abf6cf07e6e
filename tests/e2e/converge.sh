#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Convergence (TAP): `diff` and `apply` against a VM as it runs. diff's exit
# status (0 as wanted, 1 differs, 2 or more trouble) and its field paths;
# apply --check changes nothing; a paused VM resumed; drift made outside apply
# (pause, mmds put, update drive) seen from Firecracker's own answers; each
# field Firecracker changes on a running VM updated in place (same VMM, the new
# value in GET /vm/config or GET /mmds) and applying the same manifest again
# then changing nothing; a change only a restart makes refused (exit 6, with
# the differences) and then done with --replace; an ended VM cleaned up and
# started; an attached VM updated through its supervisor's lock; and two
# applies of one VM at once: one waits (--lock-timeout), one gets exit 4.
. "$top_srcdir/tests/e2e/lib.sh"
[ "$REAL" = 0 ] || skip_all "the live updates need a guest that activates its devices (balloon); the doubles only"

F=$FIREC_RUN
# j FILE EXPR: a Python expression over the JSON in FILE (r), printed.
j() { "$PYTHON3" -c 'import json,sys; r=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(json.dumps(v) if not isinstance(v, str) else v)' "$@"; }
# edit IN OUT PYTHON: OUT is IN (a manifest) after PYTHON ran on m.
edit() { "$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); exec(sys.argv[3]); json.dump(m, open(sys.argv[2],"w"))' "$@"; }
# api NAME PATH: GET PATH from the VM's API socket, as the test sees Firecracker.
api() {
  local sock; sock=$("$F" status -o json "$1" | j /dev/stdin 'r["api_socket"]')
  "$PYTHON3" - "$sock" "$2" <<'PY'
import http.client, socket, sys
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
c = C("localhost"); c.request("GET", sys.argv[2]); print(c.getresponse().read().decode())
PY
} 2>/dev/null
apply_json() { "$F" apply --output json "$@" >"$WORK/out.json" 2>"$WORK/err"; }
res() { j "$WORK/out.json" "$1"; }
diff_paths() { j "$WORK/out.json" '" ".join(d["path"] + ":" + d["reconcile"] for d in r["diff"])'; }
changes() { grep -vc '"method":"GET"' "$WORK/requests" 2>/dev/null; }
fingerprint_state() { cat "$FIREC_STATE_DIR/$1/state.json" "$FIREC_STATE_DIR/$1/manifest.json" | sha256sum; }

name=e2e-conv
prepare mmds "$name"
vm=$WORK/$name/vm.json
edit "$vm" "$vm" 'm["spec"]["balloon"] = {"amount_mib": 16, "deflate_on_oom": True, "stats_polling_interval_s": 1}'
rootfs=$(j "$vm" 'r["spec"]["drives"][0]["path_on_host"]')
# Every request Firecracker (the double, as the jail's uid) gets, one JSON line each.
export FAKE_FC_REQUEST_LOG=$WORK/requests
: >"$FAKE_FC_REQUEST_LOG"; chmod 0666 "$FAKE_FC_REQUEST_LOG"

# --- diff and apply of an absent VM --------------------------------------------
"$F" diff "$vm" >"$WORK/diff.txt" 2>&1; rc=$?
check "diff of an absent VM exits 1" test "$rc" -eq 1
check "and says /status/state: absent -> running" grep -q '/status/state: "absent" -> "running" (state)' "$WORK/diff.txt"
"$F" apply --check --output json "$vm" >"$WORK/out.json"; rc=$?
check "apply --check of an absent VM: exit 0, action start, changed true" test "$rc/$(res 'r["action"]')/$(res 'r["changed"]')" = 0/start/true
check "and it starts nothing" test "$("$F" status -o json "$name" | j /dev/stdin 'r["state"]')" = absent
check "nor leaves anything in the state directory" test -z "$(ls -A "$FIREC_STATE_DIR" 2>/dev/null)"
apply_json "$vm"; rc=$?
pid=$(res 'r["pid"]')
check "apply starts it: exit 0, changed true, action start" test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')" = 0/true/start
"$F" diff --output json "$vm" >"$WORK/out.json"; rc=$?
check "diff of the running VM: exit 0, no differences" test "$rc/$(res 'len(r["diff"])')" = 0/0
apply_json "$vm"; rc=$?
check "apply again: exit 0, changed false, action none, same pid" \
  test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')/$(res 'r["pid"]')" = "0/false/none/$pid"

# --- drift made outside apply ---------------------------------------------------
"$F" pause "$name" 2>/dev/null
"$F" diff --output json "$vm" >"$WORK/out.json"; rc=$?
check "paused: diff exits 1 with /status/state (state, from GET /)" \
  test "$rc/$(diff_paths)/$(res 'r["diff"][0]["actual"]')/$(res 'r["diff"][0]["source"]')" = "1//status/state:state/paused/vm"
before=$(fingerprint_state "$name"); calls=$(changes)
apply_json --check "$vm"; rc=$?
check "apply --check: exit 0, changed true, action resume" test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')" = 0/true/resume
check "apply --check changed nothing: still paused, same pid, same record, no call but GETs" \
  test "$("$F" status -o json "$name" | j /dev/stdin 'r["state"]+str(r["pid"])')/$(fingerprint_state "$name")/$(changes)" = "paused$pid/$before/$calls"
apply_json "$vm"; rc=$?
check "apply resumes it: changed true, action resume, same pid" test "$rc/$(res 'r["action"]')/$(res 'r["pid"]')" = "0/resume/$pid"
check "and it runs" test "$("$F" status -o json "$name" | j /dev/stdin 'r["state"]')" = running

echo '{"latest": {"meta-data": {"hostname": "changed-by-hand"}}}' >"$WORK/mmds.json"
"$F" mmds put "$name" "$WORK/mmds.json" 2>/dev/null
"$F" update "$name" drive rootfs --rate-limiter '{"ops": {"size": 500, "refill_time": 1000}}' 2>/dev/null
"$F" diff --output json "$vm" >"$WORK/out.json"; rc=$?
check "mmds put and update drive outside apply: diff exits 1, both fields live" \
  test "$rc/$(diff_paths)" = "1//spec/drives/0/rate_limiter:live /spec/mmds/data:live"
check "seen from GET /vm/config and GET /mmds" test "$(res '" ".join(d["source"] for d in r["diff"])')" = "vm/config mmds"
apply_json "$vm"; rc=$?
check "apply converges them: action update, same pid" test "$rc/$(res 'r["action"]')/$(res 'r["pid"]')" = "0/update/$pid"
check "GET /mmds has the manifest's data again" sh -c "'$PYTHON3' -c 'import json,sys; sys.exit(json.loads(sys.argv[1])[\"latest\"][\"meta-data\"][\"hostname\"] != \"mmds-demo\")' '$(api "$name" /mmds)'"
check "GET /vm/config: the drive limits nothing again" test "$(api "$name" /vm/config | j /dev/stdin '[(b or {}).get("size", 0) for b in ((r["drives"][0]["rate_limiter"] or {}).values())]' | tr -d ' ')" != "[500]"
"$F" diff "$vm" >/dev/null 2>&1
check "diff: as wanted" test $? -eq 0

# --- each live field, in place ---------------------------------------------------
cp "$rootfs" "$WORK/$name/other.img"; chown 10001:10001 "$WORK/$name/other.img"
live_case() { # DESCRIPTION PYTHON-EDIT GET-PATH PYTHON-CHECK-OF-THE-ANSWER
  local what=$1 next=$WORK/$name/next.json
  edit "$vm" "$next" "$2"
  apply_json "$next"; rc=$?
  check "$what: exit 0, changed true, action update, same pid" \
    test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')/$(res 'r["pid"]')" = "0/true/update/$pid"
  [ "$rc" -eq 0 ] || sed 's/^/#   /' "$WORK/err"
  api "$name" "$3" >"$WORK/answer.json"
  check "$what: GET $3 shows it" test "$(j "$WORK/answer.json" "$4")" = true
  apply_json "$next"; rc=$?
  check "$what: the same manifest again changes nothing" test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')" = 0/false/none
  cp "$next" "$vm"
}
live_case "drive rate_limiter" 'm["spec"]["drives"][0]["rate_limiter"] = {"bandwidth": {"size": 1048576, "refill_time": 100}}' \
  /vm/config 'r["drives"][0]["rate_limiter"]["bandwidth"]["size"] == 1048576'
live_case "drive path_on_host" "m['spec']['drives'][0]['path_on_host'] = '$WORK/$name/other.img'" \
  /vm/config 'r["drives"][0]["path_on_host"].endswith("/other.img")'
check "the stored manifest names the new file" grep -q other.img "$FIREC_STATE_DIR/$name/manifest.json"
live_case "interface rate limiters" 'm["spec"]["network-interfaces"][0]["rx_rate_limiter"] = {"ops": {"size": 100, "refill_time": 1000}}; m["spec"]["network-interfaces"][0]["tx_rate_limiter"] = {"bandwidth": {"size": 4096, "refill_time": 10}}' \
  /vm/config 'r["network-interfaces"][0]["rx_rate_limiter"]["ops"]["size"] == 100 and r["network-interfaces"][0]["tx_rate_limiter"]["bandwidth"]["size"] == 4096'
live_case "balloon amount_mib" 'm["spec"]["balloon"]["amount_mib"] = 48' /vm/config 'r["balloon"]["amount_mib"] == 48'
live_case "balloon stats_polling_interval_s" 'm["spec"]["balloon"]["stats_polling_interval_s"] = 5' \
  /vm/config 'r["balloon"]["stats_polling_interval_s"] == 5'
live_case "MMDS data" 'm["spec"]["mmds"]["data"]["latest"]["meta-data"]["hostname"] = "renamed"' \
  /mmds 'r["latest"]["meta-data"]["hostname"] == "renamed"'
live_case "a rate limiter taken away" 'del m["spec"]["drives"][0]["rate_limiter"]' \
  /vm/config 'not any(b and b.get("size") and b.get("refill_time") for b in (r["drives"][0]["rate_limiter"] or {}).values())'
calls=$(changes)
edit "$vm" "$WORK/$name/labels.json" 'm["metadata"]["labels"] = {"team": "edge"}'
apply_json "$WORK/$name/labels.json"; rc=$?
check "a label: action update, changed true, no call to Firecracker" \
  test "$rc/$(res 'r["action"]')/$(res 'r["changed"]')/$(changes)" = "0/update/true/$calls"
cp "$WORK/$name/labels.json" "$vm"

# --- what only a restart changes -------------------------------------------------
edit "$vm" "$WORK/$name/stats-off.json" 'm["spec"]["balloon"]["stats_polling_interval_s"] = 0'
"$F" diff --output json "$WORK/$name/stats-off.json" >"$WORK/out.json"
check "balloon statistics switched off: restart, with the reason" \
  test "$(diff_paths)/$(res '"on or off" in r["diff"][0]["note"]')" = "/spec/balloon/stats_polling_interval_s:restart/true"
mkdir -p "$WORK/$name/elsewhere"; cp "$rootfs" "$WORK/$name/elsewhere/other.img"; chown 10001:10001 "$WORK/$name/elsewhere/other.img"
edit "$vm" "$WORK/$name/same-name.json" "m['spec']['drives'][0]['path_on_host'] = '$WORK/$name/elsewhere/other.img'"
"$F" diff --output json "$WORK/$name/same-name.json" >"$WORK/out.json"
check "another file of the name the jail has: restart, with the reason" \
  test "$(diff_paths)/$(res '"another name" in r["diff"][0]["note"]')" = "/spec/drives/0/path_on_host:restart/true"

edit "$vm" "$WORK/$name/bigger.json" 'm["spec"]["machine-config"]["mem_size_mib"] += 128; m["spec"]["balloon"]["amount_mib"] = 8'
"$F" diff "$WORK/$name/bigger.json" >"$WORK/diff.txt" 2>&1; rc=$?
check "diff of a bigger VM: exit 1, the field's path and how" \
  sh -c "[ $rc -eq 1 ] && grep -q '/spec/machine-config/mem_size_mib: 256 -> 384 (restart)' '$WORK/diff.txt' && grep -q '/spec/balloon/amount_mib: 48 -> 8 (live)' '$WORK/diff.txt'"
apply_json "$WORK/$name/bigger.json"; rc=$?
check "apply refuses it: exit 6, changed false, action replace" \
  test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')/$(res 'r["error"]["exit_code"]')" = "6/false/replace/6"
check "with the differences in the JSON" test "$(diff_paths)" = "/spec/balloon/amount_mib:live /spec/machine-config/mem_size_mib:restart"
check "and nothing was changed (same pid, balloon still 48)" \
  test "$(api "$name" /vm/config | j /dev/stdin 'r["balloon"]["amount_mib"]')/$("$F" status -o json "$name" | j /dev/stdin 'r["pid"]')" = "48/$pid"
apply_json --check "$WORK/$name/bigger.json"; rc=$?
check "apply --check says the same: exit 6" test "$rc/$(res 'r["action"]')" = 6/replace
apply_json --check --replace "$WORK/$name/bigger.json"; rc=$?
check "apply --check --replace: exit 0, changed true, action replace, the VM untouched" \
  test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')/$("$F" status -o json "$name" | j /dev/stdin 'r["pid"]')" = "0/true/replace/$pid"
apply_json --replace "$WORK/$name/bigger.json"; rc=$?
newpid=$(res 'r["pid"]')
check "apply --replace: exit 0, changed true, action replace, a new VMM" \
  test "$rc/$(res 'r["changed"]')/$(res 'r["action"]')" = 0/true/replace -a "$newpid" != "$pid"
check "the old VMM is gone" sh -c "[ ! -e /proc/$pid ] || grep -q '^State:[[:space:]]*[ZX]' /proc/$pid/status"
check "the new one has the bigger memory" test "$(api "$name" /vm/config | j /dev/stdin 'r["machine-config"]["mem_size_mib"]')" = 384
apply_json "$WORK/$name/bigger.json"
check "and applying it again changes nothing" test "$(res 'r["changed"]')/$(res 'r["action"]')" = false/none

# --- an ended VM ------------------------------------------------------------------
"$F" stop "$name" 2>/dev/null
apply_json "$WORK/$name/bigger.json"; rc=$?
check "apply of a stopped VM: exit 0, action start, a new VMM" \
  test "$rc/$(res 'r["action"]')/$(res 'r["changed"]')" = 0/start/true -a "$(res 'r["pid"]')" != "$newpid"
"$F" diff "$WORK/$name/bigger.json" >/dev/null 2>&1
check "diff: as wanted" test $? -eq 0
"$F" diff "$WORK/no-such.yaml" >/dev/null 2>&1; rc=$?
check "diff of a manifest that is not there: exit 2" test "$rc" -eq 2
"$F" rm "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# --- an attached VM: its supervisor holds the lock ----------------------------------
"$F" run -q "$vm" </dev/null >/dev/null 2>&1 &
runner=$!
wait_running "$name"
apply_json "$vm"; rc=$?
check "apply of an attached VM as wanted: exit 0, changed false" test "$rc/$(res 'r["changed"]')" = 0/false
pid=$(res 'r["pid"]')
edit "$vm" "$WORK/$name/att.json" 'm["spec"]["balloon"]["amount_mib"] = 24'
apply_json "$WORK/$name/att.json"; rc=$?
check "a live change of an attached VM: exit 0, action update, same pid" test "$rc/$(res 'r["action"]')/$(res 'r["pid"]')" = "0/update/$pid"
"$F" stop "$name" 2>/dev/null
wait "$runner"
check "stopped, its firec-run removed everything" clean_after "$name"

# --- two applies at once ------------------------------------------------------------
# The first start is slow (the API socket comes late): the second apply waits
# for its lock, the third does not.
FAKE_FC_SOCKET_DELAY_MS=1500 "$F" apply --output json "$vm" >"$WORK/a.json" 2>/dev/null &
first=$!
i=0; while [ ! -e "$FIREC_STATE_DIR/$name/state.json" ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i + 1)); done
"$F" apply --output json "$vm" >"$WORK/c.json" 2>/dev/null; crc=$?
"$F" apply --lock-timeout 30 --output json "$vm" >"$WORK/b.json" 2>/dev/null; brc=$?
wait "$first"; arc=$?
check "the first apply starts it" test "$arc/$(j "$WORK/a.json" 'r["action"]')" = 0/start
check "one without --lock-timeout: exit 4 at once, with its JSON" \
  test "$crc/$(j "$WORK/c.json" 'r["error"]["exit_code"]')/$(j "$WORK/c.json" 'r["changed"]')" = 4/4/false
check "one with --lock-timeout waits, then finds it as wanted (same pid)" \
  test "$brc/$(j "$WORK/b.json" 'r["changed"]')/$(j "$WORK/b.json" 'r["pid"]')" = "0/false/$(j "$WORK/a.json" 'r["pid"]')"
"$F" rm -f "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"
done_testing
