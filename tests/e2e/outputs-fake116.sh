#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# outputs.sh against the doubles playing Firecracker 1.16 (make check): the
# serial console's output file too, and a Firecracker that creates its outputs.
if [ -n "${FIREC_TEST_FIRECRACKER:-}" ]; then echo "1..0 # SKIP real binaries: outputs.sh runs against them"; exit 0; fi
export FAKE_FC_VERSION=1.16.0
. "$top_srcdir/tests/e2e/outputs.sh"
