# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the end-to-end tests (sourced). They run firec-run against
# the test doubles, or against one real Firecracker release when
# FIREC_TEST_FIRECRACKER names its binary (make check-real runs them once per
# release; see tests/e2e/check-real.sh). FIREC_TEST_JAILER names its jailer,
# or is empty for a release without one: the examples then run with
# `jailer: {enabled: false}` and the jailer-only cases are skipped.
: "${FIREC_RUN:?}" "${top_srcdir:?}" "${top_builddir:?}" "${PYTHON3:?}"
# The test build of firec-run: the same code with the test seams
# (src/libfirec/seam.h: FIREC_TEST_FAULT, FIREC_CGROUP_ROOT) read from the
# environment; it runs tests/seam/firec-supervise beside it.
FIREC_RUN=$top_builddir/tests/seam/firec-run

n=0
# TAP lines name the Firecracker release they ran against (real binaries).
ok() { n=$((n + 1)); echo "ok $n - ${LABEL}$*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - ${LABEL}$*"; }
skip() { n=$((n + 1)); echo "ok $n - ${LABEL}$1 # SKIP $2"; } # skip DESCRIPTION REASON
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
skip_all() { echo "1..0 # SKIP ${LABEL}$*"; exit 0; }
done_testing() { echo "1..$n"; }

LABEL=
if [ -n "${FIREC_TEST_FIRECRACKER:-}" ]; then
  REAL=1
  FC=$FIREC_TEST_FIRECRACKER
  JAILER=${FIREC_TEST_JAILER:-}
  [ -x "$FC" ] || skip_all "no firecracker binary at $FC"
  # "Firecracker v1.5.1" -> 1.5.1
  FC_VERSION=$("$FC" --version 2>/dev/null | sed -n '1s/^Firecracker v\([0-9.]*\).*/\1/p')
  LABEL="[v$FC_VERSION${JAILER:+ + jailer}] "
  [ -n "${FIREC_TEST_GUEST:-}" ] || skip_all "real binaries need FIREC_TEST_GUEST (tools/make-test-guest.sh builds one)"
else
  REAL=0
  FC=$top_builddir/tests/doubles/fake-firecracker
  JAILER=$top_builddir/tests/doubles/fake-jailer
  FC_VERSION=${FAKE_FC_VERSION:-1.5.1}
