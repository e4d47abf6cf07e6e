#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A new backing file given to a running VM (update drive --path, apply's live
# update of path_on_host) passes the checks a start makes of its files: a
# file another running VM writes (or that this one would write while another
# reads it) is refused with exit 3 naming the drive and the other VM, before
# anything changes (no PATCH, nothing staged, the record as it was); a file
# the VM's uid cannot use as staged is refused the same way. A file a VM was
# given is in its record: a later start that wants it writable is refused.
. "$top_srcdir/tests/e2e/lib.sh"
[ "$REAL" = 0 ] || skip_all "runs several VMs at once; the doubles only"
has_jailer || skip_all "the jail's uid and staging need the jailer"

F=$FIREC_RUN
# edit IN OUT PYTHON: OUT is IN (a manifest) after PYTHON ran on m.
edit() { "$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); exec(sys.argv[3]); json.dump(m, open(sys.argv[2],"w"))' "$@"; }
drive_of() { "$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); print([d for d in m["spec"]["drives"] if d["drive_id"] == "rootfs"][0]["path_on_host"])' "$1"; }
set_drive() { edit "$1" "$2" "[d.update(path_on_host='$3') for d in m['spec']['drives'] if d['drive_id'] == 'rootfs']"; }
changes() { grep -vc '"method":"GET"' "$FAKE_FC_REQUEST_LOG"; }
# What must not move when a change is refused: B's record and manifest, its jail's drives.
b_state() { cat "$FIREC_STATE_DIR/e2e-ub/state.json" "$FIREC_STATE_DIR/e2e-ub/manifest.json"; find "$WORK/jail" -path '*e2e-ub/root/drives*' | sort; }

export FAKE_FC_REQUEST_LOG=$WORK/requests
: >"$FAKE_FC_REQUEST_LOG"; chmod 0666 "$FAKE_FC_REQUEST_LOG"
for v in ua ub uc; do
  prepare rootfs "e2e-$v" || exit 99
  edit "$WORK/e2e-$v/vm.json" "$WORK/e2e-$v/vm.json" 'm["spec"]["run"]["mode"] = "daemon"'
done
"$F" run -d -q "$WORK/e2e-ua/vm.json" >/dev/null 2>&1 || { echo "Bail out! A does not start"; exit 1; }
"$F" run -d -q "$WORK/e2e-ub/vm.json" >/dev/null 2>&1 || { echo "Bail out! B does not start"; exit 1; }
uid=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["jailer"]["uid"])' "$WORK/e2e-ub/vm.json")

# A's writable drive under another name (a hard link): the same file.
a_disk=$WORK/a-alias.ext4
ln "$(drive_of "$WORK/e2e-ua/vm.json")" "$a_disk"

# refused NAME RC: exit 3, naming the drive and A, and B as it was.
refused() {
  [ "$2" = 3 ] || { echo "#   exit $2: $(head -3 "$WORK/err")"; return 1; }
  grep -q "drive rootfs" "$WORK/err" && grep -q "VM e2e-ua" "$WORK/err" || { sed 's/^/#   /' "$WORK/err"; return 1; }
  [ "$(changes)" = "$calls" ] || { echo "#   Firecracker was sent $(($(changes) - calls)) change(s)"; return 1; }
  b_state | cmp -s - "$WORK/b.before" || { echo "#   B's record or jail changed"; return 1; }
}

b_state >"$WORK/b.before"; calls=$(changes)
"$F" update e2e-ub drive rootfs --path "$a_disk" 2>"$WORK/err"; rc=$?
check "update drive --path of a file another VM writes: exit 3 naming it, nothing sent or staged" refused update "$rc"

set_drive "$WORK/e2e-ub/vm.json" "$WORK/ub-on-a.json" "$a_disk"
"$F" apply --check "$WORK/ub-on-a.json" >/dev/null 2>"$WORK/err"; rc=$?
check "apply --check with that file: exit 3 naming it" refused apply-check "$rc"
"$F" apply "$WORK/ub-on-a.json" >/dev/null 2>"$WORK/err"; rc=$?
check "apply with that file: exit 3 naming it, the live update not sent" refused apply "$rc"
check "... at the field's file:line:column" grep -q "ub-on-a.json:[0-9]*:[0-9]*: /spec/drives/[0-9]*/path_on_host (drive rootfs)" "$WORK/err"

# A file the VM's uid may not write, for a writable drive.
head -c 1M /dev/zero >"$WORK/roots.ext4"; chmod 0600 "$WORK/roots.ext4"
"$F" update e2e-ub drive rootfs --path "$WORK/roots.ext4" 2>"$WORK/err"; rc=$?
check "update drive --path of a file the VM's uid cannot write: exit 3, nothing sent or staged" \
  test "$rc/$(grep -c "readable and writable by the VM's uid $uid" "$WORK/err")/$(changes)/$(b_state | cmp -s - "$WORK/b.before" && echo same)" = "3/1/$calls/same"

# A new file of B's own: given, and then B's in its record.
new=$WORK/b-new.ext4
head -c 1M /dev/zero >"$new"; chown "$uid:$uid" "$new"
"$F" update e2e-ub drive rootfs --path "$new" 2>"$WORK/err"; rc=$?
check "update drive --path of a free file: exit 0, PATCH sent" test "$rc/$(changes)" = "0/$((calls + 1))"
set_drive "$WORK/e2e-uc/vm.json" "$WORK/uc-on-b.json" "$new"
"$F" run -d -q "$WORK/uc-on-b.json" >/dev/null 2>"$WORK/err"; rc=$?
check "a start that wants B's new file writable: exit 3 naming B" \
  test "$rc/$(grep -c "is a file the VM e2e-ub .*writes" "$WORK/err")" = 3/1
check "and C left nothing" test -z "$(leftovers e2e-uc)"

# An attached VM given a new file, then detached with Ctrl+] q: its record
# (written by the supervisor at the detach) still names the file.
drive() { PTY_LOG=$WORK/pty.log "$PYTHON3" "$top_srcdir/tests/e2e/pty-drive.py" "$@"; }
prepare rootfs e2e-ud || exit 99
d_uid=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["jailer"]["uid"])' "$WORK/e2e-ud/vm.json")
d_new=$WORK/d-new.ext4
head -c 1M /dev/zero >"$d_new"; chown "$d_uid:$d_uid" "$d_new"
drive 'expect:Ctrl\+\] q' "touch:$WORK/ud-ready" "waitfile:$WORK/ud-updated" "send:\x1dq" "expect:runs on" exit:0 \
  termios:cooked -- "$F" run -q "$WORK/e2e-ud/vm.json" 2>"$WORK/ud.drive" &
