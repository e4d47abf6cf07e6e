#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The schema's x-firec-since against the Firecracker under test (TAP): for each
# annotated field (and each value of a value map), the API of a release older
# than the annotation refuses it (unknown field or variant, unknown path), and
# that of a release as new or newer takes it. Firecracker runs with only its API
# (no VM), one request per process. Every annotation in the schema must have a
# case here. Against the doubles (make check) this checks their field tables.
. "$top_srcdir/tests/e2e/lib.sh"

out=$("$PYTHON3" - "$FC" "$FC_VERSION" "$WORK" "$top_srcdir/schemas/firec-vm.v1alpha1.schema.json" <<'PY'
import json, os, socket, subprocess, sys, time
fc, version, work, schema_path = sys.argv[1:5]
d = os.path.join(work, "api-fields"); os.makedirs(d)
f = os.path.join(d, "file")
with open(f, "wb") as o:
    o.truncate(4 << 20)
tb = {"size": 1000, "refill_time": 100}
load = {"snapshot_path": f, "mem_backend": {"backend_type": "File", "backend_path": f}}
# (pointer, value or None, method, path, body); value: a case for one value of a value map.
cases = [
    ("/spec/machine-config/huge_pages", None, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "2M"}),
    ("/spec/machine-config/huge_pages", "Transparent", "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "Transparent"}),
    ("/spec/drives/0/socket", None, "PUT", "/drives/vu", {"drive_id": "vu", "is_root_device": False, "socket": d + "/none.sock"}),
    ("/spec/pmem", None, "PUT", "/pmem/pm0", {"id": "pm0", "path_on_host": f}),
    ("/spec/pmem/0/rate_limiter", None, "PUT", "/pmem/pm0", {"id": "pm0", "path_on_host": f, "rate_limiter": {"bandwidth": tb}}),
    ("/spec/network-interfaces/0/mtu", None, "PUT", "/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "firec-notap", "mtu": 1500}),
    ("/spec/balloon/free_page_hinting", None, "PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False, "free_page_hinting": True}),
    ("/spec/balloon/free_page_reporting", None, "PUT", "/balloon", {"amount_mib": 0, "deflate_on_oom": False, "free_page_reporting": True}),
    ("/spec/serial", None, "PUT", "/serial", {"serial_out_path": d + "/serial.out"}),
    ("/spec/serial/rate_limiter", None, "PUT", "/serial", {"serial_out_path": d + "/serial.out", "rate_limiter": tb}),
    ("/spec/logger/module", None, "PUT", "/logger", {"log_path": d + "/log", "module": "api_server"}),
    ("/spec/metrics/emit_id", None, "PUT", "/metrics", {"metrics_path": d + "/metrics", "emit_id": True}),
    ("/spec/metrics/properties", None, "PUT", "/metrics", {"metrics_path": d + "/metrics", "properties": {"a": "b"}}),
    ("/spec/mmds-config/imds_compat", None, "PUT", "/mmds/config", {"network_interfaces": ["eth0"], "imds_compat": True}),
    ("/spec/memory-hotplug", None, "PUT", "/hotplug/memory", {"total_size_mib": 1024}),
    ("/spec/snapshot/track_dirty_pages", None, "PUT", "/snapshot/load", dict(load, track_dirty_pages=True)),
    ("/spec/snapshot/network_overrides", None, "PUT", "/snapshot/load", dict(load, network_overrides=[{"iface_id": "eth0", "host_dev_name": "firec-notap"}])),
    ("/spec/snapshot/vsock_override", None, "PUT", "/snapshot/load", dict(load, vsock_override={"uds_path": "/v.sock"})),
    ("/spec/snapshot/clock_realtime", None, "PUT", "/snapshot/load", dict(load, clock_realtime=True)),
    ("/spec/snapshot/huge_pages", None, "PUT", "/snapshot/load", dict(load, huge_pages="None")),
]
# Firecracker takes any field in PUT /metrics (its Metrics config does not deny
# unknown ones): an older release ignores these rather than refusing them.
ignored_when_unknown = {"/spec/metrics/emit_id", "/spec/metrics/properties"}

def annotations():
    schema = json.load(open(schema_path))
    found = {}
    def walk(node, pointer, depth=0):
        if not isinstance(node, dict) or depth > 32:
            return
        target = node
        if "$ref" in node:
            target = schema["$defs"][node["$ref"].split("/")[-1]]
        since = node.get("x-firec-since", target.get("x-firec-since"))
        if isinstance(since, str):
            found[(pointer, None)] = since
        elif isinstance(since, dict):
            if "field" in since:
                found[(pointer, None)] = since["field"]
            for value, v in since.get("values", {}).items():
                found[(pointer, value)] = v
        for k, sub in target.get("properties", {}).items():
            walk(sub, pointer + "/" + k, depth + 1)
        if "items" in target:
            walk(target["items"], pointer + "/0", depth + 1)
        for b in target.get("oneOf", []) + target.get("anyOf", []) + target.get("allOf", []):
            walk(b, pointer, depth + 1)
    walk(schema, "")
    return found

def newer_or_same(a, b):
    return [int(x) for x in a.split(".")] >= [int(x) for x in b.split(".")]

def request(sock, method, path, body):
    data = json.dumps(body).encode()
    # The socket file appears at bind(), a moment before listen(): refused until then.
    for attempt in range(200):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(sock)
            break
        except ConnectionRefusedError:
            s.close()
            if attempt == 199:
                raise
            time.sleep(0.01)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
              f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    out = b""
    while True:
        head, sep, rest = out.partition(b"\r\n\r\n")
        if sep:
            lengths = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if len(rest) >= (int(lengths[0].split(b":")[1]) if lengths else 0):
                break
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    status = out.split(b" ", 2)[1].decode() if out else "no answer"
    return status, out.partition(b"\r\n\r\n")[2].decode(errors="replace")

def ask(method, path, body):
    sock = os.path.join(d, "api.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    env = {k: v for k, v in os.environ.items() if k.startswith("FAKE_")}
    p = subprocess.Popen([fc, "--api-sock", sock, "--id", "api-fields"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.01)
        return request(sock, method, path, body)
    finally:
        p.kill()
        p.wait()

found = annotations()
covered = set()
for pointer, value, method, path, body in cases:
    key = (pointer, value)
    covered.add(key)
    name = pointer + (" = " + value if value else "")
    since = found.get(key)
    if since is None:
        print(f"FAIL\t{name}: the schema has no x-firec-since here (a stale case)")
        continue
    status, message = ask(method, path, body)
    refused = status == "400" and any(m in message for m in ("unknown field", "unknown variant", "Invalid request method and/or path"))
    if newer_or_same(version, since):
        print(f"{'FAIL' if refused else 'PASS'}\t{name} (>= {since}): Firecracker {version} takes it ({status} {message[:120]})")
    elif pointer in ignored_when_unknown:
        print(f"SKIP\t{name} (>= {since}): Firecracker {version} ignores unknown fields there\tignored, not refused")
    else:
        print(f"{'PASS' if refused else 'FAIL'}\t{name} (>= {since}): Firecracker {version} refuses it ({status} {message[:120]})")
for key in sorted(set(found) - covered, key=str):
    print(f"FAIL\t{key[0]}{' = ' + key[1] if key[1] else ''}: no case here for this x-firec-since")
PY
)
[ -n "$out" ] || not_ok "the cases ran"
while IFS=$'\t' read -r verdict what why; do
  case $verdict in
    PASS) ok "$what" ;;
    SKIP) skip "$what" "$why" ;;
    *) not_ok "$what" ;;
  esac
done <<<"$out"
done_testing
