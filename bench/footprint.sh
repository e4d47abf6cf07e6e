#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Figure 3: an attached firec-run supervising a running VM, and the VM's
# console keeper: their VmRSS, and the CPU each uses while idle (utime+stime
# over 10 s).
. "$(dirname "$0")/lib.sh"
prepare hello bench-foot || exit 1
"$FIREC_RUN" run -q "$WORK/bench-foot/vm.json" </dev/null >/dev/null 2>&1 &
pid=$!
for i in $(seq 400); do grep -q '"running"' "$FIREC_STATE_DIR/bench-foot/state.json" 2>/dev/null && break; sleep 0.05; done
sleep 0.5
keeper=$(pgrep -f -- "--console --state-dir $FIREC_STATE_DIR/bench-foot( |$)")
memory() { echo "VmRSS $(awk '/VmRSS/ {print $2}' "/proc/$1/status") KiB (anonymous $(awk '/RssAnon/ {print $2}' "/proc/$1/status") KiB)"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
supervisor_memory=$(memory "$pid"); keeper_memory=$(memory "$keeper")
a=$(ticks "$pid"); ka=$(ticks "$keeper"); sleep "${FIREC_BENCH_IDLE:-10}"; b=$(ticks "$pid"); kb=$(ticks "$keeper")
echo "supervisor footprint ($KIND): $supervisor_memory, CPU ticks idle over ${FIREC_BENCH_IDLE:-10} s: $((b - a))"
echo "console keeper footprint ($KIND): $keeper_memory, CPU ticks idle over ${FIREC_BENCH_IDLE:-10} s: $((kb - ka))"
echo "(targets: VmRSS <= 2048 KiB, 0 ticks, each)"
kill -TERM "$pid"; wait "$pid"
