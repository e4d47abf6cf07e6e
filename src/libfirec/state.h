/* SPDX-License-Identifier: Apache-2.0 */
/* The state root: where every VM's record, lock and run directory live. It is
   trusted storage, so it is checked before anything in it is believed: the root,
   each VM directory, lock and record must belong to the caller (or root) and
   must not be writable by anyone else; otherwise the command refuses, naming the
   path and the fix. Everything below the root is reached relative to its fd.

   Layout: <root>/<name>/ (state.json, manifest.json, run files; the VM's root
   without the jailer), <root>/<name>.lock (flock, held for a whole operation and
   for the VM's life in attached mode; removed with the VM, see
   firec_state_unlock_remove), <root>/.versions (version.h). */
#ifndef FIREC_STATE_H
#define FIREC_STATE_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* $FIREC_STATE_DIR; as root /run/firec; else $XDG_RUNTIME_DIR/firec, or
   ${XDG_CACHE_HOME:-$HOME/.cache}/firec/state (never a name in /tmp that
   someone else could make first). */
char *firec_state_root (void);
/* <root>/<name> */
char *firec_state_dir_for (const char *name);

struct firec_state
{
  int root_fd; /* O_DIRECTORY, checked */
  char *root;  /* its path, for messages */
};

#define FIREC_STATE_INIT                                                                                               \
  {                                                                                                                    \
    .root_fd = -1, .root = NULL                                                                                        \
  }

/* Opens the state root, creating it (0700; missing parents 0755) when create is
   true. Absent and !create: *st stays closed (root_fd -1) and 0 is returned.
   A root that the caller does not own (or root), or that others may write, is
   an error (FIREC_ERR_PRECONDITION) naming the path and the fix. */
int firec_state_open (bool create, struct firec_state *st, firec_error_t *err);
/* The same for a root named explicitly (a handoff carries it). */
int firec_state_open_path (const char *root, bool create, struct firec_state *st, firec_error_t *err);
void firec_state_close (struct firec_state *st);

static inline void
firec_state_closep (struct firec_state *st)
{
  firec_state_close (st);
}
#define cleanup_state __attribute__ ((cleanup (firec_state_closep)))

/* How long a claim waits for the state root's lock, held by others only
   while they check and name their files. */
#define FIREC_STATE_CLAIM_TIMEOUT_MS 10000L

/* Takes the state root's own lock, for a moment: the check of the other VMs'
   records and the claim in this one's are one step, so that of two runs that
   claim one file the first wins and the second sees it (preflight.h). Waits
   at most timeout_ms; *ret_fd is the lock (close it to release). */
int firec_state_lock_root (const struct firec_state *st, long timeout_ms, int *ret_fd, firec_error_t *err);

/* Takes <name>.lock. timeout_ms 0: fail at once; < 0: wait forever. Held by
   another process: FIREC_ERR_LOCKED naming the holder's pid. On success
   *lock_fd is the open, locked, CLOEXEC file (close it to release). A lock file
   removed by its holder meanwhile is never mistaken for the lock: after flock
   the name must still be that very file. */
int firec_state_lock (const struct firec_state *st, const char *name, long timeout_ms, int *lock_fd,
                      firec_error_t *err);
/* Whether some process holds <name>.lock now (1), and who (*holder, 0 when
   unknown); 0 when not (or there is no lock file). */
int firec_state_lock_held (const struct firec_state *st, const char *name, pid_t *holder, firec_error_t *err);
/* The VM is gone: removes <name>.lock while still holding it, then releases it. */
void firec_state_unlock_remove (const struct firec_state *st, const char *name, int lock_fd);

/* Creates <name>/ (0700). EEXIST is not an error. */
int firec_state_make_vm_dir (const struct firec_state *st, const char *name, firec_error_t *err);
/* Opens <name>/ and checks whose it is. Absent: *dir_fd -1 and 0. */
int firec_state_open_vm_dir (const struct firec_state *st, const char *name, int *dir_fd, firec_error_t *err);
/* Opens a file below <name>/ for reading, checked like the directory. Absent:
 *fd -1 and 0. */
int firec_state_open_file (int dir_fd, const char *shown_dir, const char *file, int *fd, firec_error_t *err);
/* Writes <name>/<file> atomically (a temporary file, then rename). */
int firec_state_write_file (int dir_fd, const char *shown_dir, const char *file, const char *text, firec_error_t *err);
/* Removes <name>/ with the plain files in it (a VM's root inside it must be gone
   already). Absent is success. */
int firec_state_remove_vm_dir (const struct firec_state *st, const char *name, firec_error_t *err);

/* The names that have a VM directory or a lock file, sorted, NULL-terminated. */
int firec_state_list (const struct firec_state *st, char ***names, size_t *count, firec_error_t *err);

/* Creates a directory (0700, parents 0755) for the caller's own files, such as
   the version cache, and checks it like the root. */
int firec_state_make_dir (const char *dir, firec_error_t *err);

#endif