fi
[ "$(id -u)" -eq 0 ] || skip_all "firec-run run needs root (the jailer chroots and drops privileges)"
[ -x "$FC" ] || skip_all "no firecracker binary ($FC)"
[ -z "$JAILER" ] || [ -x "$JAILER" ] || skip_all "no jailer binary ($JAILER)"
# version_at_least V: the Firecracker under test is V or newer.
version_at_least() { [ "$(printf '%s\n%s\n' "$1" "$FC_VERSION" | sort -V | head -1)" = "$1" ]; }
has_jailer() { [ -n "$JAILER" ]; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/firec-e2e.XXXXXX") || exit 1
chmod 0755 "$WORK"
export FIREC_STATE_DIR=$WORK/state
export FAKE_JAILER_CGROUP_ROOT=$WORK/cgroup FIREC_CGROUP_ROOT=$WORK/cgroup
[ "$REAL" = 1 ] && unset FAKE_JAILER_CGROUP_ROOT FIREC_CGROUP_ROOT
mkdir -p "$WORK/cgroup"
# A network namespace of this test run (jailer.netns of the examples that have
# one): a handle bound on a file below $WORK, which cleanup_work unmounts.
: >"$WORK/netns"
if unshare --net="$WORK/netns" true 2>/dev/null; then export FIREC_TEST_NETNS=$WORK/netns; else rm -f "$WORK/netns"; fi
# TAP devices: names unique to this test run and VM (other runs of the suite
# share the host), "f" + $WORK's random suffix + 4 hex digits of the VM name
# + the interface's index: at most 15 bytes.
tap_prefix() { # tap_prefix NAME
  printf 'f%s%04x' "${WORK##*.}" "$(($(printf '%s' "$1" | cksum | cut -d' ' -f1) % 65536))"
}
# taps_of NAME: the TAP devices of NAME left in the host's and in this run's namespace.
taps_of() {
  local prefix; prefix=$(tap_prefix "$1")
  ip -o link show 2>/dev/null | awk -F': ' -v p="$prefix" 'index($2, p) == 1 {print "tap: " $2}'
  [ -n "${FIREC_TEST_NETNS:-}" ] && nsenter --net="$FIREC_TEST_NETNS" ip -o link show 2>/dev/null |
    awk -F': ' -v p="$prefix" 'index($2, p) == 1 {print "tap (in the netns): " $2}'
  return 0
}
# Removes every TAP of this run (host namespace; the netns goes with $WORK).
remove_taps() {
  local prefix="f${WORK##*.}" t
  for t in $(ip -o link show 2>/dev/null | awk -F': ' -v p="$prefix" 'index($2, p) == 1 {sub(/@.*/, "", $2); print $2}'); do
    ip link delete "$t" 2>/dev/null
  done
}
# The VMM processes of this test run: the ones named like ours that belong to
# $WORK, so that parallel runs (other build trees) never touch each other's
# VMs: by their working directory (the doubles' jail root), their command line
# (firecracker without the jailer: the API socket's path), or the root of their
# mount namespace (a real jailer pivots into the jail: cwd and root read "/").
our_pids() { # our_pids PATTERN
  local p where
  for p in $(pgrep -f -- "--id $1"); do
    where="$(readlink "/proc/$p/cwd" 2>/dev/null) $(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")"
    where="$where $(awk '$5 == "/" {print $4}' "/proc/$p/mountinfo" 2>/dev/null)"
    case $where in *"$WORK"/*) echo "$p" ;; esac
  done
}
cleanup_work() {
  our_pids "e2e-" | xargs -r kill -KILL 2>/dev/null
  remove_taps
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
  FIREC_TEST_NAME=$name FIREC_TEST_TAP_PREFIX=$(tap_prefix "$name") "$PYTHON3" "$top_srcdir/tests/e2e/prepare.py" "$dir/rendered.json" "$dir" "$FC" "${JAILER:--}" \
    >"$dir/vm.json" 3>"$dir/inputs" 4>"$dir/outputs" || return 1
  fingerprint "$dir" >"$dir/before"
}

# How many earlier files firec-run keeps beside an output path (<path>.1 ...).
OUTPUTS_KEPT=5
fingerprint_file() {
  if [ -f "$1" ]; then
    printf '%s %s\n' "$(sha256sum <"$1" | cut -d' ' -f1)" "$(stat -c '%u:%g %a %Y %n' "$1")"
  else
    printf '%s %s\n' "$(stat -c %F "$1" | tr ' ' -)" "$(stat -c '%u:%g %a %Y %n' "$1")"
  fi
}
# The user's files as a user cares about them: content, owner, mode, mtime. The
# inputs, and at each output path (NAME/outputs) what is there and what was
# moved aside from it (<path>.1 ...).
fingerprint() {
  local f k
  while read -r f; do fingerprint_file "$f"; done <"$1/inputs"
  [ -f "$1/outputs" ] || return 0
  while read -r f; do
    for k in "" $(seq $((OUTPUTS_KEPT + 2)) | sed 's/^/./'); do
      if [ -e "$f$k" ] || [ -L "$f$k" ]; then fingerprint_file "$f$k"; fi
    done
  done <"$1/outputs"
}

# wait_stopped PID: until a run held by FIREC_TEST_FAULT=SIGSTOP:... (seam.h) is stopped.
wait_stopped() {
  local i
  for i in $(seq 200); do [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = T ] && return 0; sleep 0.05; done
  return 1
}
# leftovers NAME: prints what a VM left on the host (nothing when clean).
leftovers() {
  local name=$1
  local pids; pids=$(our_pids "$name( |$)")
  [ -n "$pids" ] && echo "process: $pids $(cat /proc/${pids%% *}/cmdline 2>/dev/null | tr '\0' ' ')"
  pids=$(pgrep -f -- "--console --state-dir $FIREC_STATE_DIR/$name( |$)")
  [ -n "$pids" ] && echo "console keeper: $pids"
  find "$WORK/jail" -mindepth 2 -maxdepth 2 -name "$name" 2>/dev/null | sed 's/^/jail: /'
  [ -e "$FIREC_STATE_DIR/$name" ] && echo "state: $FIREC_STATE_DIR/$name"
  find "$WORK/cgroup" -name "$name" 2>/dev/null | sed 's/^/cgroup: /'
  [ "$REAL" = 1 ] && find /sys/fs/cgroup -maxdepth 4 -type d -name "$name" 2>/dev/null | sed 's/^/cgroup: /'
  awk -v n="/$name/" 'index($5, n) {print "mount: " $5}' /proc/self/mountinfo
  taps_of "$name"
  return 0
}

clean_after() { # clean_after NAME: nothing left, every file the manifest names as it was
  local name=$1 left
  left=$(leftovers "$name")
  if [ -n "$left" ]; then echo "$left" | sed 's/^/#   /'; return 1; fi
  fingerprint "$WORK/$name" | cmp -s - "$WORK/$name/before" ||
    { echo "#   the files the manifest names changed:"; fingerprint "$WORK/$name" | diff "$WORK/$name/before" - | sed 's/^/#   /'; return 1; }
}

# clean_after_run NAME: after a run that started. Nothing left, the inputs as
# they were, and each earlier output file moved one step aside byte for byte
# (<path> -> <path>.1, <path>.1 -> <path>.2 ...; the one at <path>.OUTPUTS_KEPT
# is no longer kept). What is there now becomes the baseline.
clean_after_run() {
  local name=$1 left
  left=$(leftovers "$name")
  if [ -n "$left" ]; then echo "$left" | sed 's/^/#   /'; return 1; fi
  fingerprint "$WORK/$name" >"$WORK/$name/after"
  "$PYTHON3" - "$WORK/$name/before" "$WORK/$name/after" "$WORK/$name/outputs" "$OUTPUTS_KEPT" <<'PY' || return 1
import re, sys
before, after, outputs, kept = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def read(p):
    return {l.rsplit(" ", 1)[1]: l.rsplit(" ", 1)[0] for l in open(p).read().splitlines()}
b, a = read(before), read(after)
outs = set(open(outputs).read().split()) if outputs else set()
bad = []
for name, what in b.items():
    m = re.fullmatch(r"(.*?)(?:\.(\d+))?", name)
    base, k = m.group(1), int(m.group(2) or 0)
    if name in outs or (base in outs and k):
        if k + 1 > kept:
            continue
        moved = "%s.%d" % (base, k + 1)
        if a.get(moved) != what:
            bad.append("%s was not moved to %s unchanged" % (name, moved))
    elif a.get(name) != what:
        bad.append("%s changed" % name)
for line in bad:
    print("#   " + line)
sys.exit(1 if bad else 0)
PY
  mv "$WORK/$name/after" "$WORK/$name/before"
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

# The doubles' jail uid (prepare.py gives the manifests it), for the tests that
# act as a hostile VM would.
JAIL_UID=10001
# as_jail COMMAND...: runs it as the jail uid. Every absolute path it is given
# must lie in this test's $WORK (or be one of a few system tools): a mistake
# here must never reach the host.
as_jail() {
  local a
  case $WORK in /?*/?*) ;; *) echo "as_jail: WORK is \"$WORK\"" >&2; return 1 ;; esac
  for a in "$@"; do
    case $a in
      "$WORK"/*|/bin/sh|/usr/bin/python3|/bin/sleep) ;;
      /*) echo "as_jail: refusing $a, outside $WORK" >&2; return 1 ;;
    esac
  done
  setpriv --reuid="$JAIL_UID" --regid="$JAIL_UID" --clear-groups -- "$@"
}
