#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Nothing lost (TAP): the files a manifest names, as a run leaves them.
# - Output files (log_path, metrics_path, serial_out_path): Firecracker opens
#   them without O_APPEND or O_TRUNC (every release), so an existing file is
#   never given to it: firec-run moves it aside to <path>.1 (older ones up to
#   <path>.5) and hands Firecracker a new file. A failed run puts everything
#   back, byte for byte.
# - One file behind two fields (hard link, symbolic link, another spelling), or
#   behind a device of another running VM: refused in preflight with both
#   positions.
# - Inputs that are not regular files, and outputs that are neither a file nor
#   a FIFO: refused in preflight with the position, before anything reads them.
# - A process that dies during the start is named: the jailer or firecracker.
. "$top_srcdir/tests/e2e/lib.sh"

# set_field FILE PYTHON-STATEMENT (m is the manifest); keeps the JSON indented,
# so that positions name lines.
set_field() {
  "$PYTHON3" -c "import json,sys; p=sys.argv[1]; m=json.load(open(p)); $2; json.dump(m, open(p, 'w'), indent=2)" "$1"
}
json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }
status_of() { "$FIREC_RUN" status --output json "$1" 2>/dev/null | json_field state; }
# A file as its user cares about it.
ident() { printf '%s %s\n' "$(sha256sum <"$1" | cut -d' ' -f1)" "$(stat -c '%u:%g %a %Y %h' "$1")"; }
# A field's position as diagnostics print it ("vm.json:LINE:COLUMN: POINTER"),
# as a pattern for grep -E.
pos() { echo "$WORK/$1/vm.json:[0-9]+:[0-9]+: $2( |:|$)"; }
has_pos() { grep -qE "$(pos "$1" "$2")" "$WORK/$1/stderr"; } # has_pos NAME POINTER
# try_run NAME: a detached run that should be refused; one that starts is
# removed again at once. Sets rc; stderr in NAME/stderr.
try_run() {
  timeout 30 "$FIREC_RUN" run -d -q "$WORK/$1/vm.json" </dev/null >/dev/null 2>"$WORK/$1/stderr"; rc=$?
  [ $rc -ne 0 ] || "$FIREC_RUN" rm -f "$1" >/dev/null 2>&1
  return 0
}
force_clean() { our_pids "$1( |$)" | xargs -r kill -KILL; sleep 0.2; rm -rf "$WORK/jail/"*/"$1" "$FIREC_STATE_DIR/$1" "$FIREC_STATE_DIR/$1.lock"; }
# run_bg NAME: an attached run in the background, until the record says running.
run_bg() {
  "$FIREC_RUN" run -q "$WORK/$1/vm.json" </dev/null >/dev/null 2>"$WORK/$1/stderr" &
  bg_pid=$!
  wait_running "$1" || { sed 's/^/#   /' "$WORK/$1/stderr"; return 1; }
}
stop_bg() { kill -TERM "$bg_pid" 2>/dev/null; wait "$bg_pid"; }
# with_outputs NAME: the VM logs and writes metrics to $WORK/NAME/out (and its
# serial console, for releases that have /serial).
with_outputs() {
  local out=$WORK/$1/out serial=
  mkdir -p "$out"
  version_at_least 1.14 && serial="; m['spec']['serial'] = {'serial_out_path': '$out/vm.serial'}"
  set_field "$WORK/$1/vm.json" "m['spec']['logger'] = {'log_path': '$out/vm.log', 'level': 'Debug', 'show_level': True}
m['spec']['metrics'] = {'metrics_path': '$out/vm.metrics'}$serial"
  printf '%s\n' "$out/vm.log" "$out/vm.metrics" >"$WORK/$1/outputs"
  [ -z "$serial" ] || echo "$out/vm.serial" >>"$WORK/$1/outputs"
}
# Earlier content at each output path: a copy of /etc/passwd as the log (the
# case that lost its first 2 KiB), lines of an earlier run as the metrics.
earlier_outputs() {
  local out=$WORK/$1/out
  cp /etc/passwd "$out/vm.log"; head -c 6000 /dev/urandom | base64 >>"$out/vm.log"
  # (the VM's uid may write it, as an earlier run's log: nothing else keeps
  # firec-run from handing it to Firecracker)
  chmod 0600 "$out/vm.log"; if has_jailer; then chown 10001:10001 "$out/vm.log"; fi
  touch -d '2020-01-02 03:04:05' "$out/vm.log"
  for i in $(seq 300); do echo "{\"earlier_run\": $i}"; done >"$out/vm.metrics"
  chmod 0644 "$out/vm.metrics"; touch -d '2021-01-01' "$out/vm.metrics"
  if version_at_least 1.14; then yes EARLIER-CONSOLE | head -300 >"$out/vm.serial"; fi
  fingerprint "$WORK/$1" >"$WORK/$1/before"
}
# Every line of a log Firecracker wrote starts with its timestamp: no line of
# what was there before, no torn line.
only_new_lines() { [ -s "$1" ] && ! grep -qvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$1"; }
fc_drive() { # fc_drive NAME ID PATH READ_ONLY: adds a data drive
  set_field "$WORK/$1/vm.json" "m['spec'].setdefault('drives', []).append({'drive_id': '$2', 'path_on_host': '$3', 'is_root_device': False, 'is_read_only': $4})"
}
new_disk() { # new_disk PATH: a small disk image the VM's uid may write
  head -c 4096 /dev/urandom >"$1"; truncate -s 8M "$1"; chmod 0644 "$1"
  has_jailer && chown 10001:10001 "$1"
  return 0
}

# --- an existing output is moved aside, never written over ------------------------
name=e2e-out
prepare hello "$name" || { not_ok "prepared"; done_testing; exit 0; }
out=$WORK/$name/out
with_outputs "$name"; earlier_outputs "$name"
log_before=$(ident "$out/vm.log"); metrics_before=$(ident "$out/vm.metrics")
run_bg "$name" && ok "a run with existing log and metrics files starts" || not_ok "a run with existing log and metrics files starts"
stop_bg
check "the earlier log is kept as vm.log.1, byte for byte (content, owner, mode, mtime)" test "$(ident "$out/vm.log.1" 2>&1)" = "$log_before"
check "the earlier metrics are kept as vm.metrics.1, byte for byte" test "$(ident "$out/vm.metrics.1" 2>&1)" = "$metrics_before"
check "vm.log holds this run's lines only (no line of the earlier file, none torn)" only_new_lines "$out/vm.log"
check "vm.metrics holds this run's metrics only" sh -c "[ -s '$out/vm.metrics' ] && ! grep -q earlier_run '$out/vm.metrics'"
if has_jailer; then
  check "the new log belongs to the VM's uid, mode 0640" test "$(stat -c '%u %a' "$out/vm.log")" = "10001 640"
fi
if version_at_least 1.14; then
  check "the earlier serial output is kept as vm.serial.1" grep -q EARLIER-CONSOLE "$out/vm.serial.1"
  check "vm.serial is this run's console only" sh -c "[ -s '$out/vm.serial' ] || [ $REAL = 1 ]; ! grep -q EARLIER-CONSOLE '$out/vm.serial'"
fi
check "nothing else is left, the inputs are unchanged, the earlier outputs moved one step aside" clean_after_run "$name"

# Runs that start move each earlier file one step further, and keep five.
if [ "$REAL" = 0 ]; then
  for i in 1 2 3 4 5; do run_bg "$name"; stop_bg; echo "run $i" >>"$out/vm.log"; done
  check "after six runs: vm.log.1 to vm.log.5 are kept, none beyond" sh -c "[ -f '$out/vm.log.5' ] && [ ! -e '$out/vm.log.6' ]"
  check "newest first: vm.log.1 is the log of the 5th run, vm.log.4 of the 2nd" sh -c "grep -q '^run 4$' '$out/vm.log.1' && grep -q '^run 1$' '$out/vm.log.4'"
  check "the passwd copy, older than five runs, is no longer kept" sh -c "! grep -q '^root:' '$out'/vm.log*"
  fingerprint "$WORK/$name" >"$WORK/$name/before"
fi

# --- a failed run puts everything back ---------------------------------------------
earlier_outputs "$name"
rm -f "$out/vm.metrics" "$out"/vm.*.[0-9]
fingerprint "$WORK/$name" >"$WORK/$name/before"
log_before=$(ident "$out/vm.log")
step=$("$FIREC_RUN" plan --output json "$WORK/$name/vm.json" | "$PYTHON3" -c '
import json, sys
print([s["id"] for s in json.load(sys.stdin)["steps"] if s.get("request", {}).get("path") == "/actions"][0])')
FIREC_TEST_FAULT="fail:$step" "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
check "a run that fails at $step exits 1 (got $rc)" test "$rc" -eq 1
check "the existing log is back at its path, byte for byte" test "$(ident "$out/vm.log" 2>&1)" = "$log_before"
check "the metrics file it created is gone, and nothing was left aside" sh -c "[ ! -e '$out/vm.metrics' ] && [ -z \"\$(ls '$out' | grep '\\.[0-9]\$')\" ]"
check "nothing is left and every file is as it was" clean_after "$name"
# A symbolic link at an output path: the link is what moves aside, and back.
echo "the user's metrics" >"$out/metrics-elsewhere"; ln -s metrics-elsewhere "$out/vm.metrics"
fingerprint "$WORK/$name" >"$WORK/$name/before"
FIREC_TEST_FAULT="fail:$step" "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"
check "a failed run puts a symbolic link at an output path back, unchanged" \
  sh -c "[ \"\$(readlink '$out/vm.metrics')\" = metrics-elsewhere ] && grep -qx \"the user's metrics\" '$out/metrics-elsewhere'"
check "... and every file is as it was" clean_after "$name"

# SIGKILL of firec-run while the VM starts (detached): rm puts them back too.
for step in "stage.logger" "stage.metrics" "api.wait" "$step"; do
  FIREC_TEST_FAULT="SIGKILL:$step" "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>"$WORK/$name/rm.err"; rc=$?
  if [ $rc -eq 0 ] && clean_after "$name"; then ok "SIGKILL at $step, then rm -f: every output file is as it was"
  else not_ok "SIGKILL at $step, then rm -f: every output file is as it was (rm exit $rc)"; ls -la "$out" | sed 's/^/#   /'; force_clean "$name"; fi
done

# --- what is not a file --------------------------------------------------------------
name=e2e-nonfile
prepare hello "$name"
new_disk "$WORK/$name/disk.ext4"; echo "$WORK/$name/disk.ext4" >>"$WORK/$name/inputs"
fc_drive "$name" data "$WORK/$name/disk.ext4" False
cp "$WORK/$name/vm.json" "$WORK/$name/base.json"
fingerprint "$WORK/$name" >"$WORK/$name/before"
nonfile() { # nonfile WHAT POINTER WHY: refused at that field saying WHY, within seconds
  try_run "$name"
  if [ $rc -eq 3 ] && has_pos "$name" "$2" && grep -q "$3" "$WORK/$name/stderr" && clean_after "$name"; then
    ok "$1: exit 3 at the field's position"
  else
    not_ok "$1: exit $rc (want 3 at $2: $3)"; sed 's/^/#   /' "$WORK/$name/stderr"; force_clean "$name"
  fi
  cp "$WORK/$name/base.json" "$WORK/$name/vm.json"
}
mkdir -p "$WORK/$name/a-dir"; mkfifo "$WORK/$name/a-fifo"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$WORK/$name/a-dir', 'level': 'Info'}"
nonfile "log_path is a directory" /spec/logger/log_path "is a directory"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '/dev/null', 'level': 'Info'}"
nonfile "log_path is /dev/null" /spec/logger/log_path "is a character device"
set_field "$WORK/$name/vm.json" "m['spec']['metrics'] = {'metrics_path': '$WORK/$name/no-such-dir/m.json'}"
nonfile "metrics_path in a directory that does not exist" /spec/metrics/metrics_path "directory does not exist"
set_field "$WORK/$name/vm.json" "m['spec']['boot-source']['kernel_image_path'] = '$WORK/$name/a-fifo'"
nonfile "the kernel is a FIFO (nobody reads it: no hang)" /spec/boot-source/kernel_image_path "is a FIFO"
set_field "$WORK/$name/vm.json" "m['spec']['drives'][0]['path_on_host'] = '$WORK/$name/a-dir'"
nonfile "a drive is a directory" /spec/drives/0/path_on_host "is a directory"
set_field "$WORK/$name/vm.json" "m['spec']['boot-source']['initrd_path'] = '/dev/zero'"
nonfile "the initrd is a character device" /spec/boot-source/initrd_path "is a character device"
# A FIFO output keeps nothing: it is used as it is.
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$WORK/$name/a-fifo', 'level': 'Info'}"
if has_jailer; then chown 10001:10001 "$WORK/$name/a-fifo"; fi
exec 7<>"$WORK/$name/a-fifo"
if run_bg "$name"; then ok "a FIFO as log_path is used as it is"; else not_ok "a FIFO as log_path is used as it is"; fi
stop_bg
exec 7>&-
check "and nothing is left" clean_after "$name"
cp "$WORK/$name/base.json" "$WORK/$name/vm.json"

# mmds put with a FIFO: refused at once, not read.
run_bg "$name"
timeout 10 "$FIREC_RUN" mmds put "$name" "$WORK/$name/a-fifo" 2>"$WORK/$name/mmds.err"; rc=$?
check "mmds put NAME FIFO is refused at once (exit $rc)" sh -c "[ $rc -eq 2 ] && grep -q 'FIFO' '$WORK/$name/mmds.err'"
stop_bg

# --- a file the manifest names twice -----------------------------------------------
name=e2e-same
prepare hello "$name"
disk=$WORK/$name/disk.ext4
new_disk "$disk"; echo "$disk" >>"$WORK/$name/inputs"
fc_drive "$name" data "$disk" False
cp "$WORK/$name/vm.json" "$WORK/$name/base.json"
fingerprint "$WORK/$name" >"$WORK/$name/before"
# (without the link count: the tests add names to it)
content() { ident "$1" | cut -d' ' -f1-4; }
disk_before=$(content "$disk")
refused() { # refused WHAT: exit 3 at preflight.sources, naming both fields' positions
  local what=$1 first=$2 second=$3
  try_run "$name"
  if [ $rc -eq 3 ] && has_pos "$name" "$first" && has_pos "$name" "$second" &&
     test "$(content "$disk")" = "$disk_before" && clean_after "$name"; then
    ok "$what: exit 3 naming both positions, nothing touched"
  else
    not_ok "$what: exit $rc (want 3 naming $first and $second)"; sed 's/^/#   /' "$WORK/$name/stderr"
    force_clean "$name"
  fi
  cp "$WORK/$name/base.json" "$WORK/$name/vm.json"
}
ln "$disk" "$WORK/$name/disk-link.ext4"; ln -s "$disk" "$WORK/$name/disk-symlink.ext4"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$WORK/$name/disk-link.ext4', 'level': 'Info'}"
refused "log_path is a hard link of the VM's writable drive" /spec/drives/0/path_on_host /spec/logger/log_path
set_field "$WORK/$name/vm.json" "m['spec']['metrics'] = {'metrics_path': '$WORK/$name/disk-symlink.ext4'}"
refused "metrics_path is a symbolic link to the VM's writable drive" /spec/drives/0/path_on_host /spec/metrics/metrics_path
fc_drive "$name" data2 "$WORK/$name/disk-link.ext4" False
refused "two writable drives on one file (a hard link)" /spec/drives/0/path_on_host /spec/drives/1/path_on_host
fc_drive "$name" data2 "$WORK/$name/disk-symlink.ext4" True
refused "a read-only drive on the file of a writable one (a symbolic link)" /spec/drives/0/path_on_host /spec/drives/1/path_on_host
kernel=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["spec"]["boot-source"]["kernel_image_path"])' "$WORK/$name/vm.json")
ln -s "$kernel" "$WORK/$name/kernel-symlink"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$WORK/$name/kernel-symlink', 'level': 'Info'}"
refused "log_path is a symbolic link to the kernel" /spec/boot-source/kernel_image_path /spec/logger/log_path
# Moving an existing log aside must not move an input that has the name it would take.
: >"$WORK/$name/x.log"; ln "$disk" "$WORK/$name/x.log.1"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$WORK/$name/x.log', 'level': 'Info'}"
refused "log_path's earlier file would be moved onto an input's name (x.log.1 is the drive)" /spec/drives/0/path_on_host /spec/logger/log_path
rm -f "$WORK/$name/x.log" "$WORK/$name/x.log.1"
mkdir -p "$WORK/$name/logs"; ln -s logs "$WORK/$name/logs-too"
set_field "$WORK/$name/vm.json" "m['spec']['logger'] = {'log_path': '$WORK/$name/logs/fc.out', 'level': 'Info'}
m['spec']['metrics'] = {'metrics_path': '$WORK/$name/logs-too/fc.out'}"
refused "two outputs that are one new file (a symlinked directory)" /spec/logger/log_path /spec/metrics/metrics_path
# Read-only files may be shared: the same kernel as an initrd, a drive twice read-only.
ro=$WORK/$name/ro.ext4; new_disk "$ro"; ln "$ro" "$WORK/$name/ro-link.ext4"; echo "$ro" >>"$WORK/$name/inputs"
fc_drive "$name" ro1 "$ro" True; fc_drive "$name" ro2 "$WORK/$name/ro-link.ext4" True
fingerprint "$WORK/$name" >"$WORK/$name/before"
if run_bg "$name"; then ok "one read-only file behind two read-only drives starts"; else not_ok "one read-only file behind two read-only drives starts"; fi
stop_bg
check "and leaves nothing" clean_after "$name"
cp "$WORK/$name/base.json" "$WORK/$name/vm.json"

