#!/bin/bash
# Figure 3: an attached firec-run supervising a running VM: its VmRSS, and the
# CPU it uses while idle (utime+stime over 10 s).
. "$(dirname "$0")/lib.sh"
prepare hello bench-foot || exit 1
"$FIREC_RUN" run -q "$WORK/bench-foot/vm.json" </dev/null >/dev/null 2>&1 &
pid=$!
for i in $(seq 400); do grep -q '"running"' "$FIREC_STATE_DIR/bench-foot/state.json" 2>/dev/null && break; sleep 0.05; done
sleep 0.5
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status"); anon=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")
a=$(awk '{print $14 + $15}' "/proc/$pid/stat"); sleep "${FIREC_BENCH_IDLE:-10}"; b=$(awk '{print $14 + $15}' "/proc/$pid/stat")
echo "supervisor footprint ($KIND): VmRSS $rss KiB (anonymous $anon KiB), CPU ticks idle over ${FIREC_BENCH_IDLE:-10} s: $((b - a))"
echo "(targets: VmRSS <= 2048 KiB, 0 ticks)"
kill -TERM "$pid"; wait "$pid"
