#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Ansible collection (TAP): contrib/ansible built and installed with
# ansible-galaxy as a user would, its module compiled and its documentation
# rendered by ansible-doc (the options it documents are the ones it takes, the
# examples use only those), then a playbook (tests/e2e/ansible.yml) that takes
# one VM through firec_vm against the test doubles: present twice (changed,
# then ok); check mode of a change (changed reported, nothing done: the same
# VMM); diff mode (the diff shown); a live change (changed, the same VMM); a
# change that needs a new VM refused without replace, with the reason, then
# made with it (a new VMM); stopped; absent twice; an invalid manifest failing
# with its diagnostics. ansible-test sanity needs the network: this is the
# offline part of it that matters here.
. "$top_srcdir/tests/e2e/lib.sh"
[ "$REAL" = 0 ] || skip_all "the live change is a balloon's, which only the doubles' guest takes"
for tool in ansible-playbook ansible-galaxy ansible-doc; do
  command -v "$tool" >/dev/null 2>&1 || skip_all "$tool is not installed (Debian: ansible-core)"
done

COLLECTION=$top_srcdir/contrib/ansible
MODULE=$COLLECTION/plugins/modules/firec_vm.py
# Ansible as a user who has nothing configured: no ansible.cfg, no ~/.ansible.
mkdir -p "$WORK/ansible/home" "$WORK/ansible/tmp"
: >"$WORK/ansible/ansible.cfg"
export ANSIBLE_CONFIG=$WORK/ansible/ansible.cfg HOME=$WORK/ansible/home
export ANSIBLE_LOCAL_TEMP=$WORK/ansible/tmp ANSIBLE_REMOTE_TEMP=$WORK/ansible/tmp
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_LOCALHOST_WARNING=0
export ANSIBLE_INVENTORY_UNPARSED_WARNING=0 ANSIBLE_COLLECTIONS_PATH=$WORK/ansible/collections
export PYTHONDONTWRITEBYTECODE=1   # nothing written into the (read-only under distcheck) source tree
py=$(command -v "$PYTHON3")
# j FILE EXPR: a Python expression over the JSON in FILE (r), printed.
j() { "$PYTHON3" -c 'import json,sys; r=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(json.dumps(v) if not isinstance(v, str) else v)' "$@"; }
show() { sed 's/^/#   /' "$@" | head -40; }
# checkv FILE DESCRIPTION COMMAND...: check, showing FILE when it fails.
checkv() {
  local file=$1 what=$2; shift 2
  if "$@"; then ok "$what"; else not_ok "$what"; show "$file"; fi
}

# --- the collection --------------------------------------------------------------
"$PYTHON3" -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
  "$MODULE" "$WORK/ansible/firec_vm.pyc" 2>"$WORK/err"
checkv "$WORK/err" "the module compiles (py_compile)" test $? -eq 0
version=$("$FIREC_RUN" --version | sed -n 's/^firec-run //p')
check "galaxy.yml's version is firec's ($version)" grep -qx "version: $version" "$COLLECTION/galaxy.yml"
ansible-galaxy collection build "$COLLECTION" --output-path "$WORK/ansible" >"$WORK/out" 2>&1
tarball=$WORK/ansible/firec-firec-$version.tar.gz
checkv "$WORK/out" "ansible-galaxy collection build makes firec-firec-$version.tar.gz" test -f "$tarball"
ansible-galaxy collection install --offline -p "$ANSIBLE_COLLECTIONS_PATH" "$tarball" >"$WORK/out" 2>&1
installed=$ANSIBLE_COLLECTIONS_PATH/ansible_collections/firec/firec
checkv "$WORK/out" "ansible-galaxy collection install --offline installs the module from it" cmp -s "$MODULE" "$installed/plugins/modules/firec_vm.py"
check "the tarball holds the collection's README and meta/runtime.yml" \
  test -f "$installed/README.md" -a -f "$installed/meta/runtime.yml"
ansible-galaxy collection install --offline -p "$WORK/ansible/from-dir" "$COLLECTION" >"$WORK/out" 2>&1
checkv "$WORK/out" "ansible-galaxy collection install of the directory itself installs it too" \
  cmp -s "$MODULE" "$WORK/ansible/from-dir/ansible_collections/firec/firec/plugins/modules/firec_vm.py"

ansible-doc firec.firec.firec_vm >"$WORK/doc.txt" 2>&1
checkv "$WORK/doc.txt" "ansible-doc renders firec.firec.firec_vm" \
  sh -c "grep -q '^OPTIONS' '$WORK/doc.txt' && grep -q '^EXAMPLES' '$WORK/doc.txt' && grep -q '^RETURN VALUES' '$WORK/doc.txt'"
