#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Proves that the test doubles behave like Firecracker and its jailer (TAP).
# Needs: $top_builddir (the doubles), curl with --unix-socket.
set -u

FC="$top_builddir/tests/doubles/fake-firecracker"
JL="$top_builddir/tests/doubles/fake-jailer"
W=$(mktemp -d "${TMPDIR:-/tmp}/test-doubles.XXXXXX") || exit 99
PIDS=""
n=0
failed=0

cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	[ -n "${TAP1:-}" ] && ip link delete "$TAP1" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if ! command -v curl >/dev/null 2>&1; then
	echo "1..0 # SKIP curl not installed"
	exit 0
fi

# t DESCRIPTION COMMAND...: one TAP test
t() {
	desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=$((failed + 1))
	fi
}

# api SOCK METHOD PATH [BODY]: sets $code, $body and $hdrs
api() {
	_s=$1 _m=$2 _p=$3
	shift 3
	if [ $# -gt 0 ]; then
		code=$(curl -sS --max-time 5 --unix-socket "$_s" -X "$_m" -D "$W/hdrs" -o "$W/body" \
			-w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$1" "http://localhost$_p")
	else
		code=$(curl -sS --max-time 5 --unix-socket "$_s" -X "$_m" -D "$W/hdrs" -o "$W/body" \
			-w '%{http_code}' "http://localhost$_p")
	fi
	body=$(cat "$W/body" 2>/dev/null)
	hdrs=$(tr -d '\r' <"$W/hdrs" 2>/dev/null)
}

wait_for() { # wait_for PATH: until it exists (5 s)
	i=0
	while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ -e "$1" ]
}

alive() { kill -0 "$1" 2>/dev/null; }
has() { case $1 in *"$2"*) return 0 ;; esac; return 1; }
is() { [ "$1" = "$2" ] || { echo "# got:      $1"; echo "# expected: $2"; return 1; }; }

