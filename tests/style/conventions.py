#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The conventions of docs/CODING_STYLE.md that a pattern can hold (TAP).

Each check lists the code lines that break it, read without comments (and,
for calls, without string literals). A line that must break a rule carries a
comment saying why with "conventions: allow".
"""
import glob
import os
import re
import sys

os.chdir(os.environ.get("top_srcdir", "."))
LIB = sorted(glob.glob("src/libfirec/*.c"))
ALL = sorted(glob.glob("src/*.c")) + LIB


def strip(text, strings):
    """text with comments (and, if strings, string and char literals) blanked,
    newlines kept so that line numbers stay."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            lit = text[i : j + 1]
            out.append(c + re.sub(r"[^\n]", " ", lit[1:-1]) + c if strings else lit)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def offenders(files, pattern, strings, unless=None):
    found = []
    for path in files:
        raw = open(path, encoding="utf-8").read()
        raw_lines = raw.split("\n")
        for no, line in enumerate(strip(raw, strings).split("\n"), 1):
            if re.search(pattern, line) and not (unless and re.search(unless, line)):
                if "conventions: allow" not in raw_lines[no - 1]:
                    found.append("%s:%d: %s" % (path, no, raw_lines[no - 1].strip()))
    return found


CALL = r"(?<![\w.>])%s\s*\("
CHECKS = [
    ("the library spells no firec-run command line (it sets a remedy; the CLI phrases it)",
     LIB, r"`firec-run [a-z]", False, None),
    ("the library neither prints nor exits (it returns errors)",
     LIB, CALL % r"(printf|fprintf|puts|fputs|perror|exit|err|errx|warn|warnx)", True, None),
    ("no shell, no PATH search: exec with an explicit path and argv",
     ALL, CALL % r"(system|popen|execlp|execvp|execvpe)", True, None),
    ("every fd CLOEXEC: pipe2, accept4, F_DUPFD_CLOEXEC, epoll_create1, inotify_init1",
     ALL, CALL % r"(pipe|accept|dup|dup2|epoll_create|inotify_init)", True, None),
    ("every open with flags written out has O_CLOEXEC",
     ALL, CALL % r"(open|openat)" + r"[^;]*O_[A-Z]", True, r"O_CLOEXEC"),
    ("every socket is SOCK_CLOEXEC", ALL, CALL % r"socket", True, r"SOCK_CLOEXEC"),
    ("every fopen has the e mode (O_CLOEXEC)", ALL, r"fopen\s*\([^,]*,\s*\"[^e\"]*\"", False, None),
]

failed = 0
for n, (what, files, pattern, strings, unless) in enumerate(CHECKS, 1):
    found = offenders(files, pattern, strings, unless)
    print(("ok" if not found else "not ok") + " %d - %s" % (n, what))
    for f in found:
        print("#   " + f)
    failed += bool(found)
print("1..%d" % len(CHECKS))
sys.exit(1 if failed else 0)
