#!/bin/bash
# Figure 5: validate + plan of examples/jailer-full.yaml, manifests per second on one core.
. "$(dirname "$0")/lib.sh"
echo "validate + plan throughput (examples/jailer-full.yaml, one core)"
for i in 1 2 3; do taskset -c 0 "$top_builddir/bench/plan-bench" "$top_srcdir/examples/jailer-full.yaml" "${FIREC_BENCH_PLANS:-3000}"; done
echo "(target >= 5000 manifests/s)"
