/* SPDX-License-Identifier: Apache-2.0 */
/* Host facts a manifest depends on that can be read before anything starts,
   each returned as a structured verdict for a preflight finding. */
#ifndef FIREC_HOSTCHECK_H
#define FIREC_HOSTCHECK_H

#include <stdbool.h>

#include "error.h"

/* Huge pages for guest memory (machine-config.huge_pages: 2M): Firecracker
   maps the whole guest memory from hugetlbfs at InstanceStart, and the guest
   kernel's loader fails there when the pool is short. */
struct firec_hugepages
{
  unsigned long page_kib;      /* 2048 */
  unsigned long long needed;   /* pages the guest memory takes */
  unsigned long long total;    /* nr_hugepages: the pool */
  unsigned long long free;     /* free_hugepages */
  unsigned long long reserved; /* resv_hugepages: free, but promised to existing mappings */
  unsigned long long surplus;  /* nr_overcommit_hugepages - surplus_hugepages: the kernel may add these */
  char *dir;                   /* the sysfs directory the numbers come from */
};

/* Reads <sysfs_root>/kernel/mm/hugepages/hugepages-<page_kib>kB (sysfs_root is
   "/sys" on a host; a test passes a fake tree) and fills *ret. Returns 1 when
   free - reserved + surplus pages cover mem_mib, 0 when they do not, < 0 when
   the pool cannot be read (no hugetlbfs support for that size: the error says
   so). */
int firec_hugepages_check (const char *sysfs_root, unsigned long page_kib, unsigned long long mem_mib,
                           struct firec_hugepages *ret, firec_error_t *err);

/* "needs 64 free 2 MiB huge pages ..., the host has 3 ...; reserve them with ..." */
char *firec_hugepages_shortfall (const struct firec_hugepages *h);

void firec_hugepages_release (struct firec_hugepages *h);

#endif
