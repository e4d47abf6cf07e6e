#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A/B: this build's firec-run (B) against another build's (A, the baseline:
# FIREC_BENCH_BASELINE_RUN=/path/to/firec-run, e.g. a build of the commit before
# the change being judged), measured in the same run, round by round, in
# alternating order:
#   - start latency of examples/rootfs.yaml: `run -d` until it returns (the VM
#     runs), then `rm -f`, as bench/start-latency.sh times firec-run;
#   - validate + plan of examples/jailer-full.yaml (or FIREC_BENCH_AB_FILE): FIREC_BENCH_AB_PLANS (50)
#     invocations of `firec-run plan` per side and round, exec included;
#   - instructions of one `firec-run plan` invocation, ld.so included (callgrind).
# Prints each side's median and the median of the per-round ratios B/A.
. "$(dirname "$0")/lib.sh"
A=${FIREC_BENCH_BASELINE_RUN:-}
B=$FIREC_RUN
if [ -z "$A" ]; then
  echo "A/B: skipped (set FIREC_BENCH_BASELINE_RUN to the firec-run of the build to compare with)"
  exit 0
fi
[ -x "$A" ] || { echo "A/B: FIREC_BENCH_BASELINE_RUN=$A is not an executable"; exit 1; }
plans=${FIREC_BENCH_AB_PLANS:-50}
# A manifest both builds read (FIREC_BENCH_AB_FILE): a field newer than A would
# time A's error path, not its plan.
full=${FIREC_BENCH_AB_FILE:-$top_srcdir/examples/jailer-full.yaml}
for side in "$A" "$B"; do
  "$side" validate "$full" >/dev/null 2>"$WORK/ab-validate.err" || {
    echo "A/B: $side cannot read $full (set FIREC_BENCH_AB_FILE to a manifest both builds read):"
    head -3 "$WORK/ab-validate.err"
    exit 1
  }
done
prepare rootfs bench-ab || exit 1
bench_tap tap0 # made once: the baseline may predate firec-run making TAPs
m=$WORK/bench-ab/vm.json
sync

start() { # start FIREC_RUN LOG: appends the ms `run -d` took
  local t0 t1
  sync
  t0=$(now_ns)
  if "$1" run -d -q "$m" >/dev/null 2>"$WORK/ab.err"; then
    t1=$(now_ns); echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1 / 1000}' >>"$2"
  else
    echo "$1 run failed (not counted):" >&2; cat "$WORK/ab.err" >&2
  fi
  "$1" rm -f bench-ab >/dev/null 2>&1
}
plan_loop() { # plan_loop FIREC_RUN LOG: appends the ms one `plan` took, on average
  local t0 t1 i
  t0=$(now_ns)
  for ((i = 0; i < plans; i++)); do "$1" plan "$full" >/dev/null; done
  t1=$(now_ns); echo "$(( (t1 - t0) / plans / 1000 ))" | awk '{print $1 / 1000}' >>"$2"
}

: >"$WORK/a.start"; : >"$WORK/b.start"; : >"$WORK/a.plan"; : >"$WORK/b.plan"
: >"$WORK/r.start"; : >"$WORK/r.plan"
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) -eq 1 ]; then start "$A" "$WORK/a.start"; start "$B" "$WORK/b.start"
  else start "$B" "$WORK/b.start"; start "$A" "$WORK/a.start"; fi
  if [ "$(wc -l <"$WORK/a.start")" -eq "$i" ] && [ "$(wc -l <"$WORK/b.start")" -eq "$i" ]; then
    ratio "$(tail -1 "$WORK/b.start")" "$(tail -1 "$WORK/a.start")" >>"$WORK/r.start"; echo >>"$WORK/r.start"
  fi
  if [ $((i % 2)) -eq 1 ]; then plan_loop "$A" "$WORK/a.plan"; plan_loop "$B" "$WORK/b.plan"
  else plan_loop "$B" "$WORK/b.plan"; plan_loop "$A" "$WORK/a.plan"; fi
  ratio "$(tail -1 "$WORK/b.plan")" "$(tail -1 "$WORK/a.plan")" >>"$WORK/r.plan"; echo >>"$WORK/r.plan"
done
ratios() { sort -n "$1" | awk 'NF {a[++n]=$1} END {if (!n) {print "no rounds"; exit}
  m = n % 2 ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2
  printf "median %.3f  min %.3f  max %.3f  (%d rounds)", m, a[1], a[n], n}'; }
echo "A/B ($KIND): A = $A, B = $B, $RUNS rounds"
stats "A: run -d, rootfs.yaml" "$WORK/a.start"
stats "B: run -d, rootfs.yaml" "$WORK/b.start"
echo "start latency B/A, round by round: $(ratios "$WORK/r.start")"
stats "A: plan $(basename "$full") (1 exec)" "$WORK/a.plan"
stats "B: plan $(basename "$full") (1 exec)" "$WORK/b.plan"
echo "validate + plan B/A, round by round: $(ratios "$WORK/r.plan")"
if command -v valgrind >/dev/null; then
  ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" plan "$full" 2>&1 >/dev/null |
    sed -n 's/.*Collected : *\([0-9]*\).*/\1/p'; }
  a=$(ir "$A"); b=$(ir "$B")
  echo "instructions of one \`plan\` (callgrind, ld.so included): A $a, B $b: B/A $(ratio "$b" "$a")"
fi
