#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Validates every fixture and example with firec-run (TAP):
#   valid/*.yaml and examples/*.yaml must pass with exit 0;
#   invalid/*.yaml must exit 2 and print exactly invalid/NAME.expected.
set -u
: "${FIREC_RUN:?}" "${top_srcdir:?}"
n=0
fail() { n=$((n + 1)); echo "not ok $n - $1"; }
pass() { n=$((n + 1)); echo "ok $n - $1"; }

for dir in tests/manifests/valid examples; do
  for f in "$top_srcdir"/$dir/*.yaml; do
    name=$dir/$(basename "$f")
    out=$(cd "$top_srcdir/$dir" && "$FIREC_RUN" validate "$(basename "$f")" 2>&1 >/dev/null)
    rc=$?
    # A valid manifest prints nothing on stderr, or exactly its warnings (NAME.expected).
    expected="${f%.yaml}.expected"
    want=""; [ -f "$expected" ] && want=$(cat "$expected")
    if [ $rc -eq 0 ] && [ "$out" = "$want" ]; then pass "$name is valid"
    else fail "$name is valid (exit $rc)"; printf '%s\n' "$out" | sed 's/^/#   /'; fi
  done
done

for f in "$top_srcdir"/tests/manifests/invalid/*.yaml; do
  base=$(basename "$f" .yaml)
  expected="$top_srcdir/tests/manifests/invalid/$base.expected"
  name=invalid/$base.yaml
  if [ ! -f "$expected" ]; then fail "$name has an .expected file"; continue; fi
  out=$(cd "$top_srcdir/tests/manifests/invalid" && "$FIREC_RUN" validate "$base.yaml" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -ne 2 ]; then fail "$name exits 2 (got $rc)"; continue; fi
  if [ "$out" = "$(cat "$expected")" ]; then pass "$name prints its expected diagnostic"
  else
    fail "$name prints its expected diagnostic"
    printf '%s\n' "$out" | sed 's/^/#   got:  /'
    sed 's/^/#   want: /' "$expected"
  fi
done
echo "1..$n"
