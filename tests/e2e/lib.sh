# Shared helpers for the end-to-end tests (sourced). They run firec-run against
# the test doubles, or against real Firecracker when FIREC_TEST_FIRECRACKER and
# FIREC_TEST_JAILER name the binaries (make check-real).
: "${FIREC_RUN:?}" "${top_srcdir:?}" "${top_builddir:?}" "${PYTHON3:?}"
# The test build of firec-run: the same code with the test seams
# (src/libfirec/seam.h: FIREC_TEST_FAULT, FIREC_CGROUP_ROOT) read from the
# environment; it runs tests/seam/firec-supervise beside it.
FIREC_RUN=$top_builddir/tests/seam/firec-run

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
done_testing() { echo "1..$n"; }

if [ -n "${FIREC_TEST_FIRECRACKER:-}" ] && [ -n "${FIREC_TEST_JAILER:-}" ]; then
  REAL=1
  FC=$FIREC_TEST_FIRECRACKER
  JAILER=$FIREC_TEST_JAILER
  [ -n "${FIREC_TEST_GUEST:-}" ] || skip_all "real binaries need FIREC_TEST_GUEST (tools/make-test-guest.sh builds one)"
else
  REAL=0
  FC=$top_builddir/tests/doubles/fake-firecracker
  JAILER=$top_builddir/tests/doubles/fake-jailer
fi
[ "$(id -u)" -eq 0 ] || skip_all "firec-run run needs root (the jailer chroots and drops privileges)"
[ -x "$FC" ] && [ -x "$JAILER" ] || skip_all "no firecracker/jailer binaries ($FC, $JAILER)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/firec-e2e.XXXXXX") || exit 1
chmod 0755 "$WORK"
export FIREC_STATE_DIR=$WORK/state
export FAKE_JAILER_CGROUP_ROOT=$WORK/cgroup FIREC_CGROUP_ROOT=$WORK/cgroup
[ "$REAL" = 1 ] && unset FAKE_JAILER_CGROUP_ROOT FIREC_CGROUP_ROOT
mkdir -p "$WORK/cgroup"
# The fake jailer only checks that the netns path exists; real runs need a real one.
if [ "$REAL" = 0 ]; then : >"$WORK/netns"; export FIREC_TEST_NETNS=$WORK/netns; fi
# The VMM processes of this test run: the ones named like ours whose working
# directory (the jail root) is under $WORK, so that parallel runs never touch
# each other's VMs.
our_pids() { # our_pids PATTERN
  local p
  for p in $(pgrep -f -- "--id $1"); do
    # A real jailer pivots into the jail, so its cwd reads "/": real runs are
    # not run in parallel, every match is ours.
    [ "$REAL" = 1 ] && { echo "$p"; continue; }
    case $(readlink "/proc/$p/cwd" 2>/dev/null) in "$WORK"/*) echo "$p" ;; esac
  done
}
cleanup_work() {
  our_pids "e2e-" | xargs -r kill -KILL 2>/dev/null
  for m in $(awk -v w="$WORK" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup_work EXIT

# prepare EXAMPLE NAME: writes $WORK/NAME/vm.json from examples/EXAMPLE.yaml and
# $WORK/NAME/inputs (the host input files).
prepare() {
  local example=$1 name=$2 dir=$WORK/$2
  mkdir -p "$dir" "$WORK/jail"
  "$FIREC_RUN" render --output json "$top_srcdir/examples/$example.yaml" >"$dir/rendered.json" || return 1
  FIREC_TEST_NAME=$name "$PYTHON3" "$top_srcdir/tests/e2e/prepare.py" "$dir/rendered.json" "$dir" "$FC" "$JAILER" \
    >"$dir/vm.json" 3>"$dir/inputs" || return 1
  fingerprint "$dir" >"$dir/before"
}

# The user's files as a user cares about them: content, owner, mode, mtime.
fingerprint() {
  local f
  while read -r f; do
    printf '%s %s\n' "$(sha256sum <"$f" | cut -d' ' -f1)" "$(stat -c '%u:%g %a %Y %n' "$f")"
  done <"$1/inputs"
}

# leftovers NAME: prints what a VM left on the host (nothing when clean).
leftovers() {
  local name=$1
  local pids; pids=$(our_pids "$name( |$)")
  [ -n "$pids" ] && echo "process: $pids $(cat /proc/${pids%% *}/cmdline 2>/dev/null | tr '\0' ' ')"
  find "$WORK/jail" -mindepth 2 -maxdepth 2 -name "$name" 2>/dev/null | sed 's/^/jail: /'
  [ -e "$FIREC_STATE_DIR/$name" ] && echo "state: $FIREC_STATE_DIR/$name"
  find "$WORK/cgroup" -name "$name" 2>/dev/null | sed 's/^/cgroup: /'
  [ "$REAL" = 1 ] && find /sys/fs/cgroup -maxdepth 4 -type d -name "$name" 2>/dev/null | sed 's/^/cgroup: /'
  awk -v n="/$name/" 'index($5, n) {print "mount: " $5}' /proc/self/mountinfo
  return 0
}

clean_after() { # clean_after NAME: nothing left, sources unchanged
  local name=$1 left
  left=$(leftovers "$name")
  if [ -n "$left" ]; then echo "$left" | sed 's/^/#   /'; return 1; fi
  fingerprint "$WORK/$name" | cmp -s - "$WORK/$name/before" || { echo "#   the source files changed"; return 1; }
}

# wait_running NAME [SECONDS]: until the state record says running.
wait_running() {
  local name=$1 limit=${2:-20} i=0
  while [ $i -lt $((limit * 20)) ]; do
    grep -q '"phase":[[:space:]]*"running"' "$FIREC_STATE_DIR/$name/state.json" 2>/dev/null && return 0
    sleep 0.05; i=$((i + 1))
  done
  return 1
}