ansible-doc -M "$COLLECTION/plugins/modules" firec_vm >"$WORK/doc-m.txt" 2>&1
checkv "$WORK/doc-m.txt" "ansible-doc -M renders it from the source tree" grep -q '^OPTIONS' "$WORK/doc-m.txt"
ansible-doc --json firec.firec.firec_vm >"$WORK/doc.json" 2>"$WORK/err"
# What ansible-test's validate-modules would say of the documentation against
# the argument spec the module really uses; and every example's options exist.
"$PYTHON3" - "$WORK/doc.json" "$MODULE" >"$WORK/out" 2>&1 <<'PY'
import ast, json, sys, yaml
# The module's ARGUMENT_SPEC = dict(...), evaluated alone (the module itself
# needs Ansible's module_utils, which this python may not have).
tree = ast.parse(open(sys.argv[2]).read())
node = next(n for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "ARGUMENT_SPEC")
spec = eval(compile(ast.Expression(node.value), sys.argv[2], "eval"), {"__builtins__": {"dict": dict}})
entry = json.load(open(sys.argv[1]))["firec.firec.firec_vm"]
doc, bad = entry["doc"]["options"], []
if set(doc) != set(spec):
    bad.append("documented %s, taken %s" % (sorted(doc), sorted(spec)))
for name in set(doc) & set(spec):
    for key in ("type", "default", "choices"):
        if doc[name].get(key) != spec[name].get(key):
            bad.append("%s: %s documented %r, taken %r" % (name, key, doc[name].get(key), spec[name].get(key)))
    if not doc[name].get("description"):
        bad.append("%s has no description" % name)
for task in yaml.safe_load(entry["examples"]):
    args = task.get("firec.firec.firec_vm")
    if args is not None and not set(args) <= set(spec):
        bad.append("example %r uses %s" % (task["name"], sorted(set(args) - set(spec))))
if not entry["return"] or not all(v.get("description") for v in entry["return"].values()):
    bad.append("RETURN is empty or has a value without a description")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
checkv "$WORK/out" "its documented options are the module's argument spec; examples and RETURN parse" test $? -eq 0

