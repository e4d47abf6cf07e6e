# Shared by the benchmark scripts (sourced). With FIREC_BENCH_FIRECRACKER and
# FIREC_BENCH_JAILER set they measure the real binaries (root, /dev/kvm, a guest
# from FIREC_BENCH_GUEST); otherwise the test doubles, as a smoke run.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
FIREC_RUN=${FIREC_RUN:-$top_builddir/firec-run}
PYTHON3=${PYTHON3:-python3}
RUNS=${FIREC_BENCH_RUNS:-10}
if [ -n "${FIREC_BENCH_FIRECRACKER:-}" ] && [ -n "${FIREC_BENCH_JAILER:-}" ]; then
  FC=$FIREC_BENCH_FIRECRACKER; JAILER=$FIREC_BENCH_JAILER; KIND=real
  export FIREC_TEST_GUEST=${FIREC_BENCH_GUEST:?set FIREC_BENCH_GUEST to a test guest directory}
else
  FC=$top_builddir/tests/doubles/fake-firecracker; JAILER=$top_builddir/tests/doubles/fake-jailer; KIND=doubles
  unset FIREC_TEST_GUEST
fi
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root (the jailer)"; exit 0; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/firec-bench.XXXXXX"); chmod 755 "$WORK"; mkdir -p "$WORK/jail"
export FIREC_STATE_DIR=$WORK/state
trap 'pkill -KILL -f -- "--id bench-" 2>/dev/null; rm -rf "$WORK"' EXIT

now_ns() { date +%s%N; }
# stats NAME FILE: median, min, max of the numbers in FILE (ms), printed.
stats() {
  sort -n "$2" | awk -v name="$1" '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2;
    printf "%-34s median %8.2f ms  min %8.2f  max %8.2f  (n=%d)\n", name, m, a[1], a[NR], NR}'
}
median() { sort -n "$1" | awk '{a[NR]=$1} END {print NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0) ? a / b : 0}'; }

# prepare EXAMPLE NAME: a runnable manifest (as the e2e tests make them).
prepare() {
  local dir=$WORK/$2; mkdir -p "$dir"
  "$FIREC_RUN" render --output json "$top_srcdir/examples/$1.yaml" >"$dir/rendered.json" &&
    FIREC_TEST_NAME=$2 "$PYTHON3" "$top_srcdir/tests/e2e/prepare.py" "$dir/rendered.json" "$dir" "$FC" "$JAILER" \
      >"$dir/vm.json" 3>/dev/null
}
