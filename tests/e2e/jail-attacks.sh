#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Attacks from inside the jail (TAP). The jail root belongs to the VM's uid, which
# is hostile: while its VM runs it plants symlinks, FIFOs, hard links and deep
# trees there, or (with the doubles' FAKE_FC_SNAPSHOT_HOSTILE) Firecracker itself
# hands back something other than the files it was asked to write. `snapshot
# create`, `update drive`, the socket directories and `rm` must never follow any
# of it to the host, and an operation that fails must change nothing: no file at
# the user's paths, nothing new in the jail, the VM running as before.
: "${top_srcdir:?}"
. "$top_srcdir/tests/e2e/lib.sh" || exit 99
[ "$REAL" = 1 ] && skip_all "plants files as the doubles' jail uid and uses their hostile-VMM knobs"

json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }
status_of() { "$FIREC_RUN" status --output json "$1" 2>/dev/null | json_field state; }
root_of() { json_field vm_root <"$FIREC_STATE_DIR/$1/state.json"; }
# What the jail holds, as the host sees it (name, type, owner, mode).
jail_listing() { (cd "$(root_of "$1")" && find . -printf '%p %y %u %m\n' | sort); }
# A file or directory as a user cares about it.
identity() { stat -c '%u:%g %a %h %s %Y' "$1" && { [ -d "$1" ] || sha256sum <"$1"; }; }
REQ=$WORK/requests.log
: >"$REQ"; chmod 0666 "$REQ"
# start EXAMPLE NAME [ENV=VALUE...]: a detached VM of the doubles.
start() {
  local example=$1 name=$2; shift 2
  prepare "$example" "$name" || return 1
  env FAKE_FC_REQUEST_LOG="$REQ" "$@" "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err" ||
    { sed 's/^/#   /' "$WORK/$name/run.err"; return 1; }
}
# The requests since line MARK of the log that could change the VM (all but GETs).
changes_since() { tail -n +"$(($1 + 1))" "$REQ" | grep -v '"method":"GET"'; }
mkdir -p "$WORK/out"

# --- snapshot create: symlinks planted by the jail uid --------------------------
name=e2e-snap
start hello "$name" || not_ok "the VM for the snapshot attacks starts"
root=$(root_of "$name")

