/* SPDX-License-Identifier: Apache-2.0 */
/* snapshot: the host side of `snapshot create`. Firecracker runs as the jail
   uid and writes its files inside a root that uid controls, so nothing it hands
   back is trusted: it writes into a fresh private directory firec-run makes in
   the VM root (through the walker), and each result is opened fd-relative,
   checked (a regular file, one link, the jail uid's) and moved out by fd to a
   temporary name next to the user's path (renameat from the directory fd, or a
   sparse copy across filesystems), given to the caller by fd, and renamed into
   place only once both files are there.

   Outputs never destroy data: an existing destination is refused unless force
   is set, and even then it is replaced by rename, never written in place (its
   other hard links keep the old content), and never when it is a file the VM
   uses. The destinations are checked before the VM is paused, so a refusal
   changes nothing. A failed create leaves nothing new at the destinations or in
   the jail, and resumes the VM if it was running. */
#ifndef FIREC_SNAPSHOT_H
#define FIREC_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

struct firec_snapshot_request
{
  const char *api_socket; /* the VM's API socket on the host */
  const char *vm_root;    /* the VM's root on the host: the jail root, or its run directory without the jailer */
  bool chrooted;          /* Firecracker sees vm_root as "/" (jailed), else by its host path */
  uid_t vmm_uid;          /* whom Firecracker runs as: the files it writes must be theirs */
  gid_t vmm_gid;
  const char *snapshot_path; /* the destinations on the host */
  const char *mem_path;
  bool diff;                 /* snapshot_type Diff instead of Full */
  bool keep_paused;          /* leave a running VM paused afterwards */
  bool force;                /* replace existing destinations (by rename) */
  const char *const *inputs; /* the host files the VM uses: never a destination, even with force */
  size_t input_count;
};

/* Pauses the VM (when running), has Firecracker write the snapshot, moves both
   files to the destinations (owned by the caller's uid:gid, mode 0600), and
   resumes it unless keep_paused. *paused (may be NULL) says whether the VM is
   paused afterwards. Errors: FIREC_ERR_PRECONDITION for destinations refused
   before anything was done, FIREC_ERR_INVALID for two destinations that are
   one file, FIREC_ERR_RUNTIME otherwise. */
int firec_snapshot_create (const struct firec_snapshot_request *rq, bool *paused, firec_error_t *err);

#endif
