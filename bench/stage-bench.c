/* SPDX-License-Identifier: Apache-2.0 */
/* Staging cost: stages one file into a fresh jail with the given mode, as the
   interpreter does, and prints the milliseconds it took. Usage:
   stage-bench link|reflink|copy SOURCE JAIL_DIR [writable] */
#include "config.h"

#include "model.h"
#include "stage.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  if (argc < 4)
    return 2;
  enum firec_staging_mode mode = strcmp (argv[1], "link") == 0      ? FIREC_STAGING_LINK
                                 : strcmp (argv[1], "reflink") == 0 ? FIREC_STAGING_REFLINK
                                                                    : FIREC_STAGING_COPY;
  struct firec_file file = {
    .role = FIREC_FILE_DRIVE,
    .host_path = argv[2],
    .vm_path = (char *) "/drives/d/disk.img",
    .mode = mode,
    .writable = argc > 4,
  };
  firec_error_t err = NULL;
  cleanup_free char *root = firec_xasprintf ("%s/root", argv[3]);
  int root_fd;
  struct timespec a, b;
  clock_gettime (CLOCK_MONOTONIC, &a);
  struct firec_staged staged = { 0 };
  if (firec_stage_make_root (argv[3], root, &root_fd, &err) < 0
      || firec_stage_file (root_fd, &file, getuid (), getgid (), NULL, NULL, &staged, &err) < 0)
    {
      fprintf (stderr, "stage-bench: %s\n", err->message);
      return 1;
    }
  clock_gettime (CLOCK_MONOTONIC, &b);
  /* The staged file's allocation: a copy that kept the holes allocates what the source does. */
  struct stat st;
  cleanup_free char *staged_path = firec_xasprintf ("%s%s", root, file.vm_path);
  long long kib = stat (staged_path, &st) == 0 ? (long long) st.st_blocks / 2 : -1;
  printf ("%.3f %lld\n", (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6, kib);
  firec_staged_release (&staged);
  close (root_fd);
  return firec_stage_remove_tree (argv[3], &err) < 0;
}
