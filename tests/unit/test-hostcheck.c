/* SPDX-License-Identifier: Apache-2.0 */
/* hostcheck: the huge page pool, read from a fake sysfs tree. */
#include "config.h"

#include "hostcheck.h"
#include "util.h"

#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char sysfs[] = "/tmp/firec-test-hostcheck-XXXXXX";

/* Writes the pool's files: nr, free, resv, overcommit, surplus (a negative
   value leaves the file out). */
static void
pool (long nr, long free_pages, long resv, long overcommit, long surplus)
{
  cleanup_free char *dir = firec_xasprintf ("%s/kernel/mm/hugepages/hugepages-2048kB", sysfs);
  cleanup_free char *mk = firec_xasprintf ("mkdir -p '%s'", dir);
  if (system (mk) != 0)
    abort ();
  const char *names[]
      = { "nr_hugepages", "free_hugepages", "resv_hugepages", "nr_overcommit_hugepages", "surplus_hugepages" };
  long values[] = { nr, free_pages, resv, overcommit, surplus };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (names); i++)
    {
      cleanup_free char *path = firec_xasprintf ("%s/%s", dir, names[i]);
      unlink (path);
      if (values[i] < 0)
        continue;
      FILE *f = fopen (path, "we");
      if (f == NULL)
        abort ();
      fprintf (f, "%ld\n", values[i]);
      fclose (f);
    }
}

static int
check (unsigned long long mem_mib, struct firec_hugepages *h, char **error)
{
  firec_error_t err = NULL;
  int rc = firec_hugepages_check (sysfs, 2048, mem_mib, h, &err);
  *error = err ? firec_xstrdup (err->message) : NULL;
  firec_error_release (&err);
  return rc;
}

int
main (void)
{
  if (mkdtemp (sysfs) == NULL)
    abort ();
  struct firec_hugepages h;
  cleanup_free char *error = NULL;

  pool (64, 64, 0, 0, 0);
  int rc = check (128, &h, &error);
  tap_ok (rc == 1 && h.needed == 64, "64 free pages cover 128 MiB (needs %llu)", h.needed);
  firec_hugepages_release (&h);

  pool (64, 63, 0, 0, 0);
  tap_ok (check (128, &h, &error) == 0, "63 free pages do not cover 128 MiB");
  cleanup_free char *msg = firec_hugepages_shortfall (&h);
  cleanup_free char *want = firec_xasprintf (
      "the guest memory needs 64 free 2 MiB huge pages, the host has 63 "
      "(%s/kernel/mm/hugepages/hugepages-2048kB: nr_hugepages 64, free_hugepages 63, resv_hugepages 0, 0 more by "
      "overcommit); reserve them first, e.g. `echo 65 > %s/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages`",
      sysfs, sysfs);
  TAP_STR_EQ (msg, want, "the shortfall says what is needed, what there is, and how to reserve more");
  firec_hugepages_release (&h);

  pool (100, 80, 30, 0, 0);
  tap_ok (check (128, &h, &error) == 0, "reserved pages are not free for a new VM (80 free, 30 reserved)");
  firec_hugepages_release (&h);

  pool (0, 0, 0, 64, 0);
  tap_ok (check (128, &h, &error) == 1, "overcommit lets the kernel add surplus pages");
  firec_hugepages_release (&h);

  pool (0, 0, 0, 64, 10);
  tap_ok (check (128, &h, &error) == 0, "surplus pages already in use count against the overcommit");
  firec_hugepages_release (&h);

  pool (0, 0, 0, 0, 0);
  tap_ok (check (1, &h, &error) == 0 && h.needed == 1, "a part of a page takes a whole page");
  firec_hugepages_release (&h);

  pool (64, -1, 0, 0, 0);
  rc = check (128, &h, &error);
  tap_ok (rc < 0 && error && strstr (error, "free_hugepages"),
          "a pool that cannot be read is an error naming the file (%s)", error ? error : "none");
  firec_hugepages_release (&h);
  free (error);
  error = NULL;

  pool (64, 64, 0, 0, 0);
  cleanup_free char *bad = firec_xasprintf ("%s/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", sysfs);
  FILE *f = fopen (bad, "we");
  fputs ("lots\n", f);
  fclose (f);
  rc = check (128, &h, &error);
  tap_ok (rc < 0 && error && strstr (error, "does not hold a number"), "a damaged file is an error, not a number (%s)",
          error ? error : "none");
  firec_hugepages_release (&h);

  cleanup_free char *rm = firec_xasprintf ("rm -rf '%s'", sysfs);
  if (system (rm) != 0)
    return 1;
  return tap_done ();
}
