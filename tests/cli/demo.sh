#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# README's first command ends in `make demo` (tools/demo.sh, TAP): the main job
# on examples/hello.yaml, validate to rm, with the test doubles. Root only (the
# jailer path).
: "${top_srcdir:?}" "${top_builddir:?}"
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root"; exit 0; }
echo 1..3
out=$(top_srcdir=$top_srcdir top_builddir=$top_builddir bash "$top_srcdir/tools/demo.sh" 2>&1); rc=$?
if [ "$rc" -eq 0 ]; then echo "ok 1 - make demo exits 0"; else
  echo "not ok 1 - make demo exits $rc"; tail -20 <<<"$out" | sed 's/^/#   /'; fi
for step in "run -d" "status demo-hello" "stop demo-hello" "rm demo-hello"; do
  grep -q "^\$ .*firec-run $step" <<<"$out" || missing="$missing [$step]"
done
if [ -z "${missing:-}" ]; then echo "ok 2 - it runs, shows, stops and removes the VM"; else
  echo "not ok 2 - steps missing:$missing"; fi
if grep -q "ran and was removed; nothing is left" <<<"$out"; then echo "ok 3 - and says that nothing is left"; else
  echo "not ok 3 - and says that nothing is left"; fi
