#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# TAP devices owned by the run (TAP): a missing TAP is created for the VM's
# uid:gid (in jailer.netns when set) and removed with the VM; an existing one is
# used as it is and survives; one the VM could not open is a preflight error
# naming the field and the fix; a crash at any instant leaves a TAP `rm` finds;
# a TAP someone made again under the name is not ours to remove.
. "$top_srcdir/tests/e2e/lib.sh"
has_jailer || skip_all "the TAP ownership cases need the jailer (a VM uid)"

json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else json.dumps(v) if isinstance(v,(list,dict)) else str(v).lower() if isinstance(v,bool) else v)' "$1"; }
set_field() { # set_field FILE PYTHON-STATEMENT (m is the manifest)
  "$PYTHON3" -c "import json,sys; p=sys.argv[1]; m=json.load(open(p)); $2; json.dump(m, open(p, 'w'))" "$1"
}
tap_of() { echo "$(tap_prefix "$1")0"; }
# link NAME [NETNS]: `ip -d link show` of a device, in the host's or a namespace.
link() {
  if [ -n "${2:-}" ]; then nsenter --net="$2" ip -d link show "$1" 2>/dev/null; else ip -d link show "$1" 2>/dev/null; fi
}
exists() { link "$@" >/dev/null; }
nothing_left() { [ -z "$(leftovers "$1")" ]; }
# Nothing but (maybe) TAP devices, which the refused cases make themselves.
nothing_started() { [ -z "$(leftovers "$1" | grep -v '^tap')" ]; }
force_clean() { # force_clean NAME: after a failed case
  "$FIREC_RUN" rm -f "$1" >/dev/null 2>&1
  ip link delete "$(tap_of "$1")" 2>/dev/null
  [ -n "${FIREC_TEST_NETNS:-}" ] && nsenter --net="$FIREC_TEST_NETNS" ip link delete "$(tap_of "$1")" 2>/dev/null
  return 0
}

# --- a missing TAP: made for the VM, listed by status, removed by rm ----------------
name=e2e-net
prepare rootfs "$name"
tap=$(tap_of "$name")
uid=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["jailer"]["uid"])' "$WORK/$name/vm.json")
check "the TAP does not exist before the run" sh -c "! ip link show '$tap' >/dev/null 2>&1"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a VM whose TAP does not exist starts (exit $rc)" test "$rc" -eq 0
[ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/$name/stderr"
check "the TAP exists, a persistent TAP of the VM's uid and gid" sh -c "ip -d link show '$tap' | grep -q 'tun type tap .*persist on user $uid group $uid'"
check "it is up, and Firecracker has it open (carrier)" sh -c "ip link show '$tap' | grep -q 'UP,LOWER_UP'"
ifaces=$("$FIREC_RUN" status --output json "$name" | json_field interfaces)
check "status --output json lists the interface, its TAP and that firec-run owns it" \
  "$PYTHON3" -c 'import json,sys; i=json.loads(sys.argv[1]); sys.exit(0 if i==[{"iface_id":"eth0","host_dev_name":sys.argv[2],"netns":None,"owned":True}] else 1)' "$ifaces" "$tap"
check "ps --output json too" sh -c "'$FIREC_RUN' ps --output json | grep -q '\"host_dev_name\":[[:space:]]*\"$tap\"'"
check "status in text names it" sh -c "'$FIREC_RUN' status '$name' | grep -q 'eth0 .*$tap.*created by firec-run'"
"$FIREC_RUN" rm -f "$name" 2>/dev/null; rc=$?
check "rm removes it (exit $rc)" sh -c "[ $rc -eq 0 ] && ! ip link show '$tap' >/dev/null 2>&1"
check "and nothing else is left" clean_after "$name"

# --- an existing TAP is used as it is and survives rm -------------------------------
ip tuntap add "$tap" mode tap user "$uid" group "$uid"
before=$(ip -o link show "$tap" | cut -d: -f1)
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a VM with a TAP of its uid that exists starts (exit $rc)" test "$rc" -eq 0
check "status says the TAP is not firec-run's" sh -c "'$FIREC_RUN' status -o json '$name' | grep -q '\"owned\":[[:space:]]*false'"
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm leaves the pre-existing TAP, the same device" test "$(ip -o link show "$tap" 2>/dev/null | cut -d: -f1)" = "$before"
check "and it is as it was: down, not the run's to set up" sh -c "! ip link show '$tap' | grep -q ',UP'"
ip link delete "$tap"

# --- TAPs Firecracker could not open: preflight (exit 3), the field, the fix ---------
refused() { # refused WHAT GREP: the run exits 3, naming the field's position and GREP
  local what=$1 want=$2
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; local rc=$?
  if [ $rc -eq 3 ] && grep -q "vm.json:[0-9]*:[0-9]*: /spec/network-interfaces/0/host_dev_name: .*$want" "$WORK/$name/stderr"; then
    ok "$what: exit 3 with the position and the fix"
  else
    not_ok "$what: exit 3 with the position and the fix (exit $rc)"; sed 's/^/#   /' "$WORK/$name/stderr"; force_clean "$name"
  fi
  check "$what: nothing was started or made" nothing_started "$name"
}
ip tuntap add "$tap" mode tap user 0
refused "a root-owned TAP" "(owner 0) cannot be opened by the VM's uid:gid $uid:$uid .*ip tuntap add $tap mode tap user $uid group $uid"
check "... and the TAP is untouched (still root's)" sh -c "ip -d link show '$tap' | grep -q 'user root'"
ip link delete "$tap"
ip tuntap add "$tap" mode tap group 0
refused "a TAP of root's group" "(group 0) cannot be opened"
ip link delete "$tap"
ip tuntap add "$tap" mode tap multi_queue user "$uid"
refused "a multi-queue TAP" "multi-queue TAP"
ip link delete "$tap"
ip tuntap add "$tap" mode tun user "$uid"
refused "a TUN device" "TUN (layer 3) device, not a TAP"
ip link delete "$tap"
ip link add "$tap" type bridge
refused "a bridge of that name" "is a bridge device, not a TAP"
ip link delete "$tap"
# In use: another process (another VM) holds it.
ip tuntap add "$tap" mode tap user "$uid" group "$uid"
"$PYTHON3" - "$tap" "$WORK/$name/holding" <<'PY' &
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack("16sH22x", sys.argv[1].encode(), 0x0002 | 0x1000))
open(sys.argv[2], "w").close()
time.sleep(60)
PY
holder=$!
for _ in $(seq 100); do [ -e "$WORK/$name/holding" ] && break; sleep 0.05; done
refused "a TAP another process has open" "is in use: a process has it open (pid $holder (python3))"
kill "$holder"; wait "$holder" 2>/dev/null
ip link delete "$tap"