# --- two VMs on one writable file ---------------------------------------------------
first=e2e-owner
prepare hello "$first"
fc_drive "$first" shared "$disk" False
set_field "$WORK/$first/vm.json" "m['spec']['logger'] = {'log_path': '$WORK/$first/owner.log', 'level': 'Info'}"
run_bg "$first" || not_ok "the first VM starts"
owner_pid=$bg_pid
second_refused() { # second_refused WHAT POINTER
  try_run "$name"
  if [ $rc -eq 3 ] && has_pos "$name" "$2" && grep -q "$first" "$WORK/$name/stderr" && clean_after "$name"; then
    ok "$1: exit 3 at the field, naming $first"
  else
    not_ok "$1: exit $rc (want 3 at $2, naming $first)"; sed 's/^/#   /' "$WORK/$name/stderr"; force_clean "$name"
  fi
  cp "$WORK/$name/base.json" "$WORK/$name/vm.json"
}
# (e2e-same's own drive is that file: the base manifest names it writable.)
second_refused "a writable drive another VM writes" /spec/drives/0/path_on_host
set_field "$WORK/$name/vm.json" "m['spec']['drives'][0]['is_read_only'] = True"
second_refused "a read-only drive on a file another VM writes" /spec/drives/0/path_on_host
set_field "$WORK/$name/vm.json" "m['spec']['drives'] = []; m['spec']['logger'] = {'log_path': '$WORK/$first/owner.log', 'level': 'Info'}"
second_refused "log_path is another running VM's log" /spec/logger/log_path
kill -TERM "$owner_pid"; wait "$owner_pid"
check "once the other VM is gone, the drive is this VM's to use" sh -c "'$FIREC_RUN' run -d -q '$WORK/$name/vm.json' </dev/null >/dev/null 2>&1 && '$FIREC_RUN' rm -f $name >/dev/null 2>&1"
check "and leaves nothing" clean_after "$name"
set_field "$WORK/$first/vm.json" "m['spec']['drives'][0]['is_read_only'] = True"
run_bg "$first"; owner_pid=$bg_pid
second_refused "a writable drive on a file another VM reads" /spec/drives/0/path_on_host
if [ "$REAL" = 0 ]; then
  set_field "$WORK/$name/vm.json" "m['spec']['drives'][0]['is_read_only'] = True"
  if run_bg "$name"; then ok "two VMs reading one file both start"; else not_ok "two VMs reading one file both start"; fi
  stop_bg
  cp "$WORK/$name/base.json" "$WORK/$name/vm.json"