# start_fc SOCK [VAR=VALUE...] [-- FLAGS]: fake firecracker in the background
start_fc() {
	_s=$1
	shift
	(
		while [ $# -gt 0 ] && [ "$1" != "--" ]; do export "$1"; shift; done
		[ $# -gt 0 ] && shift
		exec "$FC" --api-sock "$_s" "$@"
	) >"$W/fc.out" 2>"$W/fc.err" &
	fcpid=$!
	PIDS="$PIDS $fcpid"
	wait_for "$_s"
}

# ------------------------------------------------------------- the API
# TAP devices of this run only (other runs share the host); as root the fake
# creates them as Firecracker does, for as long as it holds them.
TAP0="fd${W##*.}0" TAP1="fd${W##*.}1" TAP2="fd${W##*.}2"
printf 'kernel' >"$W/vmlinux"
: >"$W/rootfs.ext4"
: >"$W/fc.log"
S="$W/a.sock"
start_fc "$S" FAKE_FC_REQUEST_LOG="$W/req.log" -- --id vm-1
t "socket created" test -S "$S"
api "$S" GET /
t "GET / before boot" is "$code $body" '200 {"id":"vm-1","state":"Not started","vmm_version":"1.5.1","app_name":"Firecracker"}'
api "$S" GET /version
t "GET /version" is "$body" '{"firecracker_version":"1.5.1"}'
api "$S" PUT /logger "{\"log_path\":\"$W/fc.log\",\"level\":\"Info\"}"
t "PUT /logger 204" is "$code" 204
t "a 204 has no Content-Length" sh -c '! grep -qi "^content-length" "$1"' _ "$W/hdrs"
t "status line without reason phrase" has "$hdrs" "HTTP/1.1 204 
Server: Firecracker API
Connection: keep-alive"
api "$S" PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256,"foo":1}'
t "unknown field rejected like serde" is "$code $body" '400 {"fault_message":"An error occurred when deserializing the json body of a request: unknown field `foo`, expected one of `vcpu_count`, `mem_size_mib`, `smt`, `cpu_template`, `track_dirty_pages` at line 1 column 40."}'
api "$S" PUT /machine-config '{"vcpu_count":"2","mem_size_mib":256}'
t "wrong type rejected" has "$body" 'invalid type: string \"2\", expected u8 at line 1 column 17.'
api "$S" PUT /machine-config '{"vcpu_count":33,"mem_size_mib":256}'
t "vcpu_count > 32 rejected (1.5.1)" has "$body" 'expected number of vCPUs exceeds the maximum limitation at line 1 column 16.'
api "$S" PUT /machine-config '{"vcpu_count":2,"mem_size_mib":256}'
t "PUT /machine-config" is "$code" 204
api "$S" PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$W/rootfs.ext4\",\"is_root_device\":true}"
t "missing field" has "$body" 'missing field `is_read_only`'
api "$S" PUT /drives/root-fs '{"drive_id":"root-fs"}'
t "path id rule" has "$body" 'API Resource IDs can only contain alphanumeric characters and underscores.'
api "$S" PUT /drives/a "{\"drive_id\":\"b\",\"path_on_host\":\"$W/rootfs.ext4\",\"is_root_device\":false,\"is_read_only\":true}"
t "path/body id mismatch" has "$body" 'The id from the path does not match the id from the body!'
api "$S" PUT /drives/data "{\"drive_id\":\"data\",\"path_on_host\":\"$W/nope.img\",\"is_root_device\":false,\"is_read_only\":false}"
t "drive opened at PUT time" is "$body" "{\"fault_message\":\"Invalid block device path: $W/nope.img\"}"
api "$S" PUT /drives/rootfs "{\"drive_id\":\"rootfs\",\"path_on_host\":\"$W/rootfs.ext4\",\"is_root_device\":true,\"is_read_only\":false}"
t "PUT /drives/rootfs" is "$code" 204
api "$S" PUT /drives/second "{\"drive_id\":\"second\",\"path_on_host\":\"$W/rootfs.ext4\",\"is_root_device\":true,\"is_read_only\":true}"
t "one root device only" is "$body" '{"fault_message":"A root block device already exists!"}'
api "$S" PUT /network-interfaces/eth0 "{\"iface_id\":\"eth0\",\"host_dev_name\":\"$TAP0\",\"guest_mac\":\"06:00:AC:10:00:02\"}"
if [ "$(id -u)" = 0 ]; then
	# As root Firecracker's open creates a missing TAP (for as long as it holds it).
	t "PUT /network-interfaces/eth0" is "$code" 204
	t "... opened the TAP as Firecracker does (its file is attached: fdinfo's iff)" \
		sh -c 'grep -q "^iff:[[:space:]]*$2\$" /proc/"$1"/fdinfo/*' _ "$fcpid" "$TAP0"
	api "$S" PUT /network-interfaces/eth2 "{\"iface_id\":\"eth2\",\"host_dev_name\":\"$TAP0\"}"
	t "a TAP another interface holds: the kernel's EBUSY in 1.5.1's words" is "$body" "{\"fault_message\":\"Could not create the network device: Open tap device failed: Error while creating ifreq structure: Resource busy (os error 16). Invalid TUN/TAP Backend provided by $TAP0. Check our documentation on setting up the network devices.\"}"
	# A TAP of root's, opened as another uid (as the jailed one runs): EPERM.
	# (in a root of its own with the VM's /dev/net/tun, as the jailer makes it)
	chmod 0711 "$W"; mkdir -p "$W/nobody/dev/net"; chown -R 65534:65534 "$W/nobody"
	mknod -m 0600 "$W/nobody/dev/net/tun" c 10 200; chown 65534:65534 "$W/nobody/dev/net/tun"
	ip tuntap add "$TAP1" mode tap user 0
	(FAKE_FIRECRACKER_ROOT=$W/nobody exec setpriv --reuid=65534 --regid=65534 --clear-groups "$FC" --api-sock /n.sock) >/dev/null 2>&1 &
	PIDS="$PIDS $!"
	wait_for "$W/nobody/n.sock"
	api "$W/nobody/n.sock" PUT /network-interfaces/eth0 "{\"iface_id\":\"eth0\",\"host_dev_name\":\"$TAP1\"}"
	t "a root-owned TAP opened by another uid: 1.5.1's misleading EPERM, word for word" is "$body" "{\"fault_message\":\"Could not create the network device: Open tap device failed: Error while creating ifreq structure: Operation not permitted (os error 1). Invalid TUN/TAP Backend provided by $TAP1. Check our documentation on setting up the network devices.\"}"
	ip link delete "$TAP1"
else
	t "PUT /network-interfaces/eth0: creating a TAP needs CAP_NET_ADMIN" has "$body" "Error while creating ifreq structure: Operation not permitted (os error 1). Invalid TUN/TAP Backend provided by $TAP0."
fi
api "$S" PUT /network-interfaces/eth1 "{\"iface_id\":\"eth1\",\"host_dev_name\":\"$TAP1\",\"guest_mac\":\"06:00:ac:10:00:02\"}"
if [ "$(id -u)" = 0 ]; then
	t "duplicate MAC" is "$body" '{"fault_message":"The MAC address is already in use: 06:00:ac:10:00:02"}'
fi
api "$S" PUT /network-interfaces/eth1 "{\"iface_id\":\"eth1\",\"host_dev_name\":\"$TAP1\",\"mtu\":1500}"
t "mtu unknown in 1.5.1" has "$body" 'unknown field `mtu`'
api "$S" PUT /mmds/config '{"network_interfaces":["eth9"]}'
t "mmds-config ifaces must exist" has "$body" 'does not correspond to any existing network interface.'
api "$S" PUT /mmds/config '{"version":"V2","network_interfaces":["eth0"]}'
t "PUT /mmds/config" is "$code" 204
api "$S" PUT /mmds '{"latest":{"meta-data":{"a":"1","b":"2"}}}'
api "$S" PATCH /mmds '{"latest":{"meta-data":{"a":null,"c":"3"}}}'
api "$S" GET /mmds
t "MMDS merge patch" is "$body" '{"latest":{"meta-data":{"b":"2","c":"3"}}}'
api "$S" PUT /actions '{"action_type":"FlushMetrics"}'
t "FlushMetrics is post-boot" is "$body" '{"fault_message":"The requested operation is not supported before starting the microVM."}'
api "$S" PUT /actions '{"action_type":"InstanceStart"}'
t "InstanceStart needs a boot source" is "$body" '{"fault_message":"Cannot start microvm without kernel configuration."}'
api "$S" PUT /boot-source '{"kernel_image_path":"/no/such/vmlinux"}'
t "kernel opened at PUT time" is "$body" '{"fault_message":"The kernel file cannot be opened: No such file or directory (os error 2)"}'
api "$S" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\",\"boot_args\":\"console=ttyS0\"}"
t "PUT /boot-source" is "$code" 204
mv "$W/vmlinux" "$W/vmlinux.moved"
api "$S" PUT /actions '{"action_type":"InstanceStart"}'
t "InstanceStart (the kernel is held open)" is "$code" 204
mv "$W/vmlinux.moved" "$W/vmlinux"
api "$S" GET /
t "state Running" has "$body" '"state":"Running"'
api "$S" PUT /machine-config '{"vcpu_count":1,"mem_size_mib":128}'
t "pre-boot only after boot" is "$body" '{"fault_message":"The requested operation is not supported after starting the microVM."}'
api "$S" PUT /actions '{"action_type":"InstanceStart"}'
t "second InstanceStart rejected" has "$body" 'not supported after starting'
api "$S" PATCH /drives/rootfs '{"drive_id":"rootfs"}'
t "PATCH /drives needs a property" has "$body" 'Please specify at least one property to patch'
api "$S" PATCH /vm '{"state":"paused"}'
t "enums are case-sensitive" has "$body" 'unknown variant `paused`, expected `Paused` or `Resumed`'
api "$S" PATCH /vm '{"state":"Paused"}'
api "$S" GET /
t "PATCH /vm Paused" has "$body" '"state":"Paused"'
api "$S" PUT /snapshot/create "{\"snapshot_path\":\"$W/snap\",\"mem_file_path\":\"$W/mem\"}"
t "snapshot/create writes both files" sh -c '[ "$1" = 204 ] && [ -s "$2/snap" ] && [ -e "$2/mem" ]' _ "$code" "$W"
api "$S" GET /vm/config
t "GET /vm/config" has "$body" '"boot-source":{"kernel_image_path":"'"$W"'/vmlinux","initrd_path":null,"boot_args":"console=ttyS0"}'
api "$S" DELETE /drives/rootfs
t "DELETE unknown to 1.5.1 (transport error)" is "$body" '{ "error": "Invalid HTTP Method: Unsupported HTTP method.\nAll previous unanswered requests will be dropped." }'
api "$S" GET /nope
t "unknown path" is "$body" '{"fault_message":"Invalid request method and/or path: GET nope."}'
code=$(curl -sS --unix-socket "$S" -X PUT -H 'Transfer-Encoding: chunked' --data-binary '{"a":1}' -o "$W/body" -w '%{http_code}' http://localhost/mmds)
t "chunked body rejected" sh -c '[ "$1" = 400 ] && grep -q "\"error\"" "$2"' _ "$code" "$W/body"
head -c 60000 /dev/zero | tr '\0' ' ' >"$W/big"
code=$(curl -sS --unix-socket "$S" -X PUT --data-binary @"$W/big" -o "$W/body" -w '%{http_code}' http://localhost/mmds)
t "payload limit" grep -q 'Request payload with size 60000 is larger than the limit of 51200 allowed by server' "$W/body"
code=$(curl -sS --unix-socket "$S" -X PUT -H 'Expect: 100-continue' --data-binary '{"x":1}' -o "$W/body" -w '%{http_code}' http://localhost/mmds)
t "Expect: 100-continue" is "$code" 204
t "request log has one JSON line per request" grep -q '^{"method":"PUT","path":"/drives/rootfs","body":{"drive_id":"rootfs",.*"status":204}$' "$W/req.log"
api "$S" PATCH /vm '{"state":"Resumed"}'
api "$S" PUT /actions '{"action_type":"SendCtrlAltDel"}'
wait "$fcpid"
rc=$?
t "SendCtrlAltDel: exit 0 after the reply" is "$code $rc" "204 0"
t "log file written" grep -q 'Firecracker exited successfully' "$W/fc.log"

start_fc "$W/b.sock"
t "socket path in use: exit 1" sh -c '"$1" --api-sock "$2" >/dev/null 2>"$3"; [ $? = 1 ] && grep -q "Failed to open the API socket at: $2. Check that it is not already used." "$3"' _ "$FC" "$W/b.sock" "$W/err"
api "$W/b.sock" PUT /snapshot/load "{\"snapshot_path\":\"$W/snap\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"$W/mem\"}}"
api "$W/b.sock" GET /
t "snapshot/load on a fresh process: Paused" has "$body" '"state":"Paused"'
kill -TERM "$fcpid"
wait "$fcpid" 2>/dev/null
t "SIGTERM kills it" is "$?" 143

# Pipelined requests in one write, a GET (no body) first: each is parsed with
# its own headers only, and answered in order.
start_fc "$W/p.sock"
pipelined=$(python3 - "$W/p.sock" <<'PY'
import re, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
body = b'{"vcpu_count":1,"mem_size_mib":128}'
s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
          b"PUT /machine-config HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
s.settimeout(5); got = b""
while got.count(b"HTTP/1.1 ") < 2 or not got.endswith((b"}", b"\r\n\r\n")):
    chunk = s.recv(65536)
    if not chunk: break
    got += chunk
print(" ".join(c.decode() for c in re.findall(rb"HTTP/1\.1 (\d+) ", got)))
PY
)
t "pipelined GET / then PUT in one write: 200 then 204" is "$pipelined" "200 204"
kill -9 "$fcpid"

start_fc "$W/c.sock"
api "$W/c.sock" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\"}"
api "$W/c.sock" PUT /snapshot/load "{\"snapshot_path\":\"$W/snap\",\"mem_file_path\":\"$W/mem\"}"
t "snapshot/load after boot resources" has "$body" 'Loading a microVM snapshot not allowed after configuring boot-specific resources.'
t "deprecated input flagged" has "$hdrs" 'Deprecation: true'
kill -9 "$fcpid"

start_fc "$W/d.sock"
api "$W/d.sock" PUT /snapshot/load "{\"snapshot_path\":\"$W/nope\",\"mem_file_path\":\"$W/mem\"}"
wait "$fcpid"
t "a failed load answers, then exits 1" is "$code $?" "400 1"

t "--version" is "$("$FC" --version | head -1)" "Firecracker v1.5.1"
t "--version 1.16" is "$(FAKE_FC_VERSION=1.16.0 "$FC" --version)" "Firecracker v1.16.0"
"$FC" --api-sock=x >/dev/null 2>&1
t "--name=value rejected: 153" is "$?" 153
"$FC" --no-api >/dev/null 2>&1
t "--no-api needs --config-file: 153" is "$?" 153
"$FC" --level loud --api-sock "$W/e.sock" >/dev/null 2>&1
t "bad --level: 152" is "$?" 152
"$FC" --id bad_id --api-sock "$W/e.sock" >/dev/null 2>"$W/err"
t "invalid --id aborts" sh -c '[ "$1" = 134 ] && grep -q "Invalid instance ID" "$2"' _ "$?" "$W/err"
printf '{"boot-source":{"kernel_image_path":"%s"},"drives":[],"extra-top-level":1}' "$W/vmlinux" >"$W/vm.json"
"$FC" --no-api --config-file "$W/vm.json" >"$W/out" 2>&1 &
p=$!
PIDS="$PIDS $p"
sleep 0.3
t "--no-api --config-file boots and keeps running" sh -c 'kill -0 "$1" && grep -q "Successfully started microvm that was configured from one single json" "$2"' _ "$p" "$W/out"
kill -9 "$p"

# ----------------------------------------------------------- 1.16 bits
start_fc "$W/f.sock" FAKE_FC_VERSION=1.16.0
api "$W/f.sock" PUT /network-interfaces/eth0 "{\"iface_id\":\"eth0\",\"host_dev_name\":\"$TAP2\",\"mtu\":1500}"
if [ "$(id -u)" = 0 ]; then t "1.16 knows mtu" is "$code" 204
else t "1.16 knows mtu (and prefixes the TAP's error)" has "$body" "Network config error: Could not create the network device"; fi
api "$W/f.sock" PUT /boot-source '{"kernel_image_path":"/nope"}'
t "1.16 error prefix" is "$body" '{"fault_message":"Boot source error: The kernel file cannot be opened: No such file or directory (os error 2)"}'
api "$W/f.sock" PUT /metrics "{\"metrics_path\":\"$W/m116.json\"}"
t "1.16 creates the metrics file" sh -c '[ "$1" = 204 ] && [ -e "$2" ]' _ "$code" "$W/m116.json"
api "$W/f.sock" PUT /metrics "{\"metrics_path\":\"$W/m116.json\"}"
t "metrics only once" has "$body" 'Reinitialization of metrics not allowed.'
kill -9 "$fcpid"

# ------------------------------------------------------ fault injection
start_fc "$W/g.sock" FAKE_FC_FAIL_AT="PUT /actions:InstanceStart" FAKE_FC_REQUEST_LOG="$W/g.log"
api "$W/g.sock" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\"}"
api "$W/g.sock" PUT /actions '{"action_type":"InstanceStart"}'
t "FAKE_FC_FAIL_AT" is "$code $body" '400 {"fault_message":"injected failure at PUT /actions:InstanceStart"}'
api "$W/g.sock" GET /
t "FAKE_FC_FAIL_AT changes nothing" has "$body" '"state":"Not started"'
kill -9 "$fcpid"

start_fc "$W/h.sock" FAKE_FC_CRASH_AT="PUT /boot-source"
api "$W/h.sock" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\"}"
wait "$fcpid"
t "FAKE_FC_CRASH_AT: abort, no answer" is "$?" 134

start_fc "$W/i.sock" FAKE_FC_HANG_AT="GET /machine-config"
hung=$(curl -sS --max-time 1 --unix-socket "$W/i.sock" -o /dev/null -w '%{http_code}' http://localhost/machine-config 2>/dev/null)
api "$W/i.sock" GET /
t "FAKE_FC_HANG_AT: no answer, still serving" is "$hung:$code" "000:200"
kill -9 "$fcpid"

start_fc "$W/drop.sock" FAKE_FC_DROP_AT="PUT /machine-config" FAKE_FC_REQUEST_LOG="$W/drop.log"
api "$W/drop.sock" PUT /machine-config '{"vcpu_count":1,"mem_size_mib":128}'
t "FAKE_FC_DROP_AT: closed without an answer" is "$code" "000"
api "$W/drop.sock" GET /
t "FAKE_FC_DROP_AT: still serving" is "$code" 200
t "FAKE_FC_DROP_AT: the request is logged" is "$(grep -c '"path":"/machine-config"' "$W/drop.log")" 1
kill -9 "$fcpid"

start_fc "$W/fail-exit.sock" FAKE_FC_FAIL_EXIT_AT="PUT /actions:InstanceStart"
api "$W/fail-exit.sock" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\"}"
api "$W/fail-exit.sock" PUT /actions '{"action_type":"InstanceStart"}'
wait "$fcpid"
t "FAKE_FC_FAIL_EXIT_AT: 400, then exit 1" is "$code $body $?" '400 {"fault_message":"injected failure at PUT /actions:InstanceStart"} 1'

start=$(date +%s%N)
start_fc "$W/j.sock" FAKE_FC_SOCKET_DELAY_MS=300
el=$((($(date +%s%N) - start) / 1000000))
t "FAKE_FC_SOCKET_DELAY_MS" test "$el" -ge 300
kill -9 "$fcpid"

FAKE_FC_EXIT_AT_START=7 "$FC" --api-sock "$W/k.sock" >/dev/null 2>"$W/err"
t "FAKE_FC_EXIT_AT_START" sh -c '[ "$1" = 7 ] && [ ! -e "$2" ] && grep -q "exiting at start as asked" "$3"' _ "$?" "$W/k.sock" "$W/err"

start_fc "$W/l.sock" FAKE_FC_IGNORE_CTRL_ALT_DEL=1
api "$W/l.sock" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\"}"
api "$W/l.sock" PUT /actions '{"action_type":"InstanceStart"}'
api "$W/l.sock" PUT /actions '{"action_type":"SendCtrlAltDel"}'
sleep 0.2
t "FAKE_FC_IGNORE_CTRL_ALT_DEL" alive "$fcpid"
kill -9 "$fcpid"

# The guest console: lines on stdout from InstanceStart on, then the marker;
# stdin echoed; a full non-blocking stdout does not stop the API.
mkfifo "$W/console.in"
exec 7<>"$W/console.in"
FAKE_FC_GUEST_OUTPUT=800 "$FC" --api-sock "$W/m.sock" <"$W/console.in" >"$W/fc.out" 2>"$W/fc.err" &
fcpid=$!
PIDS="$PIDS $fcpid"
wait_for "$W/m.sock"
t "no guest output before InstanceStart" sh -c '! grep -q "guest line" "$1"' _ "$W/fc.out"
api "$W/m.sock" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\"}"
api "$W/m.sock" PUT /actions '{"action_type":"InstanceStart"}'
printf 'typed by the user\r' >&7
i=0; while ! grep -q "typed by the user" "$W/fc.out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
t "FAKE_FC_GUEST_OUTPUT: 10 lines of 80 bytes, then the marker" \
	sh -c 'grep -c "^guest line 0000000[0-9] x*.$" "$1" | grep -qx 10 && grep -q "^guest output done" "$1"' _ "$W/fc.out"
t "the guest echoes its stdin" grep -q "typed by the user" "$W/fc.out"
exec 7>&-
kill -9 "$fcpid"
VMLINUX=$W/vmlinux "$PYTHON3" - "$FC" "$W/n.sock" <<'PY' >"$W/stall.out" 2>&1
import fcntl, os, subprocess, sys, time, socket
fc, sock = sys.argv[1:3]
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, os.O_NONBLOCK)
env = dict(os.environ, FAKE_FC_GUEST_STREAM="1")
p = subprocess.Popen([fc, "--api-sock", sock], stdout=w, stderr=subprocess.DEVNULL, env=env)
def api(method, path, body=""):
    for _ in range(100):
        try:
            s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sock); break
        except OSError:
            time.sleep(0.05)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
    return s.recv(4096).decode().split(" ")[1]
api("PUT", "/boot-source", '{"kernel_image_path":"%s"}' % os.environ["VMLINUX"])
api("PUT", "/actions", '{"action_type":"InstanceStart"}')
time.sleep(0.5)  # the pipe is full long before: nobody reads it
print("GET / with a full non-blocking stdout:", api("GET", "/"))
p.kill()
PY
t "FAKE_FC_GUEST_STREAM: a full non-blocking stdout does not stall the API" grep -q "full non-blocking stdout: 200" "$W/stall.out"

# ------------------------------------------------------------ the jailer
JB="$W/jail"
mkdir -p "$JB"
ID=$(id -u)
GD=$(id -g)
JR="$JB/fake-firecracker/vm1/root"
"$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" -- --no-api >"$W/jl.out" 2>&1 &
p=$!
PIDS="$PIDS $p"
sleep 0.3
t "jailer layout" sh -c 'for f in fake-firecracker dev/kvm dev/urandom; do [ -f "$1/$f" ] || exit 1; done; [ -d "$1/run" ]' _ "$JR"
if [ "$(id -u)" = 0 ]; then
	t "the jail's /dev/net/tun is the real device, the VM's (as the real jailer makes it)" \
		is "$(stat -c '%F %t:%T %a %u:%g' "$JR/dev/net/tun")" "character special file a:c8 600 $ID:$GD"
else
	t "unprivileged, the jail's /dev/net/tun is a placeholder" test -f "$JR/dev/net/tun"
fi
t "1.5.1 without --new-pid-ns: no pid file" test ! -e "$JR/fake-firecracker.pid"
kill -9 "$p" 2>/dev/null
wait "$p" 2>/dev/null
"$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" >"$W/jl.out" 2>"$W/err"
t "reused jail fails like mknod (1.5.1: SIGABRT)" sh -c '[ "$1" = 134 ] && grep -q "Failed to create /dev/net/tun via mknod inside the jail: File exists (os error 17)" "$2"' _ "$?" "$W/err"
rm -rf "$JB/fake-firecracker"

"$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" >"$W/jl.out" 2>&1 &
p=$!
PIDS="$PIDS $p"
wait_for "$JR/run/firecracker.socket"
api "$JR/run/firecracker.socket" GET /
t "1.5.1 execs in place (same pid)" sh -c '[ "$1" = 200 ] && [ "$(readlink /proc/$2/exe)" = "$3/fake-firecracker" ]' _ "$code" "$p" "$JR"
printf 'k' >"$JR/vmlinux"
api "$JR/run/firecracker.socket" PUT /boot-source '{"kernel_image_path":"/vmlinux"}'
t "paths resolve inside the jail" is "$code" 204
api "$JR/run/firecracker.socket" PUT /boot-source "{\"kernel_image_path\":\"$W/vmlinux\"}"
t "host paths are not visible in the jail" has "$body" 'No such file or directory'
kill -9 "$p"
rm -rf "$JB/fake-firecracker"

"$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" --new-pid-ns >"$W/jl.out" 2>&1
rc=$?
pid=$(cat "$JR/fake-firecracker.pid" 2>/dev/null)
PIDS="$PIDS $pid"
t "--new-pid-ns: exit 0 and pid file without newline" sh -c '[ "$1" = 0 ] && [ "$(wc -l <"$2")" = 0 ] && kill -0 "$3"' _ "$rc" "$JR/fake-firecracker.pid" "${pid:-0}"
kill -TERM "$pid" 2>/dev/null
sleep 0.1
t "--new-pid-ns: SIGTERM ignored like PID 1" alive "$pid"
kill -9 "$pid"
rm -rf "$JB/fake-firecracker"

FAKE_FC_VERSION=1.16.0 "$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" >"$W/jl.out" 2>&1 &
p=$!
PIDS="$PIDS $p"
wait_for "$JR/run/firecracker.socket"
t "1.16: pid file always (own pid)" is "$(cat "$JR/fake-firecracker.pid")" "$p"
kill -9 "$p"
rm -rf "$JB/fake-firecracker"

FAKE_FC_VERSION=1.16.0 "$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" --daemonize >"$W/jl.out" 2>&1
rc=$?
wait_for "$JR/run/firecracker.socket"
pid=$(cat "$JR/fake-firecracker.pid" 2>/dev/null)
PIDS="$PIDS $pid"
t "1.16 --daemonize: exit 0, daemon pid in the pid file" sh -c '[ "$1" = 0 ] && kill -0 "$2"' _ "$rc" "${pid:-0}"
kill -9 "$pid"
rm -rf "$JB/fake-firecracker"

cp "$FC" "$W/fc-notnamed"
"$JL" --id vm1 --exec-file "$W/fc-notnamed" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" >"$W/jl.out" 2>"$W/err"
t "1.5.1 exec file name rule" sh -c '[ "$1" = 134 ] && grep -q "must contain \"firecracker\": fc-notnamed" "$2"' _ "$?" "$W/err"
FAKE_FC_VERSION=1.16.0 "$JL" --id bad_id --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" >"$W/jl.out" 2>"$W/err"
t "1.16 errors: message, exit 1" sh -c '[ "$1" = 1 ] && grep -q "Invalid instance ID: Invalid char (_) at position 3" "$2"' _ "$?" "$W/err"
"$JL" --id vm1 --exec-file "$FC" --uid x --gid 0 --chroot-base-dir "$JB" --bogus >"$W/jl.out" 2>"$W/err"
t "argument errors exit 1" sh -c '[ "$1" = 1 ] && grep -q "Failed to parse arguments" "$2"' _ "$?" "$W/err"
"$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" --cgroup cpu.shares=10 >"$W/jl.out" 2>"$W/err"
t "--cgroup without a cgroup root fails" sh -c '[ "$1" = 134 ] && grep -q "Hierarchy not found: cpu" "$2"' _ "$?" "$W/err"
rm -rf "$JB/fake-firecracker"
mkdir -p "$W/cg"
FAKE_JAILER_CGROUP_ROOT="$W/cg" "$JL" --id vm1 --exec-file "$FC" --uid "$ID" --gid "$GD" --chroot-base-dir "$JB" \
	--cgroup-version 2 --cgroup cpu.weight=50 --parent-cgroup fc --new-pid-ns >"$W/jl.out" 2>&1
pid=$(cat "$JR/fake-firecracker.pid" 2>/dev/null)
PIDS="$PIDS $pid"
t "cgroup v2 files" sh -c '[ "$(cat "$1/fc/vm1/cpu.weight")" = 50 ] && [ -s "$1/fc/vm1/cgroup.procs" ]' _ "$W/cg"
# One pid a line, as the real jailer writes them: "2042120421" reads as no pid.
t "cgroup.procs: one pid a line" sh -c '[ -z "$(tail -c1 "$1")" ] && ! grep -qvx "[0-9][0-9]*" "$1"' _ "$W/cg/fc/vm1/cgroup.procs"
kill -9 "$pid" 2>/dev/null

if [ "$(id -u)" = 0 ]; then
	rm -rf "$JB/fake-firecracker"
	"$JL" --id vm1 --exec-file "$FC" --uid 65534 --gid 65534 --chroot-base-dir "$JB" --new-pid-ns >"$W/jl.out" 2>&1
	pid=$(cat "$JR/fake-firecracker.pid" 2>/dev/null)
	PIDS="$PIDS $pid"
	wait_for "$JR/run/firecracker.socket"
	printf 'k' >"$JR/vmlinux"
	chmod 600 "$JR/vmlinux"
	api "$JR/run/firecracker.socket" PUT /boot-source '{"kernel_image_path":"/vmlinux"}'
	t "root: privileges dropped, files opened as the jail uid" sh -c 'grep -q "^Uid:	65534	65534" /proc/$1/status && [ "$2" = 400 ]' _ "${pid:-0}" "$code"
	kill -9 "$pid" 2>/dev/null
else
	n=$((n + 1))
	echo "ok $n - privilege drop # SKIP needs root"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
