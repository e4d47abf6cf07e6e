# SPDX-License-Identifier: Apache-2.0
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
# firec-run's state lives in /run/firec by default, a tmpfs on any systemd host;
# where /run is not one (this CI sandbox), keep it on /dev/shm, as users would.
if [ "$(stat -f -c %T /run 2>/dev/null)" = tmpfs ]; then STATE_PARENT=$WORK; else STATE_PARENT=$(mktemp -d /dev/shm/firec-bench.XXXXXX); fi
export FIREC_STATE_DIR=$STATE_PARENT/state
BENCH_TAPS=""
trap 'pkill -KILL -f -- "--id bench-" 2>/dev/null; for t in $BENCH_TAPS; do ip link del "$t" 2>/dev/null; done
  rm -rf "$WORK" "$STATE_PARENT"' EXIT
# bench_tap NAME...: TAP devices the VM's uid may open (Firecracker, real or
# the double, opens its TAP as that uid; a baseline cannot create one), made
# for this run when missing and removed at its end. firec-run finds the
# example's own made already and uses it as it is, as the baselines do theirs.
bench_tap() {
  local t
  for t in "$@"; do
    ip link show "$t" >/dev/null 2>&1 && continue
    ip tuntap add "$t" mode tap user 10001 group 10001 && BENCH_TAPS="$BENCH_TAPS $t"
  done
}

# A sleep without a fork: a read that times out on a pipe nobody writes to.
exec {nap_fd}<> <(:)
nap() { read -r -t "$1" -u "$nap_fd" || :; }
# Nanoseconds from bash's own clock: no fork of date(1) inside a timed interval.
now_ns() { local t=${EPOCHREALTIME/./}; echo "${t}000"; }
# floor_start NAME CONFIG_LOG_PREFIX: starts the jailer with --no-api --config-file
# /config.json for VM NAME (staged already) and returns at once; a reader of its
# output (blocking reads, no polling that would compete for the CPU) appends the
# time it saw "Successfully started microvm" to $WORK/NAME.started, then keeps
# draining so that the VM runs on undisturbed.
floor_start() {
  ( "$JAILER" --id "$1" --exec-file "$FC" --uid 10001 --gid 10001 --chroot-base-dir "$WORK/jail" --       --no-api --config-file /config.json 2>&1 |
    { ok=; while IFS= read -r line; do
        case $line in *"Successfully started microvm"*) now_ns >"$WORK/$1.started"; ok=1; break ;; esac
        printf '%s\n' "$line" >>"$WORK/$1.log"
      done; [ -n "$ok" ] || echo failed >"$WORK/$1.started"; cat >/dev/null; } ) >/dev/null 2>&1 & disown
}
# floor_wait NAME...: blocks until every NAME has started; prints the latest
# time, or fails (naming the VM, with its log) when one exited without starting.
floor_wait() {
  local n latest=0 t
  for n in "$@"; do
    until [ -s "$WORK/$n.started" ]; do nap 0.002; done
    t=$(<"$WORK/$n.started")
    if [ "$t" = failed ]; then echo "floor VM $n did not start:" >&2; tail -3 "$WORK/$n.log" >&2; return 1; fi
    [ "$t" -gt "$latest" ] && latest=$t
  done
  echo "$latest"
}
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
      >"$dir/vm.json" 3>/dev/null 4>/dev/null
}