fi
kill -TERM "$owner_pid"; wait "$owner_pid"
check "the first VM leaves nothing" clean_after "$first"
# A writable drive staged as a copy is the VM's own: many VMs may start from one image.
if [ "$REAL" = 0 ] && has_jailer; then
  for vm in "$first" "$name"; do
    set_field "$WORK/$vm/vm.json" "m['spec']['drives'][-1]['is_read_only'] = False; m['spec'].setdefault('staging', {}).setdefault('drives', {})[m['spec']['drives'][-1]['drive_id']] = 'copy'"
  done
  run_bg "$first"; owner_pid=$bg_pid
  if run_bg "$name"; then ok "two VMs with private copies of one writable image both start"; else not_ok "two VMs with private copies of one writable image both start"; fi
  stop_bg; kill -TERM "$owner_pid"; wait "$owner_pid"
  cp "$WORK/$name/base.json" "$WORK/$name/vm.json"
  check "and leave nothing" sh -c "[ -z \"\$(ls '$FIREC_STATE_DIR' | grep -x '$first\|$name')\" ]"
fi

# Runs that start at the same instant: each names its files in its record,
# then looks again: never two of them on the drive.
if [ "$REAL" = 0 ]; then
  for i in 1 2 3; do prepare hello "e2e-race$i"; fc_drive "e2e-race$i" shared "$disk" False; done
  most=0
  for round in $(seq 12); do
    for i in 1 2 3; do "$FIREC_RUN" run -d -q "$WORK/e2e-race$i/vm.json" </dev/null >/dev/null 2>"$WORK/race$i.err" & done; wait
    running=0
    for i in 1 2 3; do [ "$(status_of "e2e-race$i")" = running ] && running=$((running + 1)); done
    [ $running -gt $most ] && most=$running
    if [ $running -gt 1 ]; then # say how, should it ever happen
      for i in 1 2 3; do
        echo "# e2e-race$i: $(status_of "e2e-race$i"); $(tr '\n' ' ' <"$WORK/race$i.err" | cut -c1-400)"
      done
    fi
    for i in 1 2 3; do "$FIREC_RUN" rm -f "e2e-race$i" >/dev/null 2>&1; done
  done
  check "three runs started at once on one writable drive, twelve times: at most one runs (at most $most)" test "$most" -le 1
  check "and they leave nothing" sh -c "for i in 1 2 3; do [ -z \"\$(ls '$FIREC_STATE_DIR' | grep e2e-race)\" ] || exit 1; done"
