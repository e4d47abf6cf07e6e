#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# make check-real: the end-to-end tests against each real Firecracker release,
# one release after the other (real VMs never run side by side).
#
# The releases come from FIREC_TEST_FC_DIR, a directory of vX.Y.Z/firecracker
# (+ vX.Y.Z/jailer when the release has one), or from FIREC_TEST_FIRECRACKER
# and FIREC_TEST_JAILER, lists of paths paired by position ("-" or a missing
# entry: no jailer). FIREC_TEST_GUEST names the test guest.
#
# Usage (from make): check-real.sh MAKE [MAKEFLAGS...]; E2E_TESTS lists the
# suites. Each release's logs are kept in tests/e2e/real/vX.Y.Z/.
set -u
: "${E2E_TESTS:?}"
[ -n "${FIREC_TEST_GUEST:-}" ] || { echo "check-real: set FIREC_TEST_GUEST (the test guest's directory)"; exit 1; }

list=$(mktemp "${TMPDIR:-/tmp}/firec-check-real.XXXXXX") || exit 1
trap 'rm -f "$list"' EXIT
if [ -n "${FIREC_TEST_FC_DIR:-}" ]; then
  for d in $(ls -d "$FIREC_TEST_FC_DIR"/v*/ 2>/dev/null | sort -V); do
    d=${d%/}
    [ -x "$d/firecracker" ] || continue
    if [ -x "$d/jailer" ]; then echo "$d/firecracker $d/jailer"; else echo "$d/firecracker -"; fi
  done >"$list"
elif [ -n "${FIREC_TEST_FIRECRACKER:-}" ]; then
  set -f
  i=0
  for fc in $FIREC_TEST_FIRECRACKER; do
    i=$((i + 1))
    jailer=$(echo ${FIREC_TEST_JAILER:-} | cut -d' ' -f$i)
    echo "$fc ${jailer:--}"
  done >"$list"
  set +f
fi
[ -s "$list" ] || { echo "check-real: set FIREC_TEST_FC_DIR, or FIREC_TEST_FIRECRACKER (and FIREC_TEST_JAILER)"; exit 1; }

failed=
summary=
while read -r fc jailer; do
  [ "$jailer" = none ] && jailer=-
  version=$("$fc" --version 2>/dev/null | sed -n '1s/^Firecracker \(v[0-9.]*\).*/\1/p')
  [ -n "$version" ] || { echo "check-real: $fc --version names no release"; failed="$failed $fc"; continue; }
  what="$version$( [ "$jailer" = - ] && echo ' (no jailer)' || echo ' + jailer')"
  echo "=== check-real: Firecracker $what: $fc"
  if [ "$jailer" = - ]; then jailer=; fi
  # -j1: the suites one after the other, so that one VM runs at a time.
  FIREC_TEST_FIRECRACKER=$fc FIREC_TEST_JAILER=$jailer "$@" -j1 check TESTS="$E2E_TESTS" </dev/null
  rc=$?
  rm -rf "tests/e2e/real/$version"; mkdir -p "tests/e2e/real/$version"
  for t in $E2E_TESTS; do
    for ext in log trs; do cp -f "${t%.sh}.$ext" "tests/e2e/real/$version/" 2>/dev/null; done
  done
  cp -f test-suite.log "tests/e2e/real/$version/" 2>/dev/null
  result=$( [ $rc -eq 0 ] && echo PASS || echo FAIL )
  [ $rc -eq 0 ] || failed="$failed $version"
  summary="$summary
  $result: Firecracker $what ($(cat "tests/e2e/real/$version"/*.trs 2>/dev/null | grep -c '^:test-result: PASS') passed, $(cat "tests/e2e/real/$version"/*.trs 2>/dev/null | grep -c '^:test-result: SKIP') skipped, $(cat "tests/e2e/real/$version"/*.trs 2>/dev/null | grep -c '^:test-result: FAIL') failed)"
done <"$list"
echo "=== check-real summary (logs in tests/e2e/real/):$summary"
[ -z "$failed" ] || { echo "check-real: failed:$failed"; exit 1; }