# --- the playbook ------------------------------------------------------------------
name=e2e-ansible
prepare hello "$name" || { not_ok "prepare hello"; done_testing; exit 0; }
dir=$WORK/$name
# edit IN OUT PYTHON: OUT is IN (a manifest) after PYTHON ran on m.
edit() { "$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); exec(sys.argv[3]); json.dump(m, open(sys.argv[2],"w"))' "$@"; }
edit "$dir/vm.json" "$dir/vm.json" 'm["spec"]["balloon"] = {"amount_mib": 16, "deflate_on_oom": True}'
edit "$dir/vm.json" "$dir/live.json" 'm["spec"]["balloon"]["amount_mib"] = 32'
edit "$dir/live.json" "$dir/big.json" 'm["spec"]["machine-config"]["mem_size_mib"] = 256'
printf 'apiVersion: firec/v1alpha1\nkind: MicroVM\nmetadata: {name: %s}\nspec:\n  machine-config: {vcpu_count: many}\n' \
  "$name" >"$dir/bad.yaml"
results=$WORK/ansible/results.json
"$PYTHON3" -c 'import json, sys; k = sys.argv[1::2]; v = sys.argv[2::2]; print(json.dumps(dict(zip(k, v))))' \
  firec_run "$FIREC_RUN" vm_name "$name" vm "$dir/vm.json" live "$dir/live.json" big "$dir/big.json" \
  bad "$dir/bad.yaml" results "$results" >"$WORK/ansible/vars.json"
printf 'localhost ansible_connection=local ansible_python_interpreter=%s\n' "$py" >"$WORK/ansible/inventory"
# FIREC_STATE_DIR and FIREC_CGROUP_ROOT (lib.sh) reach the module through
# ansible-playbook's environment, as a user's would.
ansible-playbook -i "$WORK/ansible/inventory" -e "@$WORK/ansible/vars.json" "$top_srcdir/tests/e2e/ansible.yml" \
  >"$WORK/ansible/play.txt" 2>&1
rc=$?
checkv "$WORK/ansible/play.txt" "the playbook ran (its two expected failures ignored)" test "$rc" -eq 0 -a -f "$results"
[ -f "$results" ] || echo '{}' >"$results"
# r EXPR: EXPR over the results (r: step -> registered result; None: not reached).
r() { j "$results" "$1" 2>/dev/null; }
# status STEP: the VM's state/pid from a registered `firec-run status` step.
status() { r "(lambda s: s['state'] + '/' + str(s['pid']))(__import__('json').loads(r['$1']['stdout']))"; }

pid=$(r 'r["present1"]["pid"]')
check "present: changed, action start, a VMM" \
  test "$(r 'r["present1"]["changed"]')/$(r 'r["present1"]["action"]')/$(r 'r["present1"]["state"]')" = true/start/running -a -n "$pid"
check "present again: ok (changed false, action none), the same VMM" \
  test "$(r 'r["present2"]["changed"]')/$(r 'r["present2"]["action"]')/$(r 'r["present2"]["pid"]')" = "false/none/$pid"
check "it ran firec-run apply --output json with lock_timeout passed on" \
  test "$(r '" ".join(r["present2"]["cmd"][1:])')" = "apply --output json --lock-timeout 10 -- $dir/vm.json"
check "check mode of a live change: changed reported, action update" \
  test "$(r 'r["check_live"]["changed"]')/$(r 'r["check_live"]["action"]')/$(r 'r["check_live"]["result"]["check"]')" = true/update/true
check "and nothing was done: the same VMM, running" test "$(status status_after_check)" = "running/$pid"
check "diff mode: the module's diff has apply --diff's before and after" \
  test "$(r 'r["diff_live"]["diff"]["before"] + r["diff_live"]["diff"]["after"]')" = \
  "$(printf '/spec/balloon/amount_mib: 16\n/spec/balloon/amount_mib: 32\n')"
check "and ansible-playbook shows it" \
  sh -c "grep -qx -- '-/spec/balloon/amount_mib: 16' '$WORK/ansible/play.txt' && grep -qx -- '+/spec/balloon/amount_mib: 32' '$WORK/ansible/play.txt'"
check "the live change: changed, action update, the same VMM" \
  test "$(r 'r["live1"]["changed"]')/$(r 'r["live1"]["action"]')/$(r 'r["live1"]["pid"]')" = "true/update/$pid"
check "firec-run's result is the module's (result), with the differences" \
  test "$(r 'r["live1"]["result"]["command"]')/$(r '[d["path"] for d in r["live1"]["differences"]]')" = 'apply/["/spec/balloon/amount_mib"]'
check "the live change again: ok" test "$(r 'r["live2"]["changed"]')/$(r 'r["live2"]["action"]')" = false/none
check "a change that needs a new VM, without replace: failed, rc 6, action replace" \
  test "$(r 'r["refused"]["failed"]')/$(r 'r["refused"]["rc"]')/$(r 'r["refused"]["action"]')" = true/6/replace
r 'r["refused"]["msg"]' >"$WORK/msg"
checkv "$WORK/msg" "its message names the field and says to set replace: true" \
  grep -q '/spec/machine-config/mem_size_mib: 128 -> 256.*Set replace: true' "$WORK/msg"
check "and its differences say restart" \
  test "$(r '[d["path"] + ":" + d["reconcile"] for d in r["refused"]["differences"]]')" = '["/spec/machine-config/mem_size_mib:restart"]'
check "nothing was changed: the same VMM" test "$(r 'r["refused"]["changed"]')/$(status status_after_refused)" = "false/running/$pid"
newpid=$(r 'r["replaced"]["pid"]')
check "with replace: true, changed, action replace, a new VMM" \
  test "$(r 'r["replaced"]["changed"]')/$(r 'r["replaced"]["action"]')" = true/replace -a -n "$newpid" -a "$newpid" != "$pid"
check "stopped in check mode: changed reported, action stop, the state diff" \
  test "$(r 'r["stop_check"]["changed"]')/$(r 'r["stop_check"]["action"]')/$(r 'r["stop_check"]["diff"]["before"] + r["stop_check"]["diff"]["after"]')" = \
  "true/stop/$(printf 'state: running\nstate: stopped\n')"
check "and the VM still runs, the same VMM" test "$(status status_after_stop_check)" = "running/$newpid"
check "stopped: changed, action stop; the VMM is gone" \
  test "$(r 'r["stopped1"]["changed"]')/$(r 'r["stopped1"]["action"]')/$(status status_after_stop)" = true/stop/exited/None
check "stopped again: ok" test "$(r 'r["stopped2"]["changed"]')/$(r 'r["stopped2"]["action"]')" = false/none
check "absent in check mode: changed reported, action remove, its state kept" \
  test "$(r 'r["absent_check"]["changed"]')/$(r 'r["absent_check"]["action"]')/$(r 'r["absent_check"]["state"]')" = true/remove/exited
check "absent: changed, action remove" test "$(r 'r["absent1"]["changed"]')/$(r 'r["absent1"]["action"]')" = true/remove
check "absent again: ok" test "$(r 'r["absent2"]["changed"]')/$(r 'r["absent2"]["action"]')" = false/none
check "nothing of the VM is left" clean_after "$name"
check "an invalid manifest: failed, rc 2" test "$(r 'r["invalid"]["failed"]')/$(r 'r["invalid"]["rc"]')" = true/2
check "with its diagnostics (file, line, column, path, message)" \
  test "$(r '[(d["file"].endswith("bad.yaml"), d["line"], d["column"], d["message"]) for d in r["invalid"]["diagnostics"] if d["path"] == "/spec/machine-config/vcpu_count"]')" = \
  '[[true, 5, 32, "expected integer, got string \"many\""]]'
r 'r["invalid"]["msg"]' >"$WORK/msg"
checkv "$WORK/msg" "and each of them in its message, as FILE:LINE:COLUMN" \
  sh -c "[ \$(grep -c '^/.*/bad.yaml:[0-9]*:[0-9]*: error: /' '$WORK/msg') -eq 4 ] && grep -q '^/.*/bad.yaml:5:32: error: /spec/machine-config/vcpu_count: expected integer' '$WORK/msg'"
done_testing
