#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# api-fields.sh against the doubles playing Firecracker 1.16 (make check).
if [ -n "${FIREC_TEST_FIRECRACKER:-}" ]; then echo "1..0 # SKIP real binaries: api-fields.sh runs against them"; exit 0; fi
export FAKE_FC_VERSION=1.16.0
. "$top_srcdir/tests/e2e/api-fields.sh"
