#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Turns an example manifest into one the e2e tests can run here.

Input: the JSON that `firec-run render --output json` printed for the example.
It keeps every section and field of the example and changes only what ties it
to a particular host: the binaries, the chroot base, uid/gid, the netns, the
stop policy (short waits), the TAP device names (FIREC_TEST_TAP_PREFIX) and the
host files, which are created under DIR
(dummy content with the test doubles, the test guest's kernel, initrd and
rootfs with real binaries). Prints the manifest (JSON is YAML) on stdout, the
list of host input files on fd 3 and of output files on fd 4, one per line.
Each output file already holds an earlier run's lines: a run must move it
aside, never write over it."""
import json
import os
import shutil
import sys

rendered, workdir, firecracker, jailer = sys.argv[1:5]  # jailer "-": none
guest = os.environ.get("FIREC_TEST_GUEST", "")
m = json.load(open(rendered))
derived = m.pop("x-firec-derived")
spec = m["spec"]
name = m["metadata"]["name"] = os.environ.get("FIREC_TEST_NAME", m["metadata"]["name"])

spec["firecracker"]["binary"] = firecracker
if jailer == "-":
    # A release without a jailer (v1.14.2 here): firecracker runs directly.
    spec["jailer"] = {"enabled": False}
if spec["jailer"].get("enabled", True):
    spec["jailer"]["binary"] = jailer
    spec["jailer"]["chroot_base_dir"] = os.path.join(os.path.dirname(workdir), "jail")
    spec["jailer"]["uid"] = int(os.environ.get("FIREC_TEST_UID", "10001"))
    spec["jailer"]["gid"] = int(os.environ.get("FIREC_TEST_GID", "10001"))
    if "netns" in spec["jailer"]:
        netns = os.environ.get("FIREC_TEST_NETNS")
        if netns:
            spec["jailer"]["netns"] = netns
        else:
            del spec["jailer"]["netns"]
spec["run"]["stop"] = [{"ctrl_alt_del": "2s"}, "sigkill"]
jailer_spec = spec["jailer"]
if guest and jailer_spec.get("cgroups") and not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
    # A cgroup v1 host (the v2 example's cpu.max / memory.max do not exist there):
    # the same limits in v1 files.
    jailer_spec["cgroup_version"] = 1
    jailer_spec["cgroups"] = {"cpu.shares": "512", "memory.limit_in_bytes": "536870912"}
spec["run"]["start_timeout"] = "20s"
# TAP devices (firec-run creates the missing ones): names of this test run and
# VM, so that runs of the suite on one host never share one (lib.sh tap_prefix).
prefix = os.environ.get("FIREC_TEST_TAP_PREFIX")
if prefix:
    for i, iface in enumerate(spec.get("network-interfaces", [])):
        iface["host_dev_name"] = f"{prefix}{i}"

files_dir = os.path.join(workdir, "files")
os.makedirs(files_dir, exist_ok=True)
inputs = []
outputs = []

def set_at(pointer, value):
    node = m
    parts = pointer.strip("/").split("/")
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node[p]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value

def real_source(field):
    if "kernel_image_path" in field:
        return os.path.join(guest, "vmlinux")
    if "initrd_path" in field:
        return os.path.join(guest, "initrd.cpio.gz")
    if "path_on_host" in field:
        return os.path.join(guest, "rootfs.ext4")
    return None

for i, f in enumerate(derived.get("files", [])):
    field = f["field"]
    base = os.path.basename(f["host_path"])
    path = os.path.join(files_dir, f"{i}-{base}")
    output = any(k in field for k in ("log_path", "metrics_path", "serial_out_path"))
    if not output:
        src = real_source(field) if guest else None
        if src and os.path.exists(src):
            shutil.copyfile(src, path)
        elif "path_on_host" in field:
            with open(path, "wb") as out:
                out.write(os.urandom(4096))
                out.truncate(64 << 20)
        else:
            with open(path, "wb") as out:
                out.write(os.urandom(256 * 1024))
        os.chmod(path, 0o644)
        inputs.append(path)
    else:
        with open(path, "w") as out:
            out.writelines("an earlier run's line %d of %s\n" % (n, base) for n in range(200))
        os.chmod(path, 0o644)
        os.utime(path, (1600000000, 1600000000))
        outputs.append(path)
    if spec["jailer"].get("enabled", True) and not output and "path_on_host" in field:
        # Writable drives are linked into the jail: the VM's uid must be able to write them.
        uid = spec["jailer"]["uid"]
        if os.geteuid() == 0:
            os.chown(path, uid, spec["jailer"]["gid"])
    set_at(field, path)

json.dump(m, sys.stdout, indent=2)


def listing(fd, paths):
    """The paths, one a line, to fd when the caller opened it (the tests do;
    the demo and the benchmarks need no listing)."""
    try:
        out = os.fdopen(fd, "w")
    except OSError:
        return
    with out:
        out.write("".join(p + "\n" for p in paths))


listing(3, inputs)
listing(4, outputs)
