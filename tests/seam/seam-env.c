/* SPDX-License-Identifier: Apache-2.0 */
/* The test build's seams (src/libfirec/seam.h), from the environment. Linked
   before libfirec.a, so the archive's production seam.o is never pulled in. */
#include "config.h"

#include "seam.h"

#include <stdlib.h>

static const char *
nonempty (const char *v)
{
  return v && *v ? v : NULL;
}

const char *
firec_seam_fault (void)
{
  return nonempty (getenv ("FIREC_TEST_FAULT"));
}

const char *
firec_seam_cgroup_root (void)
{
  return nonempty (getenv ("FIREC_CGROUP_ROOT"));
}

const char *
firec_seam_sysfs_root (void)
{
  return nonempty (getenv ("FIREC_SYSFS_ROOT"));
}
