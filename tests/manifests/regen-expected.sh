#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Rewrites invalid/NAME.expected from the current firec-run. Review the diff:
# the sidecar files are the specification of each message.
set -eu
FIREC_RUN=${FIREC_RUN:-firec-run}
cd "$(dirname "$0")/invalid"
for f in *.yaml; do
  "$FIREC_RUN" validate "$f" 2>"${f%.yaml}.expected" >/dev/null || true
done
