#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The VM's uid turning root's hand against the host (TAP). Firecracker runs as
# the jail uid, which is hostile: besides the jail (jail-attacks.sh) it may own
# files and directories on the host, run processes there, and write into the
# jail before and while firec-run reads it. None of that may make firec-run
# signal a process that is not the VM's, read a file the manifest does not
# name, write or rename outside the places the manifest names, or leave the
# jail uid a way into the user's files.
: "${top_srcdir:?}"
. "$top_srcdir/tests/e2e/lib.sh" || exit 99
[ "$REAL" = 1 ] && skip_all "acts as the doubles' jail uid"

set_field() { # set_field FILE PYTHON-STATEMENT (m is the manifest)
  "$PYTHON3" -c "import json,sys; p=sys.argv[1]; m=json.load(open(p)); $2; json.dump(m, open(p, 'w'))" "$1"
}
json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }
field_of() { "$PYTHON3" -c "import json,sys; m=json.load(open(sys.argv[1])); print($2)" "$1"; }
# plant_pid ROOT PID: as the jail uid, writes PID to the pid file in ROOT as soon
# as firec-run has made ROOT (0700) and the jailer has given it to the jail uid.
plant_pid() {
  ( exec setpriv --reuid="$JAIL_UID" --regid="$JAIL_UID" --clear-groups -- timeout 30 \
      /bin/sh -c "until echo $2 >$1/fake-firecracker.pid; do :; done" 2>/dev/null ) &
}
listing() { (cd "$1" && find . -printf '%p %y %u %m %s\n' | sort; sha256sum ./* 2>/dev/null); }
alive() { kill -0 "$1" 2>/dev/null; }

# --- a pid file planted by the jail uid --------------------------------------------
# With --new-pid-ns the jailer writes Firecracker's pid to <root>/<exec>.pid, in
# the jail root the VM's uid owns: it can be there first with any pid.
name=e2e-pidfile
prepare hello "$name"
set_field "$WORK/$name/vm.json" 'm["spec"]["jailer"]["new_pid_ns"] = True; m["spec"]["run"]["mode"] = "daemon"'
root=$WORK/jail/fake-firecracker/$name/root
sleep 1000 & victim=$!
# (a slow jailer: the jail uid is there first every time)
plant_pid "$root" "$victim"; planter=$!
FAKE_JAILER_PIDFILE_DELAY_MS=300 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
kill "$planter" 2>/dev/null; wait "$planter" 2>/dev/null
check "a pid file naming a host process: the start fails (exit $rc)" test "$rc" -eq 1
check "... saying which pid file names which pid, and why it is not believed" \
  grep -q "fake-firecracker.pid names pid $victim, .*not" "$WORK/$name/run.err" ||
  sed 's/^/#   /' "$WORK/$name/run.err"
check "... the host process lives" alive "$victim"
for cmd in "stop" "kill" "rm -f"; do "$FIREC_RUN" $cmd "$name" >/dev/null 2>&1; done
check "... and lives after stop, kill and rm -f" alive "$victim"
check "... and the Firecracker of that start is gone all the same" clean_after "$name"
kill "$victim"; wait "$victim" 2>/dev/null

# A pid of the jail uid's own, outside the jail, is not the VM's either.
name=e2e-pidfile2
prepare hello "$name"
set_field "$WORK/$name/vm.json" 'm["spec"]["jailer"]["new_pid_ns"] = True; m["spec"]["run"]["mode"] = "daemon"'
root=$WORK/jail/fake-firecracker/$name/root
(cd "$WORK" && exec setpriv --reuid="$JAIL_UID" --regid="$JAIL_UID" --clear-groups sleep 1000) & own=$!
plant_pid "$root" "$own"; planter=$!
FAKE_JAILER_PIDFILE_DELAY_MS=300 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
kill "$planter" 2>/dev/null; wait "$planter" 2>/dev/null
check "a pid file naming a process of the jail uid outside the jail: refused (exit $rc)" \
  test "$rc" -eq 1 -a ! -e "$FIREC_STATE_DIR/$name"
kill "$own" 2>/dev/null; wait "$own" 2>/dev/null
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

# --- rm and the processes whose working directory is the VM root ------------------
name=e2e-cwd
prepare hello "$name"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" || not_ok "the VM for the cwd cases starts"
root=$(json_field vm_root <"$FIREC_STATE_DIR/$name/state.json")
(cd "$root" && exec sleep 1000) & operator=$!
(cd "$root" && exec setpriv --reuid="$JAIL_UID" --regid="$JAIL_UID" --clear-groups sleep 1000) & vmproc=$!
sleep 0.2
"$FIREC_RUN" rm "$name" >/dev/null 2>"$WORK/rm.err"; rc=$?
check "rm of a VM while an operator's process sits in its root: done (exit $rc)" test "$rc" -eq 0
check "... the operator's process lives" alive "$operator"
check "... a process of the VM's uid in its root was the VM's: gone" eval "! alive $vmproc"
kill "$operator" 2>/dev/null; wait "$operator" "$vmproc" 2>/dev/null
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" || not_ok "the VM starts again"
out=$(bash -c "cd '$root' && '$FIREC_RUN' rm '$name' >/dev/null 2>&1; echo rm=\$?; echo survived")
check "rm run from a shell sitting in the VM root: the shell survives ($(echo $out))" test "$out" = "rm=0
survived"
check "... and nothing of the VM is left" clean_after "$name"

# --- outputs below a directory the VM's uid can change -------------------------------
# The VM's uid swaps its directory for a symlink to a root directory: firec-run
# would create, rotate and trim files there.
vmhome=$WORK/vmhome
mkdir -p "$vmhome/logs"; chown -R "$JAIL_UID:$JAIL_UID" "$vmhome"; chmod 0755 "$vmhome"
victim=$WORK/victim
mkdir -m 0755 "$victim"
printf "root's file\n" >"$victim/app.conf"
for k in 1 2 3 4 5; do printf "root's backup %s\n" "$k" >"$victim/app.conf.$k"; done
before=$(listing "$victim")
name=e2e-outdir
prepare hello "$name"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$vmhome/logs/app.conf'}; m['spec']['run']['mode'] = 'daemon'"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
check "log_path in a directory below one of the VM's uid: refused in preflight (exit $rc)" test "$rc" -eq 3
check "... naming the field with its position, and why" \
  grep -q "vm.json:[0-9]*:[0-9]*: /spec/logger/log_path: .*$vmhome.* belongs to the VM's uid $JAIL_UID" "$WORK/$name/run.err" ||
  sed 's/^/#   /' "$WORK/$name/run.err"
check "... nothing made there" test -z "$(ls -A "$vmhome/logs")"
as_jail /bin/sh -c "mv $vmhome/logs $vmhome/logs.real && ln -s $victim $vmhome/logs"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
check "... swapped for a symlink to a root directory: refused (exit $rc), the root directory untouched" \
  test "$rc" -eq 3 -a "$(listing "$victim")" = "$before"

# A directory of root's that the VM's group may write.
shared=$WORK/shared-logs
mkdir -m 0775 "$shared"; chgrp "$JAIL_UID" "$shared"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$shared/vm.log'}"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
check "log_path in a directory the VM's gid may write: refused (exit $rc)" test "$rc" -eq 3
check "... saying why" grep -q "$shared.*writable by the VM's uid $JAIL_UID" "$WORK/$name/run.err" ||
  sed 's/^/#   /' "$WORK/$name/run.err"
# A sticky directory (/tmp-like): the VM's uid can add names there, not swap root's.
sticky=$WORK/sticky
mkdir -m 1777 "$sticky"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$sticky/vm.log'}"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
check "log_path in a sticky world-writable directory: accepted (exit $rc)" test "$rc" -eq 0 ||
  sed 's/^/#   /' "$WORK/$name/run.err"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

# --- inputs below a directory the VM's uid can change --------------------------------
name=e2e-indir
prepare hello "$name"
kernel=$(field_of "$WORK/$name/vm.json" 'm["spec"]["boot-source"]["kernel_image_path"]')
mkdir -p "$vmhome/k"; cp "$kernel" "$vmhome/k/vmlinux"; chown -R "$JAIL_UID:$JAIL_UID" "$vmhome/k"
mkdir -m 0700 "$WORK/secret"; printf 'TOP SECRET root-only data\n' >"$WORK/secret/vmlinux"; chmod 0600 "$WORK/secret/vmlinux"
set_field "$WORK/$name/vm.json" "m['spec']['boot-source']['kernel_image_path'] = '$vmhome/k/vmlinux'; m['spec']['run']['mode'] = 'daemon'"
as_jail /bin/sh -c "mv $vmhome/k $vmhome/k.real && ln -s $WORK/secret $vmhome/k"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
check "kernel_image_path through a directory the VM's uid swapped for a symlink: refused in preflight (exit $rc)" \
  test "$rc" -eq 3
check "... naming the field and the directory" \
  grep -q "/spec/boot-source/kernel_image_path: .*$vmhome" "$WORK/$name/run.err" || sed 's/^/#   /' "$WORK/$name/run.err"
check "... the secret is nowhere in a jail" test -z "$(grep -rl 'TOP SECRET' "$WORK/jail" 2>/dev/null)"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
# A file of the VM's uid in a sticky directory: it may rename its own file
# there, and put a symlink to a root file in its place.
cp "$kernel" "$sticky/vmlinux"; chown "$JAIL_UID:$JAIL_UID" "$sticky/vmlinux"
set_field "$WORK/$name/vm.json" "m['spec']['boot-source']['kernel_image_path'] = '$sticky/vmlinux'"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
check "a kernel of the VM's uid in a sticky directory: refused (exit $rc)" test "$rc" -eq 3
check "... saying the VM's uid can rename it there" grep -q "$sticky/vmlinux.*rename" "$WORK/$name/run.err" ||
  sed 's/^/#   /' "$WORK/$name/run.err"
# A root file there is fine.
chown 0:0 "$sticky/vmlinux"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
check "a root kernel in a sticky directory: accepted (exit $rc)" test "$rc" -eq 0 || sed 's/^/#   /' "$WORK/$name/run.err"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

# The binaries: the jailer is run as root (and probed for its version before).
name=e2e-bindir
prepare hello "$name"
mkdir -p "$vmhome/bin"
cat >"$vmhome/bin/fake-jailer" <<EOF
#!/bin/sh
touch "$WORK/jailer-ran"
exec "$JAILER" "\$@"
EOF
chmod 0755 "$vmhome/bin/fake-jailer"; chown -R "$JAIL_UID:$JAIL_UID" "$vmhome/bin"
set_field "$WORK/$name/vm.json" "m['spec']['jailer']['binary'] = '$vmhome/bin/fake-jailer'"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
check "a jailer binary the VM's uid can change: refused (exit $rc)" test "$rc" -eq 3
check "... naming the field" grep -q "/spec/jailer/binary" "$WORK/$name/run.err" || sed 's/^/#   /' "$WORK/$name/run.err"
check "... and it never ran, not even for its version" test ! -e "$WORK/jailer-ran"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

# The chroot base: rm removes <base>/<exec>/<name> by path.
name=e2e-basedir
prepare hello "$name"
mkdir -p "$vmhome/jails"
set_field "$WORK/$name/vm.json" "m['spec']['jailer']['chroot_base_dir'] = '$vmhome/jails'"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
check "a chroot_base_dir below a directory of the VM's uid: refused (exit $rc)" test "$rc" -eq 3
check "... naming the field" grep -q "/spec/jailer/chroot_base_dir.*$vmhome" "$WORK/$name/run.err" ||
  sed 's/^/#   /' "$WORK/$name/run.err"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

# --- read-only inputs the VM's uid can write ------------------------------------------
name=e2e-rolink
prepare rootfs "$name"
set_field "$WORK/$name/vm.json" 'm["spec"]["run"]["mode"] = "daemon"
for d in m["spec"]["drives"]: d["is_read_only"] = True'
drive=$(field_of "$WORK/$name/vm.json" 'm["spec"]["drives"][0]["path_on_host"]')
chown "$JAIL_UID:$JAIL_UID" "$drive"; chmod 0644 "$drive"
sum=$(sha256sum <"$drive")
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err" || sed 's/^/#   /' "$WORK/$name/run.err"
staged=$(find "$WORK/jail/fake-firecracker/$name/root" -type f -name "$(basename "$drive")" | head -1)
check "a read-only drive the VM's uid can write is staged, not linked" test -n "$staged" -a ! "$staged" -ef "$drive"
[ -n "$staged" ] && as_jail /bin/sh -c "printf 'the jail uid was here' | dd of=$staged conv=notrunc 2>/dev/null"
check "... so the VM writing its copy leaves the user's drive as it was" test "$(sha256sum <"$drive")" = "$sum"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
set_field "$WORK/$name/vm.json" 'm["spec"].setdefault("staging", {}).setdefault("drives", {})[m["spec"]["drives"][0]["drive_id"]] = "link"'
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/run.err"; rc=$?
check "... with staging: link it is refused in preflight (exit $rc)" test "$rc" -eq 3
check "... saying why" grep -q "$drive.*writable by the VM's uid" "$WORK/$name/run.err" || sed 's/^/#   /' "$WORK/$name/run.err"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

# --- snapshot create: the jail keeps write access to the files it made -----------------
name=e2e-snapkeep
prepare hello "$name"
FAKE_FC_SNAPSHOT_HOSTILE=keep "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" || not_ok "the VM for the snapshot starts"
mkdir -p "$WORK/out"
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out/a.snap" --mem "$WORK/out/a.mem" 2>"$WORK/$name/s.err"; rc=$?
check "snapshot create of a VM that keeps its files open: done (exit $rc)" test "$rc" -eq 0 ||
  sed 's/^/#   /' "$WORK/$name/s.err"
mib=$(field_of "$WORK/$name/vm.json" 'm["spec"]["machine-config"]["mem_size_mib"]')
# The next requests make the VM write through the fds it kept (the resume at
# the end of snapshot create is one).
"$FIREC_RUN" status "$name" >/dev/null 2>&1
check "... what the VM writes through them afterwards never reaches the user's files" \
  test "$(head -c 28 "$WORK/out/a.snap")" = "fake-firecracker snapshot v1" -a \
  "$(head -c 64 "$WORK/out/a.mem" | tr -d '\0')" = "" -a "$(stat -c %s "$WORK/out/a.mem")" = $((mib << 20))
check "... the user's files are root's, 0600, with no other name" \
  test "$(stat -c '%u %a %h' "$WORK/out/a.snap" "$WORK/out/a.mem" | sort -u)" = "0 600 1"
check "... (the VM did write: its knob is live)" grep -q "kept snapshot fds written" "$WORK/jail/fake-firecracker/$name/root/fake-fc-hostile.log"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

name=e2e-snapdir
prepare hello "$name"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" || not_ok "the VM for the snapshot destinations starts"
mkdir -p "$vmhome/snaps/out"; chown "$JAIL_UID" "$vmhome/snaps"; chown 0:0 "$vmhome/snaps/out"
"$FIREC_RUN" snapshot create "$name" --snapshot "$vmhome/snaps/out/b.snap" --mem "$WORK/out/b.mem" 2>"$WORK/$name/s.err"; rc=$?
check "snapshot destination below a directory of the VM's uid (not its own directory): refused (exit $rc)" \
  test "$rc" -eq 3 -a ! -e "$vmhome/snaps/out/b.snap" -a ! -e "$WORK/out/b.mem"
mkdir -m 0770 "$WORK/out-grp"; chgrp "$JAIL_UID" "$WORK/out-grp"
"$FIREC_RUN" snapshot create "$name" --snapshot "$WORK/out-grp/c.snap" --mem "$WORK/out/c.mem" 2>"$WORK/$name/s.err"; rc=$?
check "snapshot destination in a directory the VM's gid may write: refused (exit $rc)" \
  test "$rc" -eq 3 -a ! -e "$WORK/out-grp/c.snap"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1

done_testing
