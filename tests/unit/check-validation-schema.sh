#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The schema firec-run validates with (src/libfirec/schema-validation.json) is
# tools/validation-schema.py's output for schemas/firec-vm.v1alpha1.schema.json.
echo "1..1"
if "${PYTHON3:-python3}" "$top_srcdir/tools/validation-schema.py" "$top_srcdir/schemas/firec-vm.v1alpha1.schema.json" |
    cmp -s - "$top_srcdir/src/libfirec/schema-validation.json"; then
  echo "ok 1 - src/libfirec/schema-validation.json is up to date"
else
  echo "not ok 1 - src/libfirec/schema-validation.json is stale: run tools/validation-schema.py schemas/firec-vm.v1alpha1.schema.json >src/libfirec/schema-validation.json"
fi
