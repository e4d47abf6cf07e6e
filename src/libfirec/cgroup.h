/* The host's cgroup version, and removing the cgroup directories the jailer made for a VM. */
#ifndef FIREC_CGROUP_H
#define FIREC_CGROUP_H

#include <cjson/cJSON.h>

#include "error.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The host's cgroup version, for `cgroup_version: auto`: 2 when the hierarchy is
   cgroup2 (a cgroup2-only host), else 1. */
int firec_cgroup_host_version (void);

/* Removes the cgroup directories listed (a JSON array of paths), retrying while
   the kernel still counts the VM's last task. Absent ones are fine. */
int firec_remove_cgroup_dirs (const cJSON *dirs, firec_error_t *err);

#endif
