/* The state of a VM on the host: <state_dir>/state.json (written atomically) and
   a lock, <state_dir>.lock, held (flock) for a whole operation and for the VM's
   life in attached mode. The lock file stays when the VM is removed, so that two
   runs can never both believe they created the state directory. */
#ifndef FIREC_STATE_H
#define FIREC_STATE_H

#include <stdbool.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "error.h"

/* Takes the lock of state_dir. timeout_ms 0: fail at once; < 0: wait forever.
   Held by another process: FIREC_ERR_LOCKED naming the holder's pid. On success
   *lock_fd is the open, locked, CLOEXEC file (close it to release). */
int firec_state_lock (const char *state_dir, long timeout_ms, int *lock_fd, firec_error_t *err);
/* Whether someone holds the lock now (1), and who (*holder, 0 when unknown). */
int firec_state_lock_held (const char *state_dir, pid_t *holder, firec_error_t *err);

/* Creates state_dir (mode 0700; its parent too). EEXIST is not an error. */
int firec_state_make_dir (const char *state_dir, firec_error_t *err);
/* Writes state.json atomically (temporary file, rename). */
int firec_state_write (const char *state_dir, const cJSON *record, firec_error_t *err);
/* Reads state.json; *record is NULL (and 0 returned) when there is none. A file
   that is not JSON (a crash of the host can leave one) fails with EBADMSG. */
int firec_state_read (const char *state_dir, cJSON **record, firec_error_t *err);
/* Removes state.json, anything else in state_dir, and state_dir itself. Absent is success. */
int firec_state_remove (const char *state_dir, firec_error_t *err);

#endif
