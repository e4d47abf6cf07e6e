#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Every request body in every golden plan must validate against the matching
definition of Firecracker's own API spec (../shared/firecracker/swagger-latest.yaml,
when present beside the checkout). Definitions are made strict (no unknown fields)
where Firecracker's serde types deny unknown fields. Prints TAP."""
import glob
import json
import os
import re
import sys

srcdir = os.environ["top_srcdir"]
spec_path = os.environ.get("FIREC_SWAGGER") or os.path.join(
    srcdir, "..", "shared", "firecracker", "swagger-latest.yaml")
try:
    import jsonschema
    import yaml
except ImportError:
    print("1..0 # SKIP python3-jsonschema or python3-yaml is not installed")
    sys.exit(0)
if not os.path.exists(spec_path):
    print(f"1..0 # SKIP {spec_path} is not present")
    sys.exit(0)

swagger = yaml.safe_load(open(spec_path))
definitions = swagger["definitions"]
# Firecracker accepts unknown fields only in these (api-reference.md section 4).
lenient = {"TokenBucket", "Metrics", "MmdsContentsObject", "NetworkOverride", "VsockOverride",
           "BalloonStartCmd", "CpuConfig"}
# PyYAML reads the enum value Off as a YAML 1.1 boolean; Firecracker's logger level
# is case-insensitive and also takes Warn (api-reference.md section 3.10).
definitions["Logger"]["properties"]["level"]["enum"] = [
    "Error", "Warning", "Warn", "Info", "Debug", "Trace", "Off"]
for name, d in definitions.items():
    if name not in lenient and d.get("type") == "object" and "properties" in d:
        d.setdefault("additionalProperties", False)

def body_schema(method, path):
    for template, ops in swagger["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in ops:
            for p in ops[method.lower()].get("parameters", []):
                if p.get("in") == "body":
                    return p["schema"]
    return None

n = 0
for golden in sorted(glob.glob(os.path.join(srcdir, "tests", "plans", "golden", "*", "*.json"))):
    plan = json.load(open(golden))
    for step in plan["steps"]:
        request = step.get("request")
        if not request or request["body"] is None:
            continue
        n += 1
        name = f"{os.path.relpath(golden, srcdir)} {step['id']}"
        schema = body_schema(request["method"], request["path"])
        if schema is None:
            print(f"not ok {n} - {name}: {request['method']} {request['path']} is not in the spec")
            continue
        root = {"definitions": definitions, **schema}
        errors = list(jsonschema.Draft4Validator(root).iter_errors(request["body"]))
        if errors:
            print(f"not ok {n} - {name}")
            for e in errors[:3]:
                print(f"#   {'/'.join(map(str, e.absolute_path))}: {e.message}")
        else:
            print(f"ok {n} - {name}: body matches the spec")
print(f"1..{n}")
