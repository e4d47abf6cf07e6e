#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# import round trip (TAP): each Firecracker --config-file in tests/import/ is
# imported into a manifest that validates, and that manifest renders back to
# the same configuration (compared as JSON values): dollars.json holds $,
# ${HOME} and $$, which the manifest must keep as they are (written $$).
set -u
: "${FIREC_RUN:?}" "${top_srcdir:?}" "${PYTHON3:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/firec-import.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
for f in "$top_srcdir"/tests/import/*.json; do
  name=$(basename "$f" .json)
  n=$((n + 1))
  if "$FIREC_RUN" import --name "$name" "$f" >"$tmp/$name.yaml" 2>"$tmp/err" \
     && "$FIREC_RUN" validate "$tmp/$name.yaml" >/dev/null 2>>"$tmp/err"; then
    echo "ok $n - $name.json imports into a valid manifest"
  else
    echo "not ok $n - $name.json imports into a valid manifest"; sed 's/^/#   /' "$tmp/err"; continue
  fi
  n=$((n + 1))
  "$FIREC_RUN" render --firecracker-config "$tmp/$name.yaml" >"$tmp/$name.out.json" 2>"$tmp/err"
  "$FIREC_RUN" render --output json "$tmp/$name.yaml" >"$tmp/$name.rendered.json" 2>>"$tmp/err"
  # vsock.uds_path is a VM-root path: without the jailer it lives under the VM's
  # private run directory (x-firec-derived.vm_root); a field newer than 1.5.1
  # (x-firec-since) written with its default value is left out, as absent means
  # the same; everything else is identical.
  if "$PYTHON3" - "$f" "$tmp/$name.out.json" "$tmp/$name.rendered.json" "$top_srcdir/schemas/firec-vm.v1alpha1.schema.json" <<'PY'
import json, sys
want, got, rendered, schema = (json.load(open(p)) for p in sys.argv[1:5])
def resolve(node):
    while "$ref" in node:
        node = {**schema["$defs"][node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    return node
sections = schema["properties"]["spec"]["properties"]
for section, value in want.items():
    sub = resolve(sections[section])
    sub = resolve(sub["items"]) if "items" in sub else sub
    for obj in value if isinstance(value, list) else [value]:
        for key, prop in sub.get("properties", {}).items():
            if "x-firec-since" in prop and "default" in prop and obj.get(key, object()) == prop["default"]:
                del obj[key]
root = rendered["x-firec-derived"]["vm_root"]
if "vsock" in got and got["vsock"]["uds_path"].startswith(root + "/"):
    got["vsock"]["uds_path"] = got["vsock"]["uds_path"][len(root):]
sys.exit(want != got)
PY
  then
    echo "ok $n - $name.json renders back to the same Firecracker configuration"
  else
    echo "not ok $n - $name.json renders back to the same Firecracker configuration"
    diff -u "$f" "$tmp/$name.out.json" | head -30 | sed 's/^/#   /'
  fi
done
n=$((n + 1))
printf '{"boot-source": {"kernel_image_path": "/k"}, "drives": [], "machine_config": {}}' >"$tmp/typo.json"
if ! "$FIREC_RUN" import "$tmp/typo.json" >/dev/null 2>"$tmp/err" && grep -q 'unknown --config-file key "machine_config"' "$tmp/err"; then
  echo "ok $n - an unknown --config-file key is an error (Firecracker would ignore it)"
else
  echo "not ok $n - an unknown --config-file key is an error"; sed 's/^/#   /' "$tmp/err"
fi
n=$((n + 1))
cp "$top_srcdir/tests/import/minimal.json" "$tmp/-- odd name.json"
if "$FIREC_RUN" import "$tmp/-- odd name.json" >"$tmp/odd.yaml" 2>"$tmp/err" && grep -q '^  name: odd-name$' "$tmp/odd.yaml" \
   && "$FIREC_RUN" validate "$tmp/odd.yaml" >/dev/null 2>>"$tmp/err"; then
  echo "ok $n - a name from the file name starts with a letter or digit, never '-' (it is the jailer's --id)"
else
  echo "not ok $n - a name from the file name starts with a letter or digit"; sed 's/^/#   /' "$tmp/err" "$tmp/odd.yaml"
fi
echo "1..$n"
