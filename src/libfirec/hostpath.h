/* SPDX-License-Identifier: Apache-2.0 */
/* Host paths the VM's uid could redirect. firec-run runs as root and follows
   the host paths a manifest or a command names: it links or copies an input
   into the jail, makes an output file and moves the earlier ones aside,
   writes a snapshot, runs the jailer, makes and removes the jail under the
   chroot base. Where a directory on the way is one the VM's uid can change,
   that uid (hostile: Firecracker runs as it) can swap a name there for a
   symbolic link at any moment, and have root read, write, rename, remove or
   run another file of the host. Such a path is refused before it is used;
   this module is the one owner of that rule (preflight, snapshot create and
   update drive ask it).

   A lookup of a name in a directory is the VM's to redirect when
   - the directory belongs to the VM's uid (it can chmod it, then anything), or
   - the VM's uid and gid (no supplementary groups: as the jailer leaves
     Firecracker) may write it, as the kernel judges (mode and ACL),
     unless the directory is sticky and the name there is not the VM's
     uid's: then it can only add names, and firec-run makes new names with
     O_EXCL or renames that never replace one.
   Every directory where a lookup happens counts: those of the path as
   written, and for each symbolic link on the way those of its target (a
   symlinked component lives in a directory of the written path, its target
   in others). */
#ifndef FIREC_HOSTPATH_H
#define FIREC_HOSTPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

enum firec_hostpath_use
{
  /* A new name is made in the last directory, or names there are renamed
     (an output, a snapshot): the last component is never followed. */
  FIREC_HOSTPATH_NEW_NAME,
  /* The file is opened (an input): the last component is looked up too. */
  FIREC_HOSTPATH_OPEN,
  /* The file is run as root (a binary): as OPEN, and the VM's ids must not
     be able to write the file itself either. */
  FIREC_HOSTPATH_RUN,
};

struct firec_hostpath_query
{
  const char *path; /* absolute */
  enum firec_hostpath_use use;
  /* Set by firec_hostpath_check: NULL, or why the VM's uid could redirect
     path ("/srv/vm, a directory on the way, belongs to the VM's uid 10001"). */
  char *problem;
};

/* Answers every query at once (one child process at most, which becomes
   uid:gid to ask the kernel about the directories whose mode may let it
   write). A path that does not exist (from some component on) is checked up
   to there. Returns 0, or < 0 when the VM's rights cannot be found out. */
int firec_hostpath_check (struct firec_hostpath_query *queries, size_t count, uid_t uid, gid_t gid, firec_error_t *err);

/* Frees the problems. */
void firec_hostpath_release (struct firec_hostpath_query *queries, size_t count);

#endif
