/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for hostpath.c: which host paths the VM's uid could redirect.
   Each case builds a small tree where the VM's uid (10001:10002, as root) owns
   or may write some directory, and asks whether a path through it is refused,
   and why. Not root: SKIP (the tree needs other owners). */
#include "config.h"

#include "hostpath.h"
#include "stage.h"
#include "util.h"
#include "tap.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static char tmpdir[PATH_MAX];
static const uid_t U = 10001;
static const gid_t G = 10002;

__attribute__ ((format (printf, 1, 2))) static char *
tpath (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *rel = firec_xvasprintf (fmt, ap);
  va_end (ap);
  return firec_xasprintf ("%s/%s", tmpdir, rel);
}

__attribute__ ((format (printf, 4, 5))) static void
make_dir (mode_t mode, uid_t uid, gid_t gid, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *rel = firec_xvasprintf (fmt, ap);
  va_end (ap);
  cleanup_free char *p = tpath ("%s", rel);
  if (mkdir (p, mode) < 0 || chown (p, uid, gid) < 0 || chmod (p, mode) < 0)
    {
      perror (p);
      exit (99);
    }
}

static void
make_file (const char *rel, uid_t uid, mode_t mode)
{
  cleanup_free char *p = tpath ("%s", rel);
  FILE *f = fopen (p, "we");
  if (f == NULL || fclose (f) != 0 || chown (p, uid, 0) < 0 || chmod (p, mode) < 0)
    {
      perror (p);
      exit (99);
    }
}

/* The problem hostpath finds with rel used as use, or NULL. */
static char *
problem_of (const char *rel, enum firec_hostpath_use use)
{
  cleanup_free char *p = tpath ("%s", rel);
  struct firec_hostpath_query q = { p, use, NULL };
  cleanup_error firec_error_t err = NULL;
  if (firec_hostpath_check (&q, 1, U, G, &err) < 0)
    return firec_xasprintf ("error: %s", err->message);
  char *r = q.problem ? firec_xstrdup (q.problem) : NULL;
  firec_hostpath_release (&q, 1);
  return r;
}

static void
expect (const char *rel, enum firec_hostpath_use use, const char *want, const char *what)
{
  cleanup_free char *got = problem_of (rel, use);
  if (want == NULL)
    tap_ok (got == NULL, "%s: accepted%s%s", what, got ? ", got: " : "", got ? got : "");
  else
    tap_ok (got && strstr (got, want), "%s: refused, \"%s\" (got: %s)", what, want, got ? got : "accepted");
}

int
main (void)
{
  if (geteuid () != 0)
    {
      tap_ok (1, "# SKIP needs root (directories of other owners)");
      return tap_done ();
    }
  umask (022);
  const char *base = getenv ("TMPDIR");
  snprintf (tmpdir, sizeof tmpdir, "%s/firec-test-hostpath-XXXXXX", base && *base ? base : "/tmp");
  char real[PATH_MAX];
  if (mkdtemp (tmpdir) == NULL || realpath (tmpdir, real) == NULL || chmod (real, 0755) < 0)
    return 99;
  snprintf (tmpdir, sizeof tmpdir, "%s", real);

  make_dir (0755, 0, 0, "root");
  make_file ("root/file", 0, 0644);
  expect ("root/file", FIREC_HOSTPATH_OPEN, NULL, "a root file in root's directories");
  expect ("root/new.log", FIREC_HOSTPATH_NEW_NAME, NULL, "a new name in root's directory");

  make_dir (0755, U, G, "vm");
  make_dir (0755, 0, 0, "vm/sub");
  make_file ("vm/sub/file", 0, 0644);
  expect ("vm/sub/file", FIREC_HOSTPATH_OPEN, "belongs to the VM's uid 10001",
          "a root file below a directory of the VM's uid");
  expect ("vm/sub/new.log", FIREC_HOSTPATH_NEW_NAME, "belongs to the VM's uid 10001",
          "a new name below a directory of the VM's uid");

  make_dir (0775, 0, G, "grp");
  expect ("grp/new.log", FIREC_HOSTPATH_NEW_NAME, "writable by the VM's uid 10001 or gid 10002",
          "a new name in a directory the VM's gid may write");
  make_dir (0775, 0, G + 1, "othergrp");
  expect ("othergrp/new.log", FIREC_HOSTPATH_NEW_NAME, NULL, "a directory another group may write");

  make_dir (01777, 0, 0, "sticky");
  make_file ("sticky/root", 0, 0644);
  make_file ("sticky/vms", U, 0644);
  expect ("sticky/root", FIREC_HOSTPATH_OPEN, NULL, "a root file in a sticky directory");
  expect ("sticky/new.log", FIREC_HOSTPATH_NEW_NAME, NULL, "a new name in a sticky directory");
  expect ("sticky/vms", FIREC_HOSTPATH_OPEN, "may rename it", "a file of the VM's uid in a sticky directory");
  /* A name missing there (the VM's uid renamed its own away for the moment of
     the check) is one it could bring back. */
  expect ("sticky/gone/disk.img", FIREC_HOSTPATH_OPEN, "is missing from", "a name missing from a sticky directory");
  expect ("sticky/gone/new.log", FIREC_HOSTPATH_NEW_NAME, "is missing from",
          "a missing directory in a sticky directory, for a new name");
  expect ("root/gone/disk.img", FIREC_HOSTPATH_OPEN, NULL, "a name missing from root's directory (no one can add it)");

  /* A symlink of root's, in root's directory, to a place of the VM's: its target counts. */
  cleanup_free char *link = tpath ("root/via");
  cleanup_free char *target = tpath ("vm/sub");
  if (symlink (target, link) < 0)
    return 99;
  expect ("root/via/file", FIREC_HOSTPATH_OPEN, "belongs to the VM's uid 10001",
          "a root symlink whose target lies below a directory of the VM's uid");
  cleanup_free char *rel_link = tpath ("root/rel");
  if (symlink ("../root", rel_link) < 0)
    return 99;
  expect ("root/rel/file", FIREC_HOSTPATH_OPEN, NULL, "a relative symlink within root's directories");

  /* A binary root runs: the file itself must not be writable by the VM. */
  make_file ("root/bin-grp", 0, 0775);
  cleanup_free char *bin = tpath ("root/bin-grp");
  if (chown (bin, 0, G) < 0)
    return 99;
  expect ("root/bin-grp", FIREC_HOSTPATH_RUN, "which root runs, can be written", "a binary the VM's gid may write");
  expect ("root/bin-grp", FIREC_HOSTPATH_OPEN, NULL, "the same file only read");
  make_file ("root/bin", 0, 0755);
  expect ("root/bin", FIREC_HOSTPATH_RUN, NULL, "a root binary");

  /* A path missing from some component on is checked up to there. */
  expect ("vm/missing/deeper/file", FIREC_HOSTPATH_OPEN, "belongs to the VM's uid 10001",
          "a missing path below a directory of the VM's uid");
  expect ("root/missing/file", FIREC_HOSTPATH_OPEN, NULL, "a missing path below root's directory");

  cleanup_error firec_error_t err = NULL;
  tap_ok (firec_stage_remove_tree (tmpdir, &err) == 0, "the test directory is removed%s%s", err ? ": " : "",
          err ? err->message : "");
  return tap_done ();
}
