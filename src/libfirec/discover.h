/* SPDX-License-Identifier: Apache-2.0 */
/* A VM's processes, found from the host rather than only believed from its
   record: the recorded pids (while they still started when recorded), every
   task in the cgroups the jailer made for it, and every process whose root or
   working directory is the VM's root — and, for the moment before the jailer
   has entered the jail, the jailer by its arguments; the VM's console keeper
   by its pid, or by its arguments before its pid was recorded. So `rm` kills a VMM whose
   pid was never recorded, and `run` never starts a second VMM for a name
   whose jail still has a live process. */
#ifndef FIREC_DISCOVER_H
#define FIREC_DISCOVER_H

#include <stddef.h>

#include "error.h"
#include "pidref.h"
#include "record.h"
#include "util.h"

struct firec_vm_procs
{
  struct firec_pidref *items;
  size_t count;
};

/* Every live process of the VM r describes, each opened once. */
int firec_vm_find_processes (const struct firec_record *r, struct firec_vm_procs *ret, firec_error_t *err);
void firec_vm_procs_release (struct firec_vm_procs *p);

/* SIGKILLs them all, then waits (up to timeout_ms in all) until each has gone,
   reaping our own children. The ones still there are described in *left
   ("\n  - ..." lines); returns how many. */
size_t firec_vm_procs_kill (struct firec_vm_procs *p, long timeout_ms, struct firec_buf *left);

#endif
