#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Files a manifest names as data (mmds.data_file, a cpu-config file), which
# `plan` and `run` read themselves (TAP). Their problems are the manifest's:
# exit 2, naming the field's position, and never a hang: a FIFO, a device or a
# directory is refused before anything reads it, and the size is bounded.
set -u
: "${FIREC_RUN:?}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/firec-data-files.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
export FIREC_STATE_DIR="$tmp/state"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; sed 's/^/#   /' "$tmp/err"; }

cat >"$tmp/vm.yaml" <<'YAML'
apiVersion: firec/v1alpha1
kind: MicroVM
metadata:
  name: data-files
spec:
  boot-source:
    kernel_image_path: ./vmlinux
    initrd_path: ./initrd
  cpu-config: ./cpu.json
  mmds:
    data_file: ./meta.json
  jailer:
    enabled: false
YAML
echo '{"kvm_capabilities": []}' >"$tmp/cpu.json"
mmds_at="vm.yaml:11:16: /spec/mmds/data_file:"
cpu_at="vm.yaml:9:15: /spec/cpu-config:"

# expect COMMAND WHAT MESSAGE: exits 2 within 10 s, and stderr holds MESSAGE.
expect() {
  command=$1 what=$2 message=$3
  (cd "$tmp" && timeout 10 "$FIREC_RUN" "$command" vm.yaml >/dev/null 2>"$tmp/err")
  rc=$?
  if [ $rc -eq 2 ] && grep -qF -- "$message" "$tmp/err"; then ok "$command: $what"
  else echo "# exit $rc, wanted 2 and: $message" >>"$tmp/err"; not_ok "$command: $what"; fi
}

mkfifo "$tmp/meta.json"
expect plan "a FIFO as mmds.data_file is refused at once, with its position" "$mmds_at the MMDS data file $tmp/meta.json is a FIFO, not a regular file"
expect run "run refuses it instead of hanging" "$mmds_at the MMDS data file $tmp/meta.json is a FIFO"
if [ ! -e "$tmp/state/data-files" ]; then ok "run: nothing was created for the VM"
else echo "# $tmp/state/data-files exists" >"$tmp/err"; not_ok "run: nothing was created for the VM"; fi
rm "$tmp/meta.json"; mkdir "$tmp/meta.json"
expect plan "a directory as mmds.data_file" "$mmds_at the MMDS data file $tmp/meta.json is a directory, not a regular file"
rmdir "$tmp/meta.json"; ln -s /dev/zero "$tmp/meta.json"
expect plan "an endless device behind a symbolic link is never read" "$mmds_at the MMDS data file $tmp/meta.json is a character device, not a regular file"
rm "$tmp/meta.json"
expect plan "a missing mmds.data_file" "$mmds_at cannot read the MMDS data file $tmp/meta.json: No such file or directory"
echo '[1, 2]' >"$tmp/meta.json"
expect plan "MMDS data that is not an object" "$mmds_at the MMDS data file $tmp/meta.json must hold a JSON object"
printf '{"a": ' >"$tmp/meta.json"
expect plan "MMDS data that is not JSON" "$mmds_at the MMDS data file $tmp/meta.json is not valid JSON"
# 51189 + 11 bytes of {"blob":""} = 51200, Firecracker's default limit: fits; one more byte does not.
"${PYTHON3:-python3}" -c 'import json, sys; print(json.dumps({"blob": "x" * int(sys.argv[1])}, indent=4))' 51189 >"$tmp/meta.json"
if (cd "$tmp" && "$FIREC_RUN" plan vm.yaml >/dev/null 2>"$tmp/err"); then ok "plan: MMDS data of exactly 51200 bytes as JSON fits (the file's own spaces do not count)"
else not_ok "plan: MMDS data of exactly 51200 bytes as JSON fits"; fi
"${PYTHON3:-python3}" -c 'import json, sys; print(json.dumps({"blob": "x" * int(sys.argv[1])}))' 51190 >"$tmp/meta.json"
expect plan "MMDS data over Firecracker's default payload limit" "$mmds_at the MMDS data file $tmp/meta.json is 51201 bytes as JSON, more than the 51200 of"
echo '{"a": 1}' >"$tmp/meta.json"
dd if=/dev/zero of="$tmp/cpu.json" bs=1M count=0 seek=17 2>/dev/null
expect plan "a cpu-config file larger than 16 MiB is not read" "$cpu_at the cpu-config file $tmp/cpu.json is larger than 16 MiB"
rm "$tmp/cpu.json"; mkfifo "$tmp/cpu.json"
expect plan "a FIFO as cpu-config file" "$cpu_at the cpu-config file $tmp/cpu.json is a FIFO, not a regular file"
rm "$tmp/cpu.json"; echo '{"kvm_capabilities": []}' >"$tmp/cpu.json"
if (cd "$tmp" && "$FIREC_RUN" plan vm.yaml >/dev/null 2>"$tmp/err"); then ok "plan: regular data files are read"
else not_ok "plan: regular data files are read"; fi
echo "1..$n"
