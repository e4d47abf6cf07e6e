#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs a command on a pseudo-terminal, as a user at a terminal would, and
drives it with a list of actions (the e2e console tests' `expect`).

Usage: pty-drive.py ACTION... -- COMMAND [ARG...]

Actions, in order (BYTES take Python escapes: \\r, \\x1d ...):
  expect:REGEX     wait (10 s) until the output so far matches REGEX
  send:BYTES       type BYTES
  sleep:SECONDS
  touch:PATH       create PATH (tells the calling script where we are)
  pidfile:PATH     write the command's pid to PATH
  waitfile:PATH    wait (20 s) until PATH exists
  termios:raw      the terminal is in raw mode now (no ICANON, no ECHO)
  termios:cooked   ... in canonical mode with echo (as it was given)
  exit:CODE        wait (10 s) for the command to exit with CODE
Exits 0 when every action held, 1 (saying which did not) otherwise. The whole
output is written to $PTY_LOG when that is set."""
import os
import pty
import re
import select
import signal
import sys
import termios
import time


def main():
    split = sys.argv.index("--")
    actions, command = sys.argv[1:split], sys.argv[split + 1:]
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    output = bytearray()
    status = None

    def read_some(timeout):
        nonlocal status
        ready, _, _ = select.select([master], [], [], timeout)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            output.extend(data)
            return bool(data)
        return False

    def reap(timeout):
        nonlocal status
        deadline = time.monotonic() + timeout
        while status is None and time.monotonic() < deadline:
            read_some(0.05)
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
        return status

    def fail(what):
        if os.environ.get("PTY_LOG"):
            open(os.environ["PTY_LOG"], "wb").write(bytes(output))
        print(f"pty-drive: {what}; the output so far:\n{bytes(output[-2000:])!r}", file=sys.stderr)
        if status is None:
            os.kill(pid, signal.SIGKILL)
        sys.exit(1)

    for action in actions:
        kind, _, arg = action.partition(":")
        if kind == "expect":
            deadline = time.monotonic() + 10
            while not re.search(arg.encode(), bytes(output)):
                if time.monotonic() > deadline:
                    fail(f"no {arg!r} within 10 s")
                read_some(0.1)
        elif kind == "send":
            os.write(master, arg.encode().decode("unicode_escape").encode("latin-1"))
        elif kind == "sleep":
            end = time.monotonic() + float(arg)
            while time.monotonic() < end:
                read_some(0.05)
        elif kind == "touch":
            open(arg, "w").close()
        elif kind == "pidfile":
            open(arg, "w").write(f"{pid}\n")
        elif kind == "waitfile":
            deadline = time.monotonic() + 20
            while not os.path.exists(arg):
                if time.monotonic() > deadline:
                    fail(f"no {arg} within 20 s")
                read_some(0.05)
        elif kind == "termios":
            lflag = termios.tcgetattr(master)[3]
            raw = not lflag & (termios.ICANON | termios.ECHO)
            cooked = lflag & termios.ICANON and lflag & termios.ECHO
            if (arg == "raw" and not raw) or (arg == "cooked" and not cooked):
                fail(f"the terminal is not {arg} (lflag {lflag:#o})")
        elif kind == "exit":
            code = reap(10)
            if code is None:
                fail("still running after 10 s")
            if code != int(arg):
                fail(f"exit {code}, not {arg}")
        else:
            fail(f"unknown action {action!r}")
    if os.environ.get("PTY_LOG"):
        open(os.environ["PTY_LOG"], "wb").write(bytes(output))


if __name__ == "__main__":
    main()