# --- CAP_NET_ADMIN: needed only to create --------------------------------------------
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$top_srcdir/data/systemd/firec@.service.in" | tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g')
without_net_admin() { setpriv --bounding-set=-all,"$(echo "$caps" | sed 's/,*+net_admin//')" -- "$@"; }
without_net_admin "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
check "without CAP_NET_ADMIN a missing TAP is a preflight error (exit $rc)" sh -c "[ $rc -eq 3 ] && grep -q 'missing capability CAP_NET_ADMIN' '$WORK/$name/stderr'"
ip tuntap add "$tap" mode tap user "$uid" group "$uid"
without_net_admin "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
check "without CAP_NET_ADMIN an existing TAP of the VM's is fine (exit $rc)" test "$rc" -eq 0
without_net_admin "$FIREC_RUN" rm -f "$name" 2>/dev/null; rc=$?
check "... and so is rm, which leaves it (exit $rc)" sh -c "[ $rc -eq 0 ] && ip link show '$tap' >/dev/null"
ip link delete "$tap"

# --- rollback after the TAP step: no TAP ---------------------------------------------
for step in jailer.spawn api.put.network-interfaces.eth0 api.action.InstanceStart; do
  FIREC_TEST_FAULT="fail:$step" "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "a failure at $step rolls back the TAP the run made (exit $rc)" sh -c "[ $rc -eq 1 ] && ! ip link show '$tap' >/dev/null 2>&1"
  force_clean "$name"
done
# Firecracker refusing the TAP after all (the fake's open is the kernel's; a
# real Firecracker cannot be told to refuse).
if [ "$REAL" = 0 ]; then
  FAKE_FC_FAIL_AT="PUT /network-interfaces/eth0" "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "Firecracker answering 400 at PUT /network-interfaces: exit $rc, no TAP" sh -c "[ $rc -eq 1 ] && ! ip link show '$tap' >/dev/null 2>&1"
fi
force_clean "$name"

# --- crashes: SIGKILL of run -d right after the TAP is made, then rm -f -------------
for point in net.tap.eth0/created jailer.spawn; do
  FIREC_TEST_FAULT="SIGKILL:$point" "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1
  check "SIGKILL at $point: the TAP was made" exists "$tap"
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>"$WORK/$name/rm.err"; rc=$?
  check "SIGKILL at $point, then rm -f: exit $rc, no TAP, nothing left" sh -c "[ $rc -eq 0 ]"
  check "... nothing left" nothing_left "$name"
  force_clean "$name"
done
# The attached run's guard does the same when firec-run dies.
FIREC_TEST_FAULT="SIGKILL:net.tap.eth0/created" "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1
for _ in $(seq 200); do [ -z "$(leftovers "$name")" ] && break; sleep 0.05; done
check "attached, SIGKILL right after the TAP is made: the guard removes it" nothing_left "$name"
force_clean "$name"

