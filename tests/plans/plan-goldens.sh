#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Golden plans (TAP): for every example and valid fixture, `firec-run plan
# --output json` must equal tests/plans/golden/<dir>/<name>.json byte for byte
# (with the source directory written as @SRCDIR@). The goldens hold the jailer
# argv and every request body, so any change to lowering shows up as a diff.
# Also: plan is deterministic, and render re-validates into the identical plan.
# Regenerate with: tests/plans/plan-goldens.sh --regen (then review the diff).
set -u
: "${FIREC_RUN:?}" "${top_srcdir:?}" "${top_builddir:?}"
export FIREC_STATE_DIR=/run/firec
tmp=$(mktemp -d "${TMPDIR:-/tmp}/firec-plans.XXXXXX") || exit 1
# The model reads two host facts, pinned here so that the goldens hold on any
# host: the binaries it finds in PATH (none: bare names stay as written) and
# the cgroup version `auto` means (a plain directory: 1; through the test
# build's seam, since an installed firec-run reads only the host's).
export FIREC_CGROUP_ROOT=$tmp
FIREC_RUN=$top_builddir/tests/seam/firec-run
firec_run() { env PATH=/nonexistent/firec-plans "$FIREC_RUN" "$@"; }
trap 'rm -rf "$tmp"' EXIT
regen=${1:-}
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; }

srcdir=$(cd "$top_srcdir" && pwd)
for f in "$srcdir"/examples/*.yaml "$srcdir"/tests/manifests/valid/*.yaml; do
  rel=${f#"$srcdir"/}
  dir=$(basename "$(dirname "$f")")
  name=$(basename "$f" .yaml)
  golden="$srcdir/tests/plans/golden/$dir/$name.json"
  firec_run plan --output json "$f" 2>/dev/null | sed "s|$srcdir|@SRCDIR@|g" >"$tmp/plan.json"
  if [ "$regen" = --regen ]; then mkdir -p "$(dirname "$golden")"; cp "$tmp/plan.json" "$golden"; fi
  if cmp -s "$tmp/plan.json" "$golden"; then ok "$rel: plan matches its golden"
  else not_ok "$rel: plan matches its golden"; diff -u "$golden" "$tmp/plan.json" | head -40 | sed 's/^/#   /'; fi

  firec_run plan --output json "$f" 2>/dev/null | sed "s|$srcdir|@SRCDIR@|g" >"$tmp/again.json"
  if cmp -s "$tmp/plan.json" "$tmp/again.json"; then ok "$rel: plan is deterministic"
  else not_ok "$rel: plan is deterministic"; fi

  for format in yaml json; do
    firec_run render --output $format "$f" >"$tmp/rendered.$format" 2>/dev/null
    firec_run render --output $format "$f" 2>/dev/null | cmp -s - "$tmp/rendered.$format" \
      || { not_ok "$rel: render --output $format is deterministic"; continue; }
    firec_run plan --output json "$tmp/rendered.$format" 2>/dev/null | sed "s|$srcdir|@SRCDIR@|g" >"$tmp/replan.json"
    if cmp -s "$tmp/plan.json" "$tmp/replan.json"; then ok "$rel: render --output $format re-validates into the same plan"
    else not_ok "$rel: render --output $format re-validates into the same plan"; diff -u "$tmp/plan.json" "$tmp/replan.json" | head -20 | sed 's/^/#   /'; fi
  done
done
echo "1..$n"
