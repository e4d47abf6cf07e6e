/* SPDX-License-Identifier: Apache-2.0 */
/* The production answers of the test seams (seam.h): none. */
#include "config.h"

#include "seam.h"

#include <stddef.h>

const char *
firec_seam_fault (void)
{
  return NULL;
}

const char *
firec_seam_cgroup_root (void)
{
  return NULL;
}

const char *
firec_seam_sysfs_root (void)
{
  return NULL;
}