# --- a TAP made again by someone else under the name is not ours ---------------------
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>/dev/null
"$FIREC_RUN" kill "$name" 2>/dev/null
ip link delete "$tap"; ip tuntap add "$tap" mode tap user "$uid" group "$uid"
"$FIREC_RUN" rm -f "$name" 2>/dev/null; rc=$?
check "rm -f of a VM whose TAP was made again by someone else: exit $rc, that TAP stays" sh -c "[ $rc -eq 0 ] && ip link show '$tap' >/dev/null"
ip link delete "$tap"
# ... also when the run died before it recorded the ifindex: another owner is not ours.
FIREC_TEST_FAULT="SIGKILL:net.tap.eth0/created" "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1
ip link delete "$tap"; ip tuntap add "$tap" mode tap user 0
"$FIREC_RUN" rm -f "$name" 2>/dev/null; rc=$?
check "rm -f after a crash before the ifindex was recorded: exit $rc, a TAP of another owner stays" sh -c "[ $rc -eq 0 ] && ip link show '$tap' >/dev/null"
ip link delete "$tap"
check "nothing else is left" clean_after "$name"

# --- MTU and bridge ------------------------------------------------------------------
bridge="$(tap_prefix "$name")b"
ip link add "$bridge" type bridge
set_field "$WORK/$name/vm.json" "m['spec']['tap'] = {'eth0': {'mtu': 1400, 'bridge': '$bridge'}}"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
check "spec.tap: the TAP is made with its MTU, on the bridge (exit $rc)" sh -c "ip link show '$tap' | grep -q 'mtu 1400 .*master $bridge'"
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm removes the TAP and leaves the bridge" sh -c "! ip link show '$tap' >/dev/null 2>&1 && ip link show '$bridge' >/dev/null"
ip tuntap add "$tap" mode tap user "$uid" group "$uid"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
check "an existing TAP with another MTU, off the bridge: exit $rc, both said with the fix" sh -c "[ $rc -eq 3 ] && grep -q '/spec/tap/eth0: the existing TAP $tap has MTU 1500, not the 1400 asked' '$WORK/$name/stderr' && grep -q 'is not on the bridge $bridge: attach it' '$WORK/$name/stderr'"
ip link delete "$tap"
ip link delete "$bridge"
set_field "$WORK/$name/vm.json" "m['spec']['tap'] = {'eth0': {'bridge': '$bridge'}}"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a bridge that does not exist: exit $rc, said" sh -c "[ $rc -eq 3 ] && grep -q 'the bridge $bridge does not exist' '$WORK/$name/stderr'"
check "and nothing is made" sh -c "! ip link show '$tap' >/dev/null 2>&1"
set_field "$WORK/$name/vm.json" "del m['spec']['tap']"

# --- jailer.netns: the TAP is made in the namespace, never in the host's -------------
if [ -n "${FIREC_TEST_NETNS:-}" ]; then
  set_field "$WORK/$name/vm.json" "m['spec']['jailer']['netns'] = '$FIREC_TEST_NETNS'"
  ip tuntap add "$tap" mode tap user 0   # a host device of that name: not the VM's business
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "with jailer.netns a VM whose TAP is missing there starts (exit $rc)" test "$rc" -eq 0
  [ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/$name/stderr"
  check "the TAP is in the namespace, the VM's, and Firecracker has it open" \
    sh -c "nsenter --net='$FIREC_TEST_NETNS' ip -d link show '$tap' | grep -q 'LOWER_UP' && nsenter --net='$FIREC_TEST_NETNS' ip -d link show '$tap' | grep -q 'user $uid group $uid'"
  check "the host's device of that name is untouched" sh -c "ip -d link show '$tap' | grep -q 'user root'"
  check "status names the namespace" sh -c "'$FIREC_RUN' status -o json '$name' | grep -q '\"netns\":[[:space:]]*\"$FIREC_TEST_NETNS\"'"
  "$FIREC_RUN" rm -f "$name" 2>/dev/null; rc=$?
  check "rm removes the TAP from the namespace (exit $rc)" sh -c "[ $rc -eq 0 ] && ! nsenter --net='$FIREC_TEST_NETNS' ip link show '$tap' >/dev/null 2>&1"
  check "and leaves the host's" sh -c "ip link show '$tap' >/dev/null"
  ip link delete "$tap"
  nsenter --net="$FIREC_TEST_NETNS" ip tuntap add "$tap" mode tap user 0
  refused "a root-owned TAP in jailer.netns" "nsenter --net=$FIREC_TEST_NETNS ip tuntap add $tap mode tap user $uid group $uid"
  nsenter --net="$FIREC_TEST_NETNS" ip link delete "$tap"
  set_field "$WORK/$name/vm.json" "m['spec']['jailer']['netns'] = '$WORK/no-such-netns'"
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "a jailer.netns that does not exist: preflight (exit $rc)" sh -c "[ $rc -eq 3 ] && grep -q 'cannot open the network namespace $WORK/no-such-netns' '$WORK/$name/stderr'"
else
  skip "jailer.netns" "unshare --net cannot make a namespace here"
fi
check "nothing is left at the end" clean_after "$name"
done_testing
