#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks what `firec-run ... --output json` printed on standard output against
the result contract: exactly one JSON object, valid against
schemas/firec-result.v1.schema.json, naming the command that ran, and whose
error agrees with the exit status (null on 0 and on the answers of status and
diff, else error.exit_code is the exit status). Prints the problems found, one
a line, and exits 1 if there are any.

Usage: check-result.py SCHEMA COMMAND EXIT_STATUS STDOUT_FILE"""
import json
import sys

try:
    import jsonschema
except ImportError:
    print("python3-jsonschema is not installed")
    sys.exit(77)

schema_path, command, status, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
text = open(out_path).read()
problems = []
try:
    result = json.loads(text)
except ValueError as e:
    print(f"stdout is not exactly one JSON document ({e}): {text[:300]!r}")
    sys.exit(1)
if not isinstance(result, dict):
    print(f"stdout is not an object: {text[:200]!r}")
    sys.exit(1)
validator = jsonschema.Draft202012Validator(json.load(open(schema_path)))
for e in sorted(validator.iter_errors(result), key=str):
    where = "/".join(str(p) for p in e.absolute_path)
    problems.append(f"schema: /{where}: {e.message[:300]}")
if result.get("command") != command:
    problems.append(f"command is {result.get('command')!r}, not {command!r}")
error = result.get("error")
answer = command in ("status", "diff") and status == 1
if status == 0 or answer:
    if error is not None:
        problems.append(f"exit {status} but error is {error!r}")
elif not isinstance(error, dict) or error.get("exit_code") != status:
    problems.append(f"exit {status} but error is {error!r}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
