#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What depends on the Firecracker release (TAP): fields newer than the binary
# are refused in preflight, naming the field and the version it needs, or left
# out when written with their default; the binary is the file a symlink names,
# as the jailer sees it. Run against the doubles (1.5.1) by make check, and
# against each real release by make check-real.
. "$top_srcdir/tests/e2e/lib.sh"

edit() { # edit NAME PYTHON: changes the manifest m of NAME
  "$PYTHON3" - "$WORK/$1/vm.json" "$WORK/$1" <<PY
import json, sys
p, d = sys.argv[1], sys.argv[2]
m = json.load(open(p)); spec = m["spec"]
$2
json.dump(m, open(p, "w"))
PY
}

# runs NAME: firec-run run -d reaches Running; then rm leaves nothing.
runs() {
  local name=$1
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; local rc=$?
  [ $rc -eq 0 ] || { tail -3 "$WORK/$name/stderr" | sed 's/^/#   /'; }
  "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
  [ $rc -eq 0 ] && clean_after "$name"
}

# refused NAME PATTERN: preflight refuses it (exit 3) with a message matching
# PATTERN, and leaves nothing.
refused() {
  local name=$1 pattern=$2
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; local rc=$?
  [ $rc -eq 0 ] && "$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
  if [ $rc -ne 3 ] || ! grep -q -- "$pattern" "$WORK/$name/stderr"; then
    echo "#   exit $rc, want 3 and /$pattern/:"; head -4 "$WORK/$name/stderr" | sed 's/^/#   /'
    return 1
  fi
  clean_after "$name"
}

# --- gated fields written with their default value --------------------------------
# Absent means the same to every release, so they are left out of the request:
# 1.5.1 answers 400 "unknown field" to huge_pages, whatever its value.
name=e2e-defaults
prepare hello "$name"
edit "$name" 'spec["machine-config"]["huge_pages"] = "None"
spec["balloon"] = {"amount_mib": 0, "deflate_on_oom": False, "free_page_hinting": False, "free_page_reporting": False}'
check "huge_pages: None and balloon free_page_*: false run on Firecracker $FC_VERSION" runs "$name"

# --- a section newer than the binary: pmem (1.14) -----------------------------------
name=e2e-pmem
prepare hello "$name"
truncate -s 4M "$WORK/$name/pmem.img"; chmod 0644 "$WORK/$name/pmem.img"
echo "$WORK/$name/pmem.img" >>"$WORK/$name/inputs"; fingerprint "$WORK/$name" >"$WORK/$name/before"
edit "$name" 'spec["pmem"] = [{"id": "pm0", "path_on_host": d + "/pmem.img", "read_only": True}]'
if version_at_least 1.14; then
  check "pmem runs on Firecracker $FC_VERSION" runs "$name"
else
  check "pmem on Firecracker $FC_VERSION: refused in preflight, naming /spec/pmem and 1.14" \
    refused "$name" "is version $FC_VERSION, but the manifest needs at least 1.14: /spec/pmem "
fi

# --- huge pages: the host's pool, read before anything starts ----------------------
# (A fake sysfs tree: the real pool is the host's business.)
name=e2e-hugepages
prepare rootfs "$name"
edit "$name" 'spec["machine-config"]["huge_pages"] = "2M"'
pool() { # pool FREE: a 2 MiB pool with FREE free pages
  local d=$WORK/$name/sys/kernel/mm/hugepages/hugepages-2048kB
  mkdir -p "$d"; echo "$1" >"$d/nr_hugepages"; echo "$1" >"$d/free_hugepages"
  echo 0 >"$d/resv_hugepages"; echo 0 >"$d/nr_overcommit_hugepages"; echo 0 >"$d/surplus_hugepages"
}
pool 10
export FIREC_SYSFS_ROOT=$WORK/$name/sys
check "huge_pages: 2M with 10 free pages for 512 MiB: refused in preflight, with the numbers and the fix" \
  refused "$name" "/spec/machine-config/huge_pages: the guest memory needs 256 free 2 MiB huge pages, the host has 10 .*nr_hugepages"
if [ "$REAL" = 0 ] && version_at_least 1.7; then
  pool 256
  check "with 256 free pages it runs" runs "$name"
fi
unset FIREC_SYSFS_ROOT

# --- the binary through a symlink ----------------------------------------------------
# The jailer canonicalizes --exec-file: the jail, the copy in it and the pid file
# are named after the real file. A symlink named "firecracker" to a file whose
# name lacks it passes no jailer before 1.13.
mkdir -p "$WORK/bin"
cp "$FC" "$WORK/bin/fc-bin"; ln -sf fc-bin "$WORK/bin/firecracker"
cp "$FC" "$WORK/bin/firecracker-real"; ln -sf firecracker-real "$WORK/bin/fc-link"
name=e2e-symlink
prepare hello "$name"
edit "$name" 'spec["firecracker"]["binary"] = d + "/../bin/firecracker"'
"$FIREC_RUN" render --output json "$WORK/$name/vm.json" >"$WORK/$name/rendered" 2>/dev/null
check "render shows the file the symlink names" grep -q "\"firecracker_binary\":.*\"$WORK/bin/fc-bin\"" "$WORK/$name/rendered"
if ! has_jailer; then
  check "without the jailer, a symlinked binary runs" runs "$name"
elif version_at_least 1.13; then
  check "render's jail is named after the real file" grep -q "\"jail_dir\":.*\"$WORK/jail/fc-bin/$name\"" "$WORK/$name/rendered"
  "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>"$WORK/$name/stderr"; rc=$?
  check "a symlink 'firecracker' to fc-bin runs with the $FC_VERSION jailer (exit $rc)" test "$rc" -eq 0
  check "in the jail the jailer made, named after fc-bin" test -d "$WORK/jail/fc-bin/$name/root"
  "$FIREC_RUN" rm "$name" >/dev/null 2>&1
  check "rm leaves nothing" clean_after "$name"
else
  check "a symlink 'firecracker' to fc-bin: the $FC_VERSION jailer's name rule is checked on fc-bin, in preflight" \
    refused "$name" "needs at least 1.13: /spec/firecracker/binary (.*fc-bin.* lacks \"firecracker\")"
fi
name=e2e-symlink2
prepare hello "$name"
edit "$name" 'spec["firecracker"]["binary"] = d + "/../bin/fc-link"'
check "a symlink 'fc-link' to firecracker-real runs on $FC_VERSION" runs "$name"

done_testing
