#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A service manager's end of NOTIFY_SOCKET, for tests: receives sd_notify
datagrams on a unix socket (a path, or @NAME for an abstract one) and appends
each field to LOG as "PID FIELD", PID being the sender's (SCM_CREDENTIALS), as
systemd's NotifyAccess=main checks it. LOG exists once the socket is bound.
Runs until SIGTERM, or 120 s."""
import signal
import socket
import struct
import sys

path, log = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
sock.bind("\0" + path[1:] if path.startswith("@") else path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.alarm(120)
ucred = struct.calcsize("iII")
with open(log, "a", encoding="utf-8") as out:
    while True:
        data, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(ucred))
        pid = 0
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", value[:ucred])[0]
        for field in data.decode("utf-8", "replace").split("\n"):
            if field:
                out.write(f"{pid} {field}\n")
        out.flush()
