#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Figure 2: staging a 4 GiB sparse drive holding 256 MiB of data: link and
# reflink (btrfs loop image) whatever the size; the copy path against
# `cp --sparse=always` on the same file; holes are never read (the copy keeps
# the source's allocation).
. "$(dirname "$0")/lib.sh"
make_image() { # a 4 GiB sparse file with 256 MiB of data in 16 extents
  truncate -s 4G "$1"
  for i in $(seq 0 15); do dd if=/dev/urandom of="$1" bs=1M count=16 seek=$((i * 256)) conv=notrunc status=none; done
}
src=$WORK/disk.img; make_image "$src"
# Linked as a read-write drive: the VM's uid here is ours (root), which may write
# the file, and a read-only input it may write is never linked (it is copied).
for i in $(seq "$RUNS"); do "$top_builddir/bench/stage-bench" link "$src" "$WORK/jl$i" writable | cut -d' ' -f1 >>"$WORK/link.ms"; done
for i in $(seq "$RUNS"); do
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
  "$top_builddir/bench/stage-bench" copy "$src" "$WORK/jc$i" >"$WORK/copy.out"
  cut -d' ' -f1 "$WORK/copy.out" >>"$WORK/copy.ms"
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null
  t0=$(now_ns); cp --sparse=always "$src" "$WORK/cp.img"; t1=$(now_ns)
  echo "$(( (t1 - t0) / 1000 ))" | awk '{print $1 / 1000}' >>"$WORK/cp.ms"; rm -f "$WORK/cp.img"
done
echo "staging a 4 GiB sparse drive with 256 MiB of data ($RUNS runs each)"
stats "link" "$WORK/link.ms"
if command -v mkfs.btrfs >/dev/null && [ -z "${FIREC_BENCH_NO_BTRFS:-}" ]; then
  truncate -s 2G "$WORK/btrfs.img" && mkfs.btrfs -q "$WORK/btrfs.img" >/dev/null 2>&1 && mkdir "$WORK/btrfs" &&
    mount -o loop "$WORK/btrfs.img" "$WORK/btrfs" && {
      make_image "$WORK/btrfs/disk.img"
      for i in $(seq "$RUNS"); do "$top_builddir/bench/stage-bench" reflink "$WORK/btrfs/disk.img" "$WORK/btrfs/jr$i" | cut -d' ' -f1 >>"$WORK/reflink.ms"; done
      stats "reflink (btrfs)" "$WORK/reflink.ms"
      umount "$WORK/btrfs"; }
fi
stats "copy (firec staging)" "$WORK/copy.ms"
stats "cp --sparse=always" "$WORK/cp.ms"
echo "copy / cp ratio: $(ratio "$(median "$WORK/copy.ms")" "$(median "$WORK/cp.ms")")  (target <= 1.0)"
echo "allocated: source $(du -k "$src" | cut -f1) KiB, firec's copy $(cut -d' ' -f2 "$WORK/copy.out") KiB (holes are never read or written)"