fi

# --- who died --------------------------------------------------------------------------
if has_jailer; then
  name=e2e-died
  prepare hello "$name"
  cp "$WORK/$name/vm.json" "$WORK/$name/base.json"
  died() { # died WHAT HOW: the error names the jailer, how it ended, and its last stderr lines
    FAKE_JAILER_NETNS_EINVAL=1 timeout 30 "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; local rc=$?
    if [ $rc -eq 1 ] && grep -q "the jailer (pid [0-9]*) $2" "$WORK/$name/stderr" &&
       grep -q "last lines of the jailer's \(stderr\|console\)" "$WORK/$name/stderr" &&
       ! grep -q "firecracker (pid [0-9]*) was killed\|firecracker was killed" "$WORK/$name/stderr" && clean_after "$name"; then
      ok "$1: the jailer is named, with how it ended and its last stderr lines"
    else
      not_ok "$1: the jailer is named, with how it ended and its last stderr lines (exit $rc)"; sed 's/^/#   /' "$WORK/$name/stderr"; force_clean "$name"
    fi
  }
  # A network namespace path that is not one: the jailer fails joining it
  # (1.5.1 and 1.7 panic: SIGABRT; 1.13 on exit 1). The doubles are told it is not.
  how="was killed by signal 6 (SIGABRT)"
  version_at_least 1.13 && how="exited with status 1"
  : >"$WORK/$name/not-a-netns"
  for pidns in False True; do
    set_field "$WORK/$name/vm.json" "m['spec']['jailer']['netns'] = '$WORK/$name/not-a-netns'; m['spec']['jailer']['new_pid_ns'] = $pidns"
    died "the jailer failing (new_pid_ns: $pidns)" "$how"
    cp "$WORK/$name/base.json" "$WORK/$name/vm.json"
  done
  # Every jailer release panics on an environment that is not UTF-8: preflight says so.
  env "$(printf 'FIREC_E2E_BAD=\377')" timeout 30 "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "an environment variable that is not UTF-8 is a preflight finding naming it (exit $rc)" \
    sh -c "[ $rc -eq 3 ] && grep -q 'FIREC_E2E_BAD.*not valid UTF-8' '$WORK/$name/stderr'"
  check "and nothing is left" clean_after "$name"
fi
done_testing