driver=$!
for i in $(seq 200); do [ -e "$WORK/ud-ready" ] && break; sleep 0.05; done
"$F" update e2e-ud drive rootfs --path "$d_new" 2>"$WORK/err"; rc=$?
touch "$WORK/ud-updated"
wait "$driver"; drc=$?
check "an attached VM given a new file (exit $rc), then detached (exit $drc)" test "$rc/$drc" = 0/0
set_drive "$WORK/e2e-uc/vm.json" "$WORK/uc-on-d.json" "$d_new"
"$F" run -d -q "$WORK/uc-on-d.json" >/dev/null 2>"$WORK/err"; rc=$?
check "a start that wants that file writable after the detach: exit 3 naming the VM" \
  test "$rc/$(grep -c "is a file the VM e2e-ud .*writes" "$WORK/err")" = 3/1

# Two drives of one VM on one file, one of them writable: refused as at a start.
prepare rootfs e2e-ue || exit 99
e_uid=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["jailer"]["uid"])' "$WORK/e2e-ue/vm.json")
head -c 1M /dev/zero >"$WORK/e-data.ext4"; chown "$e_uid:$e_uid" "$WORK/e-data.ext4"
edit "$WORK/e2e-ue/vm.json" "$WORK/e2e-ue/vm.json" 'm["spec"]["run"]["mode"] = "daemon"; m["spec"]["drives"].append({"drive_id": "data", "path_on_host": "'"$WORK/e-data.ext4"'", "is_root_device": False, "is_read_only": True})'
"$F" run -d -q "$WORK/e2e-ue/vm.json" >/dev/null 2>"$WORK/err" || sed 's/^/#   /' "$WORK/err"
calls=$(changes)
"$F" update e2e-ue drive data --path "$(drive_of "$WORK/e2e-ue/vm.json")" 2>"$WORK/err"; rc=$?
check "update of a read-only drive to the file of the VM's writable drive: exit 3 naming it, nothing sent" \
  test "$rc/$(grep -c "is the file of drive rootfs of this VM" "$WORK/err")/$(changes)" = "3/1/$calls"
ln "$WORK/e-data.ext4" "$WORK/e-data-alias.ext4"
"$F" update e2e-ue drive data --path "$WORK/e-data-alias.ext4" 2>"$WORK/err"; rc=$?
check "to its own file under another name (both read-only): exit $rc, sent" test "$rc/$(changes)" = "0/$((calls + 1))"

# A record that changes between a start's preflight and its claim: the claim,
# under the state root's lock, goes by the record as it is then, not as
# preflight read it (a start keeps what it parsed only while the file stays
# the same). F passes preflight with a free drive and is held; B is given
# that file; F, let go, is refused and leaves nothing.
prepare rootfs e2e-uf || exit 99
f_disk=$WORK/f-disk.ext4
head -c 1M /dev/zero >"$f_disk"; chown "$uid:$uid" "$f_disk"
set_drive "$WORK/e2e-uf/vm.json" "$WORK/e2e-uf/vm.json" "$f_disk"
edit "$WORK/e2e-uf/vm.json" "$WORK/e2e-uf/vm.json" 'm["spec"]["run"]["mode"] = "daemon"'
FIREC_TEST_FAULT=SIGSTOP:state.create "$F" run -d -q "$WORK/e2e-uf/vm.json" >/dev/null 2>"$WORK/uf.err" &
held=$!
if wait_stopped "$held"; then
  "$F" update e2e-ub drive rootfs --path "$f_disk" 2>"$WORK/err"; rc=$?
  kill -CONT "$held"
else
  rc=stopped-never
  kill -CONT "$held" 2>/dev/null
fi
wait "$held"; frc=$?
check "a start held after preflight while another VM is given its drive (update exit $rc): exit 3 naming that VM" \
  sh -c "[ '$rc/$frc' = 0/3 ] && grep -q 'another run started meanwhile' '$WORK/uf.err' && grep -q 'e2e-ub' '$WORK/uf.err'" ||
  sed 's/^/#   /' "$WORK/uf.err"
check "... and leaves nothing" test -z "$(leftovers e2e-uf)"

"$F" rm -f e2e-ua e2e-ub e2e-uc e2e-ud e2e-ue e2e-uf >/dev/null 2>&1
done_testing
