#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Where figure 1's ratio comes from: three starts of the same VM, started and
timed by this one process, round by round in rotating order:
  floor:      the jailer with --no-api --config-file, until Firecracker logs
              that the microVM started;
  API client: the jailer started directly and the same configuration sent as
              pipelined requests (GET / and every PUT in one write, then
              InstanceStart with the confirming GET /): the least any client of
              the API can do;
  firec-run:  `firec-run run -d -q MANIFEST`, until it exits.
API client / floor is what the API path itself costs on this host; firec-run /
API client is firec-run's own work (its exec, validation, preflight, state,
staging, and its exit).

Usage: start-breakdown.py CONFIG FILES JAILER FIRECRACKER WORKDIR ROUNDS FIREC_RUN MANIFEST NAME
  CONFIG  the Firecracker --config-file JSON (`firec-run render --firecracker-config`)
  FILES   lines "HOST_PATH VM_PATH": what to hard-link into each jail
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

config_path, files_path, jailer, firecracker, workdir, rounds, firec_run, manifest, name = sys.argv[1:10]
rounds = int(rounds)
config = json.load(open(config_path))
files = [line.split(" ", 1) for line in open(files_path).read().splitlines() if line]
base = os.path.join(workdir, "breakdown-jail")
uid = 10001
exec_name = os.path.basename(firecracker)


def stage(name, with_config):
    """The jail, by hard links as the getting-started guide does (not timed)."""
    jail = os.path.join(base, exec_name, name)
    shutil.rmtree(jail, ignore_errors=True)
    root = os.path.join(jail, "root")
    for host, vm in files:
        os.makedirs(os.path.dirname(root + vm), exist_ok=True)
        os.link(host, root + vm)
    if with_config:
        with open(os.path.join(root, "config.json"), "w") as f:
            json.dump(config, f)
    # The directories and the config only: a chown of a hard link is the user's
    # own file's, and firec-run copies a read-only input the VM's uid owns.
    for dirpath, dirnames, filenames in os.walk(jail):
        for n in dirnames:
            os.lchown(os.path.join(dirpath, n), uid, uid)
    if with_config:
        os.lchown(os.path.join(root, "config.json"), uid, uid)
    os.lchown(jail, uid, uid)
    return root


def jailer_argv(name):
    return [jailer, "--id", name, "--exec-file", firecracker, "--uid", str(uid), "--gid", str(uid),
            "--chroot-base-dir", base, "--"]


def stop(proc, name):
    proc.kill()
    proc.wait()
    # Its command line empties before its files (the tap) are closed.
    time.sleep(0.05)
    shutil.rmtree(os.path.join(base, exec_name, name), ignore_errors=True)


def request(method, path, body=None):
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
    if body is None:
        return (head + "\r\n").encode()
    data = json.dumps(body)
    return (head + f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n{data}").encode()


def read_answers(sock, count):
    """Reads count answers; returns their status codes."""
    got = b""
    codes = []
    while len(codes) < count:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("Firecracker closed the API connection")
        got += chunk
        while True:
            end = got.find(b"\r\n\r\n")
            if end < 0:
                break
            head = got[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                key, _, value = line.partition(":")
                if key.strip().lower() == "content-length":
                    length = int(value)
            if len(got) < end + 4 + length:
                break
            codes.append(int(head.split(" ")[1]))
            got = got[end + 4 + length:]
    return codes


def floor():
    stage("breakdown-floor", True)
    t0 = time.monotonic()
    proc = subprocess.Popen(jailer_argv("breakdown-floor") + ["--no-api", "--config-file", "/config.json"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t1 = None
    for line in proc.stdout:
        if b"Successfully started microvm" in line:
            t1 = time.monotonic()
            break
    stop(proc, "breakdown-floor")
    if t1 is None:
        raise RuntimeError("the floor VM did not start")
    return (t1 - t0) * 1000


def api():
    root = stage("breakdown-api", False)
    sock_path = os.path.join(root, "run", "firecracker.socket")
    t0 = time.monotonic()
    proc = subprocess.Popen(jailer_argv("breakdown-api") + ["--api-sock", "/run/firecracker.socket"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = socket.socket(socket.AF_UNIX)
    while True:
        try:
            sock.connect(sock_path)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("firecracker exited before its API socket answered")
            time.sleep(0.0002)
    puts = [request("GET", "/"), request("PUT", "/machine-config", config["machine-config"]),
            request("PUT", "/boot-source", config["boot-source"])]
    puts += [request("PUT", "/drives/" + d["drive_id"], d) for d in config.get("drives", [])]
    puts += [request("PUT", "/network-interfaces/" + n["iface_id"], n) for n in config.get("network-interfaces", [])]
    sock.sendall(b"".join(puts))
    codes = read_answers(sock, len(puts))
    sock.sendall(request("PUT", "/actions", {"action_type": "InstanceStart"}) + request("GET", "/"))
    codes += read_answers(sock, 2)
    t1 = time.monotonic()
    sock.close()
    stop(proc, "breakdown-api")
    if any(c >= 300 for c in codes):
        raise RuntimeError(f"Firecracker answered {codes}")
    return (t1 - t0) * 1000


def firec():
    t0 = time.monotonic()
    done = subprocess.run([firec_run, "run", "-d", "-q", manifest], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t1 = time.monotonic()
    subprocess.run([firec_run, "rm", "-f", name], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError("firec-run failed: " + done.stderr.decode(errors="replace"))
    return (t1 - t0) * 1000


def ratios(a, b):
    r = sorted(x / y for x, y in zip(a, b))
    return f"median {statistics.median(r):.3f}  min {r[0]:.3f}  max {r[-1]:.3f}"


os.makedirs(base, exist_ok=True)
times = {"floor": [], "api": [], "firec": []}
starts = [("floor", floor), ("api", api), ("firec", firec)]
for i in range(rounds):
    # Each goes first, second and third in turn: the one right after a
    # teardown may meet a busier host.
    for key, start in starts[i % 3:] + starts[:i % 3]:
        times[key].append(start())
shutil.rmtree(base, ignore_errors=True)
med = {k: statistics.median(v) for k, v in times.items()}
print(f"start breakdown ({rounds} rounds): floor {med['floor']:.2f} ms, API client {med['api']:.2f} ms, "
      f"firec-run {med['firec']:.2f} ms (medians)")
print(f"  API client / floor, round by round (the API path): {ratios(times['api'], times['floor'])}")
print(f"  firec-run / API client (firec-run's own work):     {ratios(times['firec'], times['api'])}  (target <= 1.05)")
print(f"  firec-run / floor:                                 {ratios(times['firec'], times['floor'])}")
