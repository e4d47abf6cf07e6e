/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for version.c: `binary --version` and its cache. The "binary" is a
   script that counts its runs, so each test sees whether it ran or the cache
   answered. */
#include "config.h"

#include "version.h"
#include "util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/firec-test-version-XXXXXX";
static char binary[256], counter[256], cache_dir[256];

/* Writes the fake binary (in place, or as a new file renamed over it). */
static void
write_binary (const char *version_line, int exit_code, int replace)
{
  char path[300];
  snprintf (path, sizeof path, "%s%s", binary, replace ? ".new" : "");
  FILE *f = fopen (path, "w");
  if (f == NULL)
    abort ();
  fprintf (f,
           "#!/bin/sh\necho run >>'%s'\necho '%s'\necho 'Supported snapshot data format versions: v1.0.0'\nexit %d\n",
           counter, version_line, exit_code);
  fclose (f);
  chmod (path, 0755);
  if (replace && rename (path, binary) < 0)
    abort ();
}

static int
runs (void)
{
  char *text = NULL;
  size_t len = 0;
  if (firec_read_file (counter, 1 << 16, &text, &len) < 0)
    return 0;
  int n = 0;
  for (char *p = text; (p = strchr (p, '\n')); p++)
    n++;
  free (text);
  return n;
}

/* The version, or "error: ..." */
static char *
probe (const char *dir, long settle_s)
{
  struct firec_version_probe p;
  firec_version_probe_start (&p, binary, dir, settle_s);
  char *version = NULL;
  firec_error_t err = NULL;
  if (firec_version_probe_finish (&p, &version, &err) < 0)
    {
      char *msg = firec_xasprintf ("error: %s", err->message);
      firec_error_release (&err);
      return msg;
    }
  return version;
}

static void
check_probe (const char *dir, long settle_s, const char *want, int want_runs, const char *what)
{
  char *got = probe (dir, settle_s);
  int n = runs ();
  tap_ok (strcmp (got, want) == 0 && n == want_runs, "%s: %s after %d run(s)", what, want, want_runs);
  if (strcmp (got, want) != 0 || n != want_runs)
    printf ("#   got %s after %d run(s)\n", got, n);
  free (got);
}

int
main (void)
{
  if (mkdtemp (tmpdir) == NULL)
    return 1;
  snprintf (binary, sizeof binary, "%s/firecracker", tmpdir);
  snprintf (counter, sizeof counter, "%s/runs", tmpdir);
  snprintf (cache_dir, sizeof cache_dir, "%s/state/.versions", tmpdir);

  write_binary ("Firecracker v1.2.3", 0, 0);
  check_probe (NULL, 0, "1.2.3", 1, "no cache: the binary runs");
  check_probe (NULL, 0, "1.2.3", 2, "no cache: it runs each time");

  check_probe (cache_dir, 0, "1.2.3", 3, "first probe with a cache runs the binary");
  struct stat st;
  tap_ok (stat (cache_dir, &st) == 0 && (st.st_mode & 0777) == 0700, "the cache directory is made, mode 0700");
  check_probe (cache_dir, 0, "1.2.3", 3, "second probe: the cache answers, nothing runs");

  write_binary ("Firecracker v1.2.4", 0, 1);
  check_probe (cache_dir, 0, "1.2.4", 4, "a binary replaced by rename (new inode) is probed again");
  check_probe (cache_dir, 0, "1.2.4", 4, "and then remembered");

  write_binary ("Firecracker v1.2.5-rc1", 0, 0);
  check_probe (cache_dir, 0, "1.2.5-rc1", 5, "a binary rewritten in place is probed again");

  write_binary ("Firecracker v1.3.0", 0, 0);
  check_probe (cache_dir, 3600, "1.3.0", 6, "a binary changed within the settle time is probed");
  check_probe (cache_dir, 3600, "1.3.0", 7, "and not remembered: probed again");

  check_probe (cache_dir, 0, "1.3.0", 8, "remembered once settled");
  chmod (cache_dir, 0777);
  check_probe (cache_dir, 0, "1.3.0", 9, "a cache directory others may write is not trusted");
  chmod (cache_dir, 0700);
  check_probe (cache_dir, 0, "1.3.0", 9, "the entry counts again once the directory is ours alone");

  write_binary ("Firecracker v1.4.0", 3, 1);
  char *got = probe (cache_dir, 0);
  tap_ok (strstr (got, "--version exited with status 3") != NULL, "a failing --version is an error (%s)", got);
  free (got);
  got = probe (cache_dir, 0);
  tap_ok (strncmp (got, "error: ", 7) == 0 && runs () == 11, "and is not remembered: it runs again (%d runs)", runs ());
  free (got);

  write_binary ("not a version", 0, 1);
  got = probe (cache_dir, 0);
  tap_ok (strstr (got, "printed no version") != NULL, "output without a version is an error (%s)", got);
  free (got);

  char cmd[400];
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system (cmd) != 0)
    return 1;
  return tap_done ();
}
