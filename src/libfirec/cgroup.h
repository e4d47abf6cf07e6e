/* SPDX-License-Identifier: Apache-2.0 */
/* The cgroups of a jailed VM, seen from the host: which hierarchy the jailer
   will use, the directories it makes for the VM (and the parents it makes on
   the way), the processes in them, and their removal. */
#ifndef FIREC_CGROUP_H
#define FIREC_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "model.h"

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* The host's cgroup version, for `cgroup_version: auto`: 2 when the hierarchy
   root is a cgroup2 mount (a cgroup2-only host), else 1. */
int firec_cgroup_host_version (void);

/* Problems the jailer would refuse with (a controller the host does not offer),
   one malloc'ed message each, NULL-terminated; an empty list when none. */
char **firec_cgroup_problems (const struct firec_model *m);

/* The cgroup directories the jailer creates for the VM (one with v2, one per
   controller with v1) and, of their parents, those that do not exist yet (the
   jailer creates them; we remove them again when empty). NULL-terminated. */
void firec_cgroup_dirs (const struct firec_model *m, char ***dirs, char ***new_parents);

/* The cgroup directories on the host that process pid is in and whose last
   component is leaf (a VM's: <parent>/<name>), from /proc/PID/cgroup.
   NULL-terminated, empty when none. */
char **firec_cgroup_of_process (pid_t pid, const char *leaf);

/* Appends the pids in dir (cgroup.procs) to *pids. Absent dir: nothing. */
void firec_cgroup_pids (const char *dir, pid_t **pids, size_t *count);

/* What dir holds, for a message: "process 12 (sleep), process 34 (bash)",
   or "no process". */
char *firec_cgroup_describe (const char *dir);

/* Makes dir (0755) for a VM: the jailer joins a cgroup that exists as it
   is, so that whose a cgroup is shows only here. EEXIST (errno of the error):
   it was there already, another's. */
int firec_cgroup_make (const char *dir, firec_error_t *err);

/* Removes the directories (children first as listed), retrying while the kernel
   still counts the VM's last task; absent ones are fine. With if_empty, a
   directory that still has children or tasks (another VM's) is left alone
   without an error. */
int firec_cgroup_remove (char *const *dirs, bool if_empty, firec_error_t *err);

#endif
