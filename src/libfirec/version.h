/* SPDX-License-Identifier: Apache-2.0 */
/* What version a Firecracker or jailer binary is: the "vX.Y.Z" of the first
   line its --version prints.

   A probe costs an exec of a multi-megabyte static binary, 1-2 ms: the largest
   part of firec-run's preflight. So each answer is remembered in a cache
   directory (<state root>/.versions), keyed by the binary's path and the file's
   identity: device, inode, size, modification and change times. Replacing the
   file (new inode) or writing to it (new ctime, which no user can set back)
   makes the entry miss. A file changed within settle_s seconds of the probe is
   not remembered: its timestamps have the kernel's coarse granularity, and a
   second write in the same tick would look unchanged. */
#ifndef FIREC_VERSION_H
#define FIREC_VERSION_H

#include "error.h"

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

struct firec_version_probe
{
  const char *binary;
  char *cache_dir; /* NULL: no cache */
  long settle_s;
  bool identified; /* st holds the binary's identity */
  struct stat st;
  char *cached; /* the version the cache knew: no process was started */
  pid_t pid;
  int pidfd;
  int out_fd; /* the read end of the process's stdout */
  firec_error_t start_error;
};

/* Starts learning binary's version: from the cache (cache_dir may be NULL) or a
   `binary --version` that runs meanwhile. Never fails; finish reports. */
void firec_version_probe_start (struct firec_version_probe *probe, const char *binary, const char *cache_dir,
                                long settle_s);

/* Reaps the probe and sets *version (malloc'ed): "1.5.1" of "Firecracker v1.5.1".
   A version found by running the binary is remembered when the cache allows.
   Always call it once start was called: it releases what start took. */
int firec_version_probe_finish (struct firec_version_probe *probe, char **version, firec_error_t *err);

#endif
