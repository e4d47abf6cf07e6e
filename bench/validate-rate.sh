#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Figure 5: validate + plan of examples/jailer-full.yaml, manifests per second on one core.
. "$(dirname "$0")/lib.sh"
n=${FIREC_BENCH_RATE_RUNS:-11}
for i in $(seq "$n"); do
  taskset -c 0 "$top_builddir/bench/plan-bench" "$top_srcdir/examples/jailer-full.yaml" "${FIREC_BENCH_PLANS:-3000}"
done | tee "$WORK/rate" | sed 's/^/  /'
echo "validate + plan throughput (examples/jailer-full.yaml, one core, $n runs):" \
  "median $(awk '{print $1}' "$WORK/rate" | sort -n | awk '{a[NR]=$1} END {print NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}') manifests/s" \
  "(target >= 5000)"
# Instructions per manifest (callgrind): 11 manifests minus 1, so that the
# one-time work (ld.so, the built-in schema) cancels out.
if command -v valgrind >/dev/null; then
  ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$top_builddir/bench/plan-bench" \
    "$top_srcdir/examples/jailer-full.yaml" "$1" 2>&1 >/dev/null | sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'; }
  one=$(ir 1); eleven=$(ir 11)
  echo "validate + plan instructions per manifest (callgrind, (11 - 1) / 10): $(( (eleven - one) / 10 )) (target <= 600000)"
fi
