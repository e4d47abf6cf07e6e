/* SPDX-License-Identifier: Apache-2.0 */
/* A VM's processes, found from the host rather than only believed from its
   record: the recorded pids (while they still started when recorded), every
   task in the cgroups the jailer made for it, and every process in the VM's
   root (firec_vm_process_in_root) — and, for the moment before the jailer
   has entered the jail, the jailer by its arguments; the VM's console keeper
   by its pid, or by its arguments before its pid was recorded. So `rm` kills a VMM whose
   pid was never recorded, and `run` never starts a second VMM for a name
   whose jail still has a live process. */
#ifndef FIREC_DISCOVER_H
#define FIREC_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "error.h"
#include "pidref.h"
#include "record.h"
#include "util.h"

struct firec_vm_procs
{
  struct firec_pidref *items;
  size_t count;
};

/* Whether the host says pid is in the VM's root (root: what r->vm_root is):
   its root directory is that directory; or its working directory is, and it
   runs entirely as the jail uid (r->uid) — without the jailer, it is the
   Firecracker of the VM's API socket. What a file in the jail says of a
   process (a pid file the jail uid may have written first) is believed only
   when this holds. Check it while holding a pidfd of pid, and check that
   the process is still alive afterwards: the answer is about it then. */
bool firec_vm_process_in_root (const struct firec_record *r, const struct stat *root, pid_t pid);

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
