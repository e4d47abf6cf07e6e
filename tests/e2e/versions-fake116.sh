#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# versions.sh against the doubles playing Firecracker 1.16 (make check): the
# branches for releases that know pmem and drop the jailer's name rule.
if [ -n "${FIREC_TEST_FIRECRACKER:-}" ]; then echo "1..0 # SKIP real binaries: versions.sh runs against them"; exit 0; fi
export FAKE_FC_VERSION=1.16.0
. "$top_srcdir/tests/e2e/versions.sh"
