#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Figure 1: start latency of examples/rootfs.yaml, from exec until InstanceStart
# is acknowledged and GET / says Running, against two baselines built from the
# same manifest, measured pair by pair in the same run:
#   floor:   jailer + firecracker --no-api --config-file (render --firecracker-config),
#            until firecracker logs that the microVM started;
#   by hand: Firecracker's getting-started steps as a script: hard links, the
#            jailer, poll for the socket, one curl per PUT, InstanceStart.
. "$(dirname "$0")/lib.sh"
prepare rootfs bench-start || exit 1
sync # the copies prepare made are not to be written back during the first rounds
m=$WORK/bench-start/vm.json
name=bench-start
exec_name=$(basename "$FC")
jail=$WORK/jail/$exec_name/$name
uid=10001
# The example's tap, and one per baseline: a tap stays busy for a moment after
# the VM that had it exits, so back-to-back starts must not share one.
bench_tap tap0 tap1 tap2

"$FIREC_RUN" render --firecracker-config "$m" >"$WORK/config.json" 2>/dev/null
sed 's/"tap0"/"tap1"/' "$WORK/config.json" >"$WORK/floor-config.json"
sed 's/"tap0"/"tap2"/' "$WORK/config.json" >"$WORK/hand-config.json"
files=$("$PYTHON3" -c 'import json,sys; [print(f["host_path"], f["vm_path"]) for f in json.load(open(sys.argv[1]))["x-firec-derived"]["files"]]' \
  <("$FIREC_RUN" render --output json "$m"))

stage_by_hand() { # the hard links, as the getting-started guide would
  mkdir -p "$jail/root"
  while read -r host vm; do mkdir -p "$jail/root$(dirname "$vm")"; ln "$host" "$jail/root$vm"; done <<<"$files"
  # The directories only: a chown of a hard link is the user's own file's, and
  # firec-run copies a read-only input the VM's uid owns (it could write it).
  find "$jail/root" -type d -exec chown $uid:$uid {} +
}
# Kills the baseline's VM and waits until it has really exited: its command line
# empties before its files (the tap) are closed, so pgrep alone says "gone" early.
cleanup_jail() {
  local pids p; pids=$(pgrep -f -- "--id $name( |$)")
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  for p in $pids; do
    while [ -e "/proc/$p" ] && ! grep -qs '^State:[[:space:]]*[ZX]' "/proc/$p/status"; do nap 0.002; done
  done
  rm -rf "$jail"
}

floor() {
  stage_by_hand; cp "$WORK/floor-config.json" "$jail/root/config.json"; chown $uid:$uid "$jail/root/config.json"
  rm -f "$WORK/$name.started" "$WORK/$name.log"
  sync # each start begins on a quiet disk: the last one's jail was just removed
  local t0 t1; t0=$(now_ns)
  floor_start $name
  if t1=$(floor_wait $name); then echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1 / 1000}' >>"$WORK/floor.ms"; fi
  cleanup_jail
}

by_hand() {
  sync
  local t0 t1 sock=$jail/root/run/firecracker.socket; t0=$(now_ns)
  stage_by_hand
  "$JAILER" --id $name --exec-file "$FC" --uid $uid --gid $uid --chroot-base-dir "$WORK/jail" -- \
    --api-sock /run/firecracker.socket >/dev/null 2>&1 & disown
  until [ -S "$sock" ]; do sleep 0.005; done
  "$PYTHON3" - "$WORK/hand-config.json" >"$WORK/puts" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
print("/machine-config", json.dumps(c["machine-config"]))
print("/boot-source", json.dumps(c["boot-source"]))
for d in c.get("drives", []): print("/drives/" + d["drive_id"], json.dumps(d))
for n in c.get("network-interfaces", []): print("/network-interfaces/" + n["iface_id"], json.dumps(n))
PY
  while read -r path body; do
    curl -sf --unix-socket "$sock" -X PUT "http://localhost$path" -H 'Content-Type: application/json' -d "$body" >/dev/null
  done <"$WORK/puts"
  curl -sf --unix-socket "$sock" -X PUT http://localhost/actions -d '{"action_type":"InstanceStart"}' >/dev/null
  curl -sf --unix-socket "$sock" http://localhost/ | grep -q Running
  t1=$(now_ns); echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1 / 1000}' >>"$WORK/hand.ms"
  cleanup_jail
}

firec() {
  sync
  local t0 t1; t0=$(now_ns)
  if "$FIREC_RUN" run -d -q "$m" >/dev/null 2>"$WORK/firec.err"; then
    t1=$(now_ns); echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1 / 1000}' >>"$WORK/firec.ms"
  else
    echo "firec-run failed (not counted):" >&2; cat "$WORK/firec.err" >&2
  fi
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
}

# Pair by pair: each round runs the three back to back, and the ratios are taken
# within a round (the host's speed drifts more between rounds than within one).
: >"$WORK/pairs"; : >"$WORK/floor.ms"; : >"$WORK/hand.ms"; : >"$WORK/firec.ms"
for i in $(seq "$RUNS"); do
  n0=$(wc -l <"$WORK/floor.ms"); n1=$(wc -l <"$WORK/hand.ms"); n2=$(wc -l <"$WORK/firec.ms")
  # Which of the two compared starts goes first alternates: the one right after a
  # teardown (a VM's memory and jail just freed) may meet a busier host.
  if [ $((i % 2)) -eq 1 ]; then floor; firec; else firec; floor; fi
  by_hand
  if [ "$(wc -l <"$WORK/floor.ms")" -gt "$n0" ] && [ "$(wc -l <"$WORK/hand.ms")" -gt "$n1" ] &&
    [ "$(wc -l <"$WORK/firec.ms")" -gt "$n2" ]; then
    echo "$(tail -1 "$WORK/floor.ms") $(tail -1 "$WORK/hand.ms") $(tail -1 "$WORK/firec.ms")" >>"$WORK/pairs"
  fi
done
echo "start latency ($KIND, examples/rootfs.yaml, $RUNS rounds of floor, by hand, firec-run)"
stats "floor (--no-api --config-file)" "$WORK/floor.ms"
stats "by hand (ln + jailer + curl)" "$WORK/hand.ms"
stats "firec-run run -d" "$WORK/firec.ms"
awk '{print $3 / $1}' "$WORK/pairs" >"$WORK/r-floor"; awk '{print $3 / $2}' "$WORK/pairs" >"$WORK/r-hand"
ratios() { sort -n "$1" | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2;
  printf "median %.3f  min %.3f  max %.3f  (%d rounds)", m, a[1], a[NR], NR}'; }
echo "ratio to floor,   round by round: $(ratios "$WORK/r-floor")  (target <= 1.10)"
echo "ratio to by hand, round by round: $(ratios "$WORK/r-hand")  (target <= 0.30)"
f=$(median "$WORK/firec.ms")
echo "ratio of the medians: $(ratio "$f" "$(median "$WORK/floor.ms")") to floor, $(ratio "$f" "$(median "$WORK/hand.ms")") to by hand"
