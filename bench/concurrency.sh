#!/bin/bash
# Figure 4: N VMs (50 by default) started at once in daemon mode all reach
# Running; wall time against N floor starts (jailer + --no-api --config-file) in
# parallel; then rm of all leaves nothing.
. "$(dirname "$0")/lib.sh"
N=${FIREC_BENCH_VMS:-50}
for i in $(seq "$N"); do prepare hello "bench-c$i" & done; wait
t0=$(now_ns)
for i in $(seq "$N"); do "$FIREC_RUN" run -d -q "$WORK/bench-c$i/vm.json" >/dev/null 2>&1 & done; wait
t1=$(now_ns)
up=0; for i in $(seq "$N"); do "$FIREC_RUN" status "bench-c$i" >/dev/null 2>&1 && up=$((up + 1)); done
for i in $(seq "$N"); do "$FIREC_RUN" rm -f "bench-c$i" >/dev/null 2>&1 & done; wait
left=$(find "$WORK/jail" -mindepth 2 -maxdepth 2 | wc -l); procs=$(pgrep -fc -- "--id bench-c" || true)
# The floor: the same N VMs from --config-file, all at once.
exec_name=$(basename "$FC")
for i in $(seq "$N"); do
  "$FIREC_RUN" render --firecracker-config "$WORK/bench-c$i/vm.json" >"$WORK/c$i.json" 2>/dev/null
  d=$WORK/jail/$exec_name/bench-f$i/root; mkdir -p "$d"
  "$PYTHON3" -c 'import json,sys,os
for f in json.load(open(sys.argv[1]))["x-firec-derived"]["files"]:
    t = sys.argv[2] + f["vm_path"]; os.makedirs(os.path.dirname(t), exist_ok=True); os.link(f["host_path"], t)' \
    <("$FIREC_RUN" render --output json "$WORK/bench-c$i/vm.json") "$d" 2>/dev/null
  cp "$WORK/c$i.json" "$d/config.json"; chown -R 10001:10001 "$d"
done
t2=$(now_ns)
for i in $(seq "$N"); do floor_start "bench-f$i"; done
t3=$(floor_wait $(for i in $(seq "$N"); do echo "bench-f$i"; done))
pkill -KILL -f -- "--id bench-f" 2>/dev/null
firec_ms=$(( (t1 - t0) / 1000000 )); floor_ms=$(( (t3 - t2) / 1000000 ))
echo "concurrency ($KIND): $N VMs in daemon mode: $up/$N running, wall $firec_ms ms; $N floor starts in parallel: $floor_ms ms"
echo "ratio: $(ratio "$firec_ms" "$floor_ms")  (target <= 1.1); after rm: $left jail directories, $procs processes left"
