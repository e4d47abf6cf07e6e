#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Differential test: every manifest fixture is judged by firec-run's own schema
validator and by python3-jsonschema (Draft 2020-12) on the same loaded tree; the
valid/invalid verdicts must agree. Prints TAP."""
import glob
import json
import os
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    print("1..0 # SKIP python3-jsonschema is not installed")
    sys.exit(0)

srcdir = os.environ["top_srcdir"]
builddir = os.environ["top_builddir"]
helper = os.path.join(builddir, "tests", "manifests", "schema-verdict")
schema = json.load(open(os.path.join(srcdir, "schemas", "firec-vm.v1alpha1.schema.json")))
validator = jsonschema.Draft202012Validator(schema)

files = sorted(glob.glob(os.path.join(srcdir, "tests", "manifests", "*", "*.yaml")))
files += sorted(glob.glob(os.path.join(srcdir, "examples", "*.yaml")))
n = 0
for path in files:
    name = os.path.relpath(path, srcdir)
    verdict = json.loads(subprocess.run([helper, path], check=True, capture_output=True, text=True).stdout)
    if not verdict["loaded"]:
        continue  # a YAML-level rejection: there is no tree to compare
    n += 1
    ours = verdict["schema_valid"]
    errors = list(validator.iter_errors(verdict["instance"]))
    theirs = not errors
    ok = ours == theirs
    print(f"{'ok' if ok else 'not ok'} {n} - {name}: firec {'valid' if ours else 'invalid'}, "
          f"jsonschema {'valid' if theirs else 'invalid'}")
    if not ok:
        for e in errors[:5]:
            print(f"#   jsonschema: {'/'.join(map(str, e.absolute_path))}: {e.message}")
print(f"1..{n}")
