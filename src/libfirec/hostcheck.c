/* SPDX-License-Identifier: Apache-2.0 */
/* hostcheck: host facts a manifest depends on, read before anything starts. */
#include "config.h"

#include "hostcheck.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One number from a sysfs file of the pool. */
static int
read_count (const char *dir, const char *name, unsigned long long *ret, firec_error_t *err)
{
  cleanup_free char *path = firec_xasprintf ("%s/%s", dir, name);
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_file (path, 64, &text, &len) < 0)
    return firec_error_set (err, errno, "cannot read %s", path);
  char *end;
  errno = 0;
  *ret = strtoull (text, &end, 10);
  if (errno || end == text || (*end != '\n' && *end != '\0'))
    return firec_error_set (err, 0, "%s does not hold a number", path);
  return 0;
}

/* Free pages not promised to a mapping yet, and those the kernel may add. */
static unsigned long long
available (const struct firec_hugepages *h)
{
  return (h->free > h->reserved ? h->free - h->reserved : 0) + h->surplus;
}

int
firec_hugepages_check (const char *sysfs_root, unsigned long page_kib, unsigned long long mem_mib,
                       struct firec_hugepages *ret, firec_error_t *err)
{
  *ret = (struct firec_hugepages){ .page_kib = page_kib };
  ret->dir = firec_xasprintf ("%s/kernel/mm/hugepages/hugepages-%lukB", sysfs_root, page_kib);
  unsigned long long page_mib = page_kib / 1024 ? page_kib / 1024 : 1;
  ret->needed = (mem_mib + page_mib - 1) / page_mib;
  unsigned long long overcommit = 0, surplus_used = 0;
  if (read_count (ret->dir, "nr_hugepages", &ret->total, err) < 0
      || read_count (ret->dir, "free_hugepages", &ret->free, err) < 0
      || read_count (ret->dir, "resv_hugepages", &ret->reserved, err) < 0
      || read_count (ret->dir, "nr_overcommit_hugepages", &overcommit, err) < 0
      || read_count (ret->dir, "surplus_hugepages", &surplus_used, err) < 0)
    {
      firec_error_prefix (err, "the host's pool of %lu KiB huge pages", page_kib);
      return -1;
    }
  ret->surplus = overcommit > surplus_used ? overcommit - surplus_used : 0;
  return available (ret) >= ret->needed ? 1 : 0;
}

char *
firec_hugepages_shortfall (const struct firec_hugepages *h)
{
  unsigned long long have = available (h);
  unsigned long long short_by = h->needed > have ? h->needed - have : 0;
  return firec_xasprintf ("the guest memory needs %llu free %lu MiB huge pages, the host has %llu (%s: "
                          "nr_hugepages %llu, free_hugepages %llu, resv_hugepages %llu, %llu more by overcommit); "
                          "reserve them first, e.g. `echo %llu > %s/nr_hugepages`",
                          h->needed, h->page_kib / 1024, have, h->dir, h->total, h->free, h->reserved, h->surplus,
                          h->total + short_by, h->dir);
}

void
firec_hugepages_release (struct firec_hugepages *h)
{
  free (h->dir);
  h->dir = NULL;
}