# root/snapshot-out -> a host directory owned by root
victim_dir=$WORK/victim-dir
mkdir -m 0755 "$victim_dir"
before=$(identity "$victim_dir")
as_jail ln -s "$victim_dir" "$root/snapshot-out"
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/a.snap" --mem "$WORK/out/a.mem" 2>"$WORK/$name/a.err"; rc=$?
check "root/snapshot-out -> a host dir: the host dir keeps its owner and mode" test "$(identity "$victim_dir")" = "$before"
check "... and the snapshot is taken all the same (exit $rc)" test "$rc" -eq 0 -a -f "$WORK/out/a.snap" -a ! -L "$WORK/out/a.snap"
[ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/$name/a.err"
as_jail rm -f "$root/snapshot-out"

# root/snapshot-out/b.snap -> a setuid host file (and the same path inside the
# jail, so that Firecracker, which resolves it in its chroot, writes there)
victim=$WORK/victim-file
printf 'precious\n' >"$victim"; chmod 4755 "$victim"
before=$(identity "$victim")
as_jail mkdir -p "$root/snapshot-out" "$root$WORK"
as_jail touch "$root$victim"
as_jail ln -s "$victim" "$root/snapshot-out/b.snap"
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/b.snap" --mem "$WORK/out/b.mem" 2>"$WORK/$name/b.err"; rc=$?
check "snapshot-out/b.snap -> a setuid host file: the host file keeps its mode, owner and content" \
  test "$(identity "$victim")" = "$before"
check "... and the user's snapshot is a regular file of root's, mode 0600, not a link (exit $rc)" \
  test ! -L "$WORK/out/b.snap" -a -f "$WORK/out/b.snap" -a "$(stat -c '%u %a %h' "$WORK/out/b.snap" 2>/dev/null)" = "0 600 1"
top=${WORK#/}; top=/${top%%/*}
as_jail rm -rf "$root/snapshot-out" "$root$top"
check "the VM runs after the snapshots" test "$(status_of "$name")" = running

# --- snapshot create: destinations are checked before the VM is paused ---------
listing=$(jail_listing "$name")
mark=$(wc -l <"$REQ")
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/no/such/dir/c.snap" --mem "$WORK/out/c.mem" 2>"$WORK/$name/c.err"; rc=$?
check "a destination directory that does not exist: refused with exit 3 (got $rc)" test "$rc" -eq 3
check "... naming it" grep -q "$WORK/no/such/dir" "$WORK/$name/c.err"
check "... before the VM was paused: no request reached Firecracker" test -z "$(changes_since "$mark")"
check "... nothing at the other destination, nothing new in the jail" \
  test ! -e "$WORK/out/c.mem" -a "$(jail_listing "$name")" = "$listing"

mark=$(wc -l <"$REQ")
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/same" --mem "$WORK/out/./same" 2>"$WORK/$name/d.err"; rc=$?
check "the same file as --snapshot and --mem: refused (exit $rc), nothing written" \
  test "$rc" -ne 0 -a ! -e "$WORK/out/same" -a -z "$(changes_since "$mark")"

mark=$(wc -l <"$REQ")
"$FIREC_RUN" snapshot create "$name" --snapshot "$root/in-jail.snap" --mem "$WORK/out/in-jail.mem" 2>"$WORK/$name/j.err"; rc=$?
check "a destination in a directory of the jail uid's: refused with exit 3 (got $rc), nothing paused" \
  test "$rc" -eq 3 -a -z "$(changes_since "$mark")" -a "$(jail_listing "$name")" = "$listing"
check "... saying why" grep -q "belongs to the VM's uid" "$WORK/$name/j.err"

printf 'an older snapshot\n' >"$WORK/out/old.snap"; printf 'its memory\n' >"$WORK/out/old.mem"
ln "$WORK/out/old.snap" "$WORK/out/old.snap.keep"
before=$(identity "$WORK/out/old.snap"; identity "$WORK/out/old.mem")
mark=$(wc -l <"$REQ")
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/old.snap" --mem "$WORK/out/old.mem" 2>"$WORK/$name/e.err"; rc=$?
check "existing destinations without --force: refused with exit 3 (got $rc)" test "$rc" -eq 3
check "... they keep their content, and Firecracker was not asked anything" \
  test "$(identity "$WORK/out/old.snap"; identity "$WORK/out/old.mem")" = "$before" -a -z "$(changes_since "$mark")"
check "... the message says how to replace them" grep -q -- "--force" "$WORK/$name/e.err"

"$FIREC_RUN" snapshot create "$name" --force --snapshot "$WORK/out/old.snap" --mem "$WORK/out/old.mem" 2>"$WORK/$name/f.err"; rc=$?
check "--force replaces existing destinations (exit $rc)" \
  test "$rc" -eq 0 -a "$(head -c 28 "$WORK/out/old.snap")" = "fake-firecracker snapshot v1"
check "... by rename, never in place: the old file's other name keeps the old content" \
  test "$(cat "$WORK/out/old.snap.keep")" = "an older snapshot"

# A destination on another filesystem: the result is copied, still never in place.
mkdir -p "$WORK/other-fs"
if mount -t tmpfs -o size=512m firec-e2e "$WORK/other-fs" 2>/dev/null; then
  printf 'old\n' >"$WORK/other-fs/x.snap"; ln "$WORK/other-fs/x.snap" "$WORK/other-fs/x.keep"
  "$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/other-fs/x.snap" --mem "$WORK/other-fs/x.mem" 2>/dev/null; rc=$?
  check "another filesystem, existing destination without --force: refused, untouched (exit $rc)" \
    test "$rc" -eq 3 -a "$(cat "$WORK/other-fs/x.snap")" = old -a ! -e "$WORK/other-fs/x.mem"
  "$FIREC_RUN" snapshot create "$name" --force --snapshot "$WORK/other-fs/x.snap" --mem "$WORK/other-fs/x.mem" 2>"$WORK/$name/g.err"; rc=$?
  check "another filesystem with --force: a copy replaces it by rename (exit $rc)" \
    test "$rc" -eq 0 -a "$(cat "$WORK/other-fs/x.keep")" = old -a "$(stat -c '%u %a %h' "$WORK/other-fs/x.snap")" = "0 600 1"
  check "... the memory file keeps its holes (sparse copy)" \
    test "$(stat -c %b "$WORK/other-fs/x.mem")" -lt 1024 -a "$(stat -c %s "$WORK/other-fs/x.mem")" -gt 1000000
  [ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/$name/g.err"
  umount -l "$WORK/other-fs"
else
  ok "# SKIP another filesystem needs a tmpfs mount"; ok "# SKIP"; ok "# SKIP"
fi

kernel=$(head -1 "$WORK/$name/inputs")
before=$(identity "$kernel")
"$FIREC_RUN" snapshot create "$name" --force --snapshot "$kernel" --mem "$WORK/out/k.mem" 2>"$WORK/$name/h.err"; rc=$?
check "--force onto a file the VM uses (its kernel): refused (exit $rc), the file unchanged" \
  test "$rc" -ne 0 -a "$(identity "$kernel")" = "$before" -a ! -e "$WORK/out/k.mem"
check "... the message names the file" grep -q "$kernel" "$WORK/$name/h.err"
check "the VM runs after the refusals" test "$(status_of "$name")" = running
"$FIREC_RUN" pause "$name" 2>/dev/null
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/p.snap" --mem "$WORK/out/p.mem" 2>/dev/null; rc=$?
check "a paused VM: snapshot taken and the VM left paused (exit $rc)" test "$rc" -eq 0 -a "$(status_of "$name")" = paused
"$FIREC_RUN" resume "$name" 2>/dev/null
check "after all the snapshots, the jail holds nothing new" test "$(jail_listing "$name")" = "$listing"

# --- the API socket swapped for a symlink to another socket of the host --------
# A root-owned service's socket stands in; it logs the request lines it gets.
decoy=$WORK/decoy.sock
"$PYTHON3" - "$decoy" "$WORK/decoy.log" <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(8)
log = open(sys.argv[2], "a", buffering=1)
while True:
    c, _ = s.accept()
    data = c.recv(65536).decode(errors="replace")
    log.write(data.split("\r\n", 1)[0] + "\n")
    c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    c.close()
PY
decoy_pid=$!
for i in $(seq 100); do [ -S "$decoy" ] && break; sleep 0.05; done
sock=$(json_field api_socket <"$FIREC_STATE_DIR/$name/state.json")
as_jail mv "$sock" "$sock.real"
as_jail ln -s "$decoy" "$sock"
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/s.snap" --mem "$WORK/out/s.mem" 2>"$WORK/$name/s.err"; rc=$?
check "the API socket swapped for a symlink to a host socket: refused (exit $rc)" test "$rc" -ne 0 -a ! -e "$WORK/out/s.snap"
check "... the host socket got no request at all (not even the status probe's GET)" test ! -s "$WORK/decoy.log"
"$FIREC_RUN" update "$name" drive rootfs --rate-limiter '{"ops": {"size": 5, "refill_time": 100}}' 2>/dev/null; rc=$?
check "... nor from update drive (exit $rc)" test "$rc" -ne 0 -a ! -s "$WORK/decoy.log"
for cmd in "pause" "resume" "metrics flush" "balloon stats" "status"; do
  "$FIREC_RUN" $cmd "$name" >/dev/null 2>&1
done
check "... nor from pause, resume, metrics flush, balloon stats or status" test ! -s "$WORK/decoy.log"
as_jail rm "$sock"; as_jail mv "$sock.real" "$sock"
kill "$decoy_pid" 2>/dev/null; wait "$decoy_pid" 2>/dev/null
check "the VM runs after the socket was put back" test "$(status_of "$name")" = running
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# --- snapshot create: Firecracker fails, or hands back something else -----------
fails_cleanly() { # fails_cleanly WHAT NAME ERROR_PATTERN
  local what=$1 name=$2 pattern=$3 listing rc
  listing=$(jail_listing "$name")
  "$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/$name.snap" --mem "$WORK/out/$name.mem" 2>"$WORK/$name/s.err"; rc=$?
  check "$what: exit 1 (got $rc)" test "$rc" -eq 1
  check "$what: the message says why" grep -q -- "$pattern" "$WORK/$name/s.err" ||
    sed 's/^/#   /' "$WORK/$name/s.err"
  check "$what: nothing at the destinations" test ! -e "$WORK/out/$name.snap" -a ! -L "$WORK/out/$name.snap" -a ! -e "$WORK/out/$name.mem"
  check "$what: nothing new in the jail" test "$(jail_listing "$name")" = "$listing"
  check "$what: the VM was resumed" test "$(status_of "$name")" = running
}
start hello e2e-snapfail FAKE_FC_FAIL_AT="PUT /snapshot/create" &&
  fails_cleanly "Firecracker refuses the snapshot" e2e-snapfail "injected failure"
printf 'precious\n' >"$victim"; chmod 4755 "$victim"; before=$(identity "$victim")
start hello e2e-snapsym FAKE_FC_SNAPSHOT_HOSTILE="symlink:$victim" &&
  fails_cleanly "the snapshot file is a symlink to a host file" e2e-snapsym "not a regular file"
check "... whose target is untouched" test "$(identity "$victim")" = "$before"
start hello e2e-snaplink FAKE_FC_SNAPSHOT_HOSTILE=hardlink &&
  fails_cleanly "the memory file has a second name" e2e-snaplink "links"
start hello e2e-snapfifo FAKE_FC_SNAPSHOT_HOSTILE=fifo &&
  fails_cleanly "the snapshot file is a FIFO" e2e-snapfifo "not a regular file"
start hello e2e-snapdir FAKE_FC_SNAPSHOT_HOSTILE=dir &&
  fails_cleanly "the snapshot file is a directory" e2e-snapdir "not a regular file"
hostile="e2e-snapfail e2e-snapsym e2e-snaplink e2e-snapfifo e2e-snapdir"
for vm in $hostile; do "$FIREC_RUN" rm -f "$vm" >/dev/null 2>&1; done
left=0; for vm in $hostile; do clean_after "$vm" >/dev/null || left=$((left + 1)); done
check "rm of those VMs leaves nothing ($left with leftovers)" test "$left" -eq 0

# --- update drive ----------------------------------------------------------------
name=e2e-upd
start mmds "$name" || not_ok "the VM for the update attacks starts"
root=$(root_of "$name")
cp "$(head -1 "$WORK/$name/inputs")" "$WORK/$name/other.img"; chown "$JAIL_UID:$JAIL_UID" "$WORK/$name/other.img"
elsewhere=$WORK/elsewhere
mkdir -p "$elsewhere/rootfs"; printf 'host data\n' >"$elsewhere/rootfs/other.img"
before=$(find "$elsewhere" -printf '%p %y %u %m %s\n' | sort)
as_jail mv "$root/drives" "$root/drives.moved"
as_jail ln -s "$elsewhere" "$root/drives"
"$FIREC_RUN" update "$name" drive rootfs --path "$WORK/$name/other.img" 2>"$WORK/$name/u.err"; rc=$?
check "update drive with root/drives -> a host dir: refused (exit $rc)" test "$rc" -ne 0
check "... as a symbolic link in the jail, not followed to what is behind it" grep -q "symbolic link" "$WORK/$name/u.err" ||
  sed 's/^/#   /' "$WORK/$name/u.err"
check "... the host dir is untouched" test "$(find "$elsewhere" -printf '%p %y %u %m %s\n' | sort)" = "$before"
as_jail rm "$root/drives"; as_jail mv "$root/drives.moved" "$root/drives"
check "update drive works once the jail is back as it was" "$FIREC_RUN" update "$name" drive rootfs --path "$WORK/$name/other.img"
"$FIREC_RUN" rm -f "$name" 2>/dev/null

name=e2e-updfail
start mmds "$name" FAKE_FC_FAIL_AT="PATCH /drives/rootfs" || not_ok "the VM for the failing update starts"
cp "$(head -1 "$WORK/$name/inputs")" "$WORK/$name/new.img"; chown "$JAIL_UID:$JAIL_UID" "$WORK/$name/new.img"
listing=$(jail_listing "$name")
"$FIREC_RUN" update "$name" drive rootfs --path "$WORK/$name/new.img" 2>"$WORK/$name/u.err"; rc=$?
check "update drive that Firecracker refuses: exit 1 (got $rc)" test "$rc" -eq 1
check "... the new file is taken out of the jail again" test "$(jail_listing "$name")" = "$listing"
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm of the update VMs leaves nothing" eval 'clean_after e2e-upd && clean_after e2e-updfail'

# --- socket directories ----------------------------------------------------------
name=e2e-sockdir
prepare hello "$name"
"$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); m["spec"]["firecracker"]["api_socket"]="/run/../../../escaped/api.sock"; json.dump(m, open(sys.argv[1],"w"))' "$WORK/$name/vm.json"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" >/dev/null 2>"$WORK/$name/run.err"; rc=$?
"$FIREC_RUN" rm -f "$WORK/$name/vm.json" >/dev/null 2>&1
check "an api_socket with .. creates nothing outside the VM root (exit $rc)" \
  test "$rc" -ne 0 -a ! -e "$WORK/jail/fake-firecracker/escaped" -a ! -e "$WORK/jail/escaped"

# --- rm of a jail the jail uid filled -------------------------------------------
name=e2e-deep
start hello "$name" || not_ok "the VM for the deep tree starts"
root=$(root_of "$name")
canary=$WORK/canary
mkdir -p "$canary"; printf 'keep me\n' >"$canary/file"
before=$(find "$canary" -printf '%p %y %u %m %s\n' | sort)
# (the system's python: the jail uid cannot reach a per-user one)
as_jail /usr/bin/python3 - "$root" "$canary" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for i in range(1100):
    os.mkdir("d", 0o700, dir_fd=fd)
    if i % 100 == 0:
        os.symlink(sys.argv[2], "to-canary", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.symlink(sys.argv[2] + "/file", "to-canary-file", dir_fd=fd)
os.close(fd)
PY
"$FIREC_RUN" rm -f "$name" 2>"$WORK/$name/rm.err"; rc=$?
check "rm -f of a jail with 1100 nested directories exits 0 (got $rc)" test "$rc" -eq 0
[ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/$name/rm.err"
check "... and leaves nothing" clean_after "$name"
check "... the directory its symlinks pointed to is untouched" \
  test "$(find "$canary" -printf '%p %y %u %m %s\n' | sort)" = "$before"

done_testing
