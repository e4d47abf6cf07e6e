#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds a small test guest for Firecracker from Debian packages (amd64), into
# DIR (default /tmp/firec-guest):
#   vmlinux         the uncompressed ELF kernel Firecracker boots, taken out of
#                   Debian's linux-image-amd64
#   initrd.cpio.gz  a busybox initramfs whose /init prints FIREC-GUEST-UP and
#                   ends the VM (a guest reboot with reboot=k is how a
#                   Firecracker VM powers off: poweroff would leave it running);
#                   with firec.wait on the kernel command line it waits instead,
#                   so that a stop policy can be tried on it
#   rootfs.ext4     an empty 64 MiB ext4 image, for manifests with a drive
# Copy them next to a manifest: examples/hello.yaml boots the kernel and the
# initrd; examples/rootfs.yaml starts with the empty image as its root drive (the
# guest finds no init there and ends). The test suite takes DIR as
# FIREC_TEST_GUEST, the benchmarks as FIREC_BENCH_GUEST.
#
# Needs root (apt-get) and Debian's package archive. Usage:
#   tools/make-test-guest.sh [DIR]
set -euo pipefail

out=${1:-/tmp/firec-guest}
die() { echo "make-test-guest: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: it installs and downloads Debian packages with apt-get"
[ "$(dpkg --print-architecture)" = amd64 ] || die "amd64 only (Firecracker boots an x86_64 ELF vmlinux here)"

# What it runs on the host.
needed=""
command -v cpio >/dev/null || needed="$needed cpio"
command -v mkfs.ext4 >/dev/null || needed="$needed e2fsprogs"
command -v python3 >/dev/null || needed="$needed python3"
if [ -n "$needed" ]; then
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $needed >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/make-test-guest.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# linux-image-amd64 is a metapackage: download the image it depends on.
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
if [ -z "$kernel_pkg" ]; then
  apt-get update -qq
  kernel_pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
fi
[ -n "$kernel_pkg" ] || die "cannot tell which kernel package linux-image-amd64 stands for"
echo "make-test-guest: downloading $kernel_pkg and busybox-static"
apt-get download -qq "$kernel_pkg" busybox-static
dpkg-deb -x "$kernel_pkg"_*.deb kernel
dpkg-deb -x busybox-static_*.deb busybox

# vmlinuz is a bzImage: a decompressor followed by the compressed ELF kernel.
# Find the compressed stream and unpack it (what the kernel's
# scripts/extract-vmlinux does), keeping the first result that is an ELF file.
vmlinuz=$(find kernel/boot -name 'vmlinuz-*' | head -1)
[ -n "$vmlinuz" ] || die "$kernel_pkg has no /boot/vmlinuz-*"
python3 - "$vmlinuz" vmlinux <<'PY'
import lzma, sys, zlib

data = open(sys.argv[1], "rb").read()
def unxz(blob):
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)
def ungzip(blob):
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(blob)
def unlzma(blob):
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(blob)
for magic, unpack in ((b"\xfd7zXZ\x00", unxz), (b"\x1f\x8b\x08", ungzip), (b"\x5d\x00\x00", unlzma)):
    at = data.find(magic)
    while at >= 0:
        try:
            elf = unpack(data[at:])
        except (lzma.LZMAError, zlib.error, EOFError):
            elf = b""
        if elf.startswith(b"\x7fELF"):
            open(sys.argv[2], "wb").write(elf)
            sys.exit(0)
        at = data.find(magic, at + 1)
sys.exit("no xz, gzip or lzma stream in %s unpacks to an ELF kernel (zstd is not handled)" % sys.argv[1])
PY

# The initramfs: busybox and an /init script.
mkdir -p initrd/bin initrd/dev initrd/proc
cp busybox/bin/busybox initrd/bin/busybox
cat >initrd/init <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev 2>/dev/null
/bin/busybox echo FIREC-GUEST-UP
if /bin/busybox grep -qw firec.wait /proc/cmdline; then
  # Ctrl+Alt+Del (the stop policy's ctrl_alt_del) reboots the kernel, which
  # ends the VM; until then, wait.
  while :; do /bin/busybox sleep 3600; done
fi
/bin/busybox reboot -f
EOF
chmod 0755 initrd/init
(cd initrd && find . | cpio -o -H newc --quiet | gzip -9) >initrd.cpio.gz

truncate -s 64M rootfs.ext4
mkfs.ext4 -q -F rootfs.ext4

mkdir -p "$out"
install -m 0644 vmlinux initrd.cpio.gz rootfs.ext4 "$out/"
echo "make-test-guest: $out/vmlinux ($kernel_pkg), $out/initrd.cpio.gz, $out/rootfs.ext4"
