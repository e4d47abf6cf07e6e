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

/* A VM whose state directory (state_dir) holds no record that can be read
   (state.json and its copy damaged or gone): what the host shows of it,
   from what ties a process to that directory. The console keeper by its
   arguments; Firecracker and its jailer (--id NAME) by the console they
   write to (the pty this VM's keeper holds) or, without the jailer, by their
   root in the state directory; their jail from their root (or the jailer's
   arguments), and Firecracker's cgroups of the VM's name. *ret: a record of
   what was found, for the teardown. *ret_unknown: "\n  - ..." lines of what
   may be the VM's but cannot be told or found (a process of the name that
   nothing ties to this directory: left alone), NULL when none. */
int firec_vm_find_unrecorded (const char *name, const char *state_dir, struct firec_record **ret, char **ret_unknown,
                              firec_error_t *err);

/* SIGKILLs them all, then waits (up to timeout_ms in all) until each has gone,
   reaping our own children. The ones still there are described in *left
   ("\n  - ..." lines); returns how many. */
size_t firec_vm_procs_kill (struct firec_vm_procs *p, long timeout_ms, struct firec_buf *left);

#endif
