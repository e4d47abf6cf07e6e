#!/bin/bash
# Figure 5: validate + plan of examples/jailer-full.yaml, manifests per second on one core.
. "$(dirname "$0")/lib.sh"
n=${FIREC_BENCH_RATE_RUNS:-11}
for i in $(seq "$n"); do
  taskset -c 0 "$top_builddir/bench/plan-bench" "$top_srcdir/examples/jailer-full.yaml" "${FIREC_BENCH_PLANS:-3000}"
done | tee "$WORK/rate" | sed 's/^/  /'
echo "validate + plan throughput (examples/jailer-full.yaml, one core, $n runs):" \
  "median $(awk '{print $1}' "$WORK/rate" | sort -n | awk '{a[NR]=$1} END {print NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}') manifests/s" \
  "(target >= 5000)"
