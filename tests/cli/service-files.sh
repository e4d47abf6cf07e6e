#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What service managers run firec-run from (TAP): the systemd unit passes
# systemd-analyze verify and keeps the settings the stop policy relies on, and
# the Nomad job's kill settings outlast the stop policy.
: "${FIREC_RUN:?}" "${top_srcdir:?}" "${PYTHON3:?}"
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
work=$(mktemp -d "${TMPDIR:-/tmp}/firec-service.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

unit_in=$top_srcdir/data/systemd/firec@.service.in
nomad=$top_srcdir/examples/hello.nomad.hcl
# seconds "30s"|"1m"|"45": a duration in whole seconds.
seconds() {
  case $1 in *ms) echo 0 ;; *s) echo "${1%s}" ;; *m) echo $((${1%m} * 60)) ;; *) echo "$1" ;; esac
}
# The default bound on the whole stop policy, from the schema.
stop_timeout=$(seconds "$("$FIREC_RUN" schema | "$PYTHON3" -c '
import json, sys
print(json.load(sys.stdin)["properties"]["spec"]["properties"]["run"]["properties"]["stop_timeout"]["default"])')")
check "the schema's default stop_timeout is known ($stop_timeout s)" test "$stop_timeout" -gt 0

# --- systemd ------------------------------------------------------------------
setting() { sed -n "s/^$1=//p" "$unit_in"; }
check "Type=notify" test "$(setting Type)" = notify
check "NotifyAccess=main (firec-run, then firec-supervise: the same pid)" test "$(setting NotifyAccess)" = main
check "KillMode=mixed (SIGTERM to firec-run alone, not to Firecracker)" test "$(setting KillMode)" = mixed
stop=$(seconds "$(setting TimeoutStopSec)")
check "TimeoutStopSec ($stop s) outlasts the default stop policy ($stop_timeout s) and the teardown" \
  test "$stop" -ge $((stop_timeout + 10))
check "ExecStart runs the manifest attached: firec-run run FILE, no -d" \
  grep -qx 'ExecStart=@bindir@/firec-run run @sysconfdir@/firec/%i.yaml' "$unit_in"

if command -v systemd-analyze >/dev/null; then
  # The unit as installed, except that ExecStart names this build's firec-run
  # (verify checks that it is executable).
  sed -e "s|@bindir@|$(dirname "$FIREC_RUN")|g" -e 's|@sysconfdir@|/etc|g' "$unit_in" >"$work/firec@.service"
  for unit in "firec@.service" "firec@web-1.service"; do
    # Only what it says of this unit: the units it depends on are the host's.
    systemd-analyze verify --man=no "$work/$unit" >"$work/verify.out" 2>&1; rc=$?
    out=$(grep -e "$work" -e 'firec@' "$work/verify.out")
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify $unit: no complaint"
    else not_ok "systemd-analyze verify $unit: no complaint (exit $rc)"; printf '%s\n' "$out" | sed 's/^/#   /'; fi
  done
  # The check can fail: a misspelt value is reported.
  sed 's/^KillMode=mixed/KillMode=mixd/' "$work/firec@.service" >"$work/bad@.service"
  check "systemd-analyze verify reports a bad value" sh -c "systemd-analyze verify --man=no '$work/bad@.service' 2>&1 | grep -q mixd"
else
  ok "# SKIP systemd-analyze is not installed (Debian: systemd)"
fi

# --- Nomad --------------------------------------------------------------------
hcl() { sed -n "s/^ *$1 *= *\"\\(.*\\)\"/\\1/p" "$nomad"; }
check "Nomad: the raw_exec driver" test "$(hcl driver)" = raw_exec
check "Nomad: kill_signal = SIGTERM" test "$(hcl kill_signal)" = SIGTERM
kill_timeout=$(seconds "$(hcl kill_timeout)")
check "Nomad: kill_timeout ($kill_timeout s) outlasts the default stop policy ($stop_timeout s)" \
  test "$kill_timeout" -gt "$stop_timeout"
check "Nomad: it runs firec-run run on a manifest, attached" grep -q 'args *= \["run", "/etc/firec/hello.yaml"\]' "$nomad"

echo "1..$n"
