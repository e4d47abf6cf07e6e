#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the copy of the manifest schema that firec-run compiles to validate:
the same schema without its annotations for people (description, title,
examples, $comment), minified. Parsing those ~30 KB of prose cost every
firec-run invocation about 0.85M instructions; they stay in
schemas/firec-vm.v1alpha1.schema.json, which `firec-run schema` prints and
editors read. The result is committed (src/libfirec/schema-validation.json) so
that building needs no Python; tests/unit/check-validation-schema.sh fails when
it is stale. Usage: validation-schema.py SCHEMA > OUT"""
import json
import sys

PROSE = {"description", "title", "examples", "$comment"}
SCHEMA_MAPS = {"properties", "patternProperties", "$defs"}
SCHEMA_ONE = {"items", "additionalProperties", "not", "propertyNames"}
SCHEMA_LISTS = {"oneOf", "anyOf", "allOf"}


def strip(schema):
    """Drops prose keywords where a schema is, never inside values (default,
    const, enum) or from property names."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in PROSE:
            continue
        if key in SCHEMA_MAPS:
            value = {name: strip(sub) for name, sub in value.items()}
        elif key in SCHEMA_ONE:
            value = strip(value)
        elif key in SCHEMA_LISTS:
            value = [strip(sub) for sub in value]
        out[key] = value
    return out


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    sys.stdout.write(json.dumps(strip(schema), separators=(",", ":"), ensure_ascii=False) + "\n")
