#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: runs examples/hello.yaml through the whole main job on a machine
# without Firecracker (it is not packaged in Debian), using the project's test
# doubles of Firecracker and its jailer: validate, plan, run detached, status,
# logs (its console), stop, rm. Needs root (the jailer path). With FIREC_DEMO_FIRECRACKER and
# FIREC_DEMO_JAILER set (and FIREC_TEST_GUEST holding a kernel and initrd),
# the same steps run against the real binaries.
set -eu
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-$PWD}
run=$top_builddir/firec-run
fc=${FIREC_DEMO_FIRECRACKER:-$top_builddir/tests/doubles/fake-firecracker}
jailer=${FIREC_DEMO_JAILER:-$top_builddir/tests/doubles/fake-jailer}
[ "$(id -u)" -eq 0 ] || { echo "demo: run it as root: the jailer chroots and drops privileges"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/firec-demo.XXXXXX"); chmod 755 "$work"; mkdir -p "$work/jail"
export FIREC_STATE_DIR=$work/state
trap '"$run" rm -f demo-hello >/dev/null 2>&1; rm -rf "$work"' EXIT
say() { printf '\n$ %s\n' "$*"; "$@"; }
say "$run" validate "$top_srcdir/examples/hello.yaml"
say "$run" plan "$top_srcdir/examples/hello.yaml"
# The example names ./vmlinux and ./initrd.cpio.gz and the binaries by name:
# point it at this machine (the doubles, dummy kernel files, a scratch jail).
"$run" render --output json "$top_srcdir/examples/hello.yaml" >"$work/rendered.json"
FIREC_TEST_NAME=demo-hello python3 "$top_srcdir/tests/e2e/prepare.py" "$work/rendered.json" "$work/vm" "$fc" "$jailer" \
  >"$work/hello.json" 3>/dev/null
say "$run" run -d "$work/hello.json"
say "$run" status demo-hello
say "$run" logs --tail 5 demo-hello
say "$run" stop demo-hello
say "$run" rm demo-hello
echo; echo "demo: examples/hello.yaml ran and was removed; nothing is left in $work"
