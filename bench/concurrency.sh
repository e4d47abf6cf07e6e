#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Figure 4: N VMs (50 by default) started at once in daemon mode all reach
# Running; wall time against N floor starts (jailer + --no-api --config-file) in
# parallel; then rm of all leaves nothing. FIREC_BENCH_ROUNDS rounds (4 by
# default), each round's ratio taken within it: with N VMs spinning on a few
# cores one round alone varies by tens of percent.
. "$(dirname "$0")/lib.sh"
N=${FIREC_BENCH_VMS:-50}
ROUNDS=${FIREC_BENCH_ROUNDS:-4}
for i in $(seq "$N"); do prepare hello "bench-c$i" & done; wait
exec_name=$(basename "$FC")
names() { for i in $(seq "$N"); do echo "$1$i"; done; }

# The floor's jails: the same N VMs from --config-file, staged by hard links
# (not timed, as in bench/start-latency.sh).
stage_floor() {
  local i d
  for i in $(seq "$N"); do
    d=$WORK/jail/$exec_name/bench-f$i/root; mkdir -p "$d"
    "$PYTHON3" -c 'import json,sys,os
for f in json.load(open(sys.argv[1]))["x-firec-derived"]["files"]:
    t = sys.argv[2] + f["vm_path"]; os.makedirs(os.path.dirname(t), exist_ok=True); os.link(f["host_path"], t)' \
      "$WORK/bench-c$i/rendered-derived.json" "$d" 2>/dev/null
    # The directories and the config only: a chown of a hard link is the user's
    # own file's, and firec-run copies a read-only input the VM's uid owns.
    cp "$WORK/c$i.json" "$d/config.json"; find "$d" -type d -exec chown 10001:10001 {} +; chown 10001:10001 "$d/config.json"
    rm -f "$WORK/bench-f$i.started" "$WORK/bench-f$i.log"
  done
}
for i in $(seq "$N"); do
  "$FIREC_RUN" render --firecracker-config "$WORK/bench-c$i/vm.json" >"$WORK/c$i.json" 2>/dev/null
  "$FIREC_RUN" render --output json "$WORK/bench-c$i/vm.json" >"$WORK/bench-c$i/rendered-derived.json" 2>/dev/null
done

run_firec() {
  sync # nothing from before (copies, removed jails) may be written back while timed
  local t0 t1 i; t0=$(now_ns)
  for i in $(seq "$N"); do "$FIREC_RUN" run -d -q "$WORK/bench-c$i/vm.json" >/dev/null 2>&1 & done; wait
  t1=$(now_ns); firec_ms=$(( (t1 - t0) / 1000000 ))
  up=0; for i in $(seq "$N"); do "$FIREC_RUN" status "bench-c$i" >/dev/null 2>&1 && up=$((up + 1)); done
  for i in $(seq "$N"); do "$FIREC_RUN" rm -f "bench-c$i" >/dev/null 2>&1 & done; wait
  left=$(find "$WORK/jail" -mindepth 2 -maxdepth 2 | wc -l); procs=$(pgrep -fc -- "--id bench-c" || true)
}
run_floor() {
  stage_floor; sync
  local t2 t3 i; t2=$(now_ns)
  for i in $(seq "$N"); do floor_start "bench-f$i"; done
  t3=$(floor_wait $(names bench-f)) || t3=
  pkill -KILL -f -- "--id bench-f" 2>/dev/null
  while pgrep -f -- "--id bench-f" >/dev/null; do nap 0.01; done
  rm -rf "$WORK/jail/$exec_name"/bench-f*
  if [ -n "$t3" ]; then floor_ms=$(( (t3 - t2) / 1000000 )); else floor_ms=0; fi
}

# Odd rounds time firec-run first, even rounds the floor first: whichever goes
# first meets colder caches.
: >"$WORK/ratios"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then run_firec; run_floor; order="firec-run first"; else run_floor; run_firec; order="floor first"; fi
  echo "round $r ($order): $N VMs in daemon mode: $up/$N running, wall $firec_ms ms; $N floor starts: $floor_ms ms;" \
    "ratio $(ratio "$firec_ms" "$floor_ms"); after rm: $left jail directories, $procs processes left"
  [ "$floor_ms" -gt 0 ] && ratio "$firec_ms" "$floor_ms" >>"$WORK/ratios" && echo >>"$WORK/ratios"
done
echo "concurrency ($KIND, $N VMs, $ROUNDS rounds): ratio to the floor, round by round: $(sort -n "$WORK/ratios" |
  awk 'NF {a[++n]=$1} END {printf "median %.3f  min %.3f  max %.3f", n % 2 ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2, a[1], a[n]}')  (target <= 1.0)"
