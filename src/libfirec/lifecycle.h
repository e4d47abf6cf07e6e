/* SPDX-License-Identifier: Apache-2.0 */
/* A VM from the outside: what its record and the host say about it (status,
   ps), and the operations on it after InstanceStart (stop, kill, rm, and API
   calls on a running VM). A recorded pid is trusted only while it still
   started when recorded; a record that cannot be read is an error, never
   "not running". */
#ifndef FIREC_LIFECYCLE_H
#define FIREC_LIFECYCLE_H

#include <stdbool.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "fcapi.h"
#include "model.h"
#include "pidref.h"
#include "record.h"
#include "state.h"

enum firec_vm_state
{
  FIREC_VM_ABSENT,   /* nothing recorded */
  FIREC_VM_STARTING, /* a firec-run is starting it now */
  FIREC_VM_RUNNING,
  FIREC_VM_PAUSED,
  FIREC_VM_EXITED,  /* recorded, the VM has ended (or was stopped); `rm` removes what is left */
  FIREC_VM_STALE,   /* left by a firec-run that died; `rm` removes it */
  FIREC_VM_DAMAGED, /* its record cannot be read; `rm` removes what the host shows */
};

struct firec_vm_info
{
  char *name;
  char *state_dir;
  struct firec_state state_root;
  enum firec_vm_state state;
  struct firec_record *record; /* NULL when there is none, or it is damaged */
  char *damage;                /* DAMAGED: what is wrong with the record */
  struct firec_pidref vmm;     /* set while the recorded VMM is alive */
  pid_t holder;                /* the firec-run holding the VM's lock (attached, or mid-operation), 0 if none */
  struct firec_pidref run;     /* set when that holder is the VM's own run: the process its record (or the
                                  copy) names, still that one (its start time) */
  char *detail;                /* a human explanation of the state */
  enum firec_remedy remedy;    /* what the user can do about that state (its argument: name) */
};

#define FIREC_VM_INFO_INIT                                                                                             \
  {                                                                                                                    \
    .vmm = FIREC_PIDREF_NULL, .run = FIREC_PIDREF_NULL, .state_root = FIREC_STATE_INIT                                 \
  }

const char *firec_vm_state_name (enum firec_vm_state state);

/* On failure *info holds nothing to release. */
int firec_vm_inspect (const char *name, struct firec_vm_info *info, firec_error_t *err);
void firec_vm_info_release (struct firec_vm_info *info);

static inline bool
firec_vm_alive (const struct firec_vm_info *info)
{
  return firec_pidref_is_set (&info->vmm);
}

/* The names that have a state directory, sorted, NULL-terminated. */
int firec_vm_list (char ***names, size_t *count, firec_error_t *err);

/* One API call to a live VM (non-2xx is an error naming the request and answer). */
int firec_vm_api (const struct firec_vm_info *info, const char *method, const char *path, const char *body,
                  struct firec_fcapi_response *resp, firec_error_t *err);

/* How an operation that needs the VM's lock gets it. */
struct firec_vm_lock
{
  int held_fd;     /* >= 0: the caller holds it for longer (apply): the operation runs under it */
  long timeout_ms; /* else: wait up to this long for it (0: fail at once, FIREC_ERR_LOCKED naming the holder) */
};

/* Takes the VM's lock for a whole operation, creating the state root if need
   be: waits up to timeout_ms (0: fails at once with FIREC_ERR_LOCKED naming the
   holder; < 0: forever). While this process holds it, firec_vm_inspect sees no
   holder, and the operations given it as held_fd run under it. */
int firec_vm_lock (const char *name, long timeout_ms, int *lock_fd, firec_error_t *err);
/* Releases it; the lock file goes too when there is no VM to lock (a start
   that failed before it made any state), so that nothing is left. */
void firec_vm_unlock (const char *name, int lock_fd);

/* An attached VM whose supervising firec-run holds its lock for the VM's
   whole life: operations on it go through that firec-run, or without the lock. */
static inline bool
firec_vm_supervised (const struct firec_vm_info *info)
{
  const struct firec_record *r = info->record;
  return firec_pidref_is_set (&info->run) && r && r->phase == FIREC_PHASE_RUNNING && r->mode != FIREC_RUN_DAEMON;
}

/* Runs the recorded stop policy (force: SIGKILL at once), through the one stop
   executor (supervise.h). A VM whose own run holds its lock (an attached VM's
   supervisor, a run starting it) is stopped by that run, which then removes
   it; any other holder (an rm, an apply, a stop) is waited for, as the lock
   says, and the VM looked at again once it let go. timeout_ms > 0 bounds the
   whole policy; 0 uses the recorded one. signal_fd (-1: none): a signal there
   while the policy runs kills at once, and one while the lock is waited for
   gives up. lock: how to get the VM's lock (NULL: wait 2 s). *ret_stopped:
   the policy ran (or the VM's run was asked to stop it). */
int firec_vm_stop (struct firec_vm_info *info, bool force, long timeout_ms, int signal_fd,
                   const struct firec_vm_lock *lock, bool *ret_stopped, firec_error_t *err);

/* Stops the VM if needed (force: SIGKILL), then removes everything it left
   (teardown.h), also when firec-run died at any point of a start or the record
   is damaged; with no record that can be read, what the host shows of it
   (discover.h), and what may be left is a leftover. model (rm FILE, may be
   NULL) tells where the jail is when no record does. The lock and signal_fd
   as for firec_vm_stop (NULL: wait 5 s); a held lock stays held (on a lock
   file that is gone once the VM is). Returns 0 only when nothing is left;
   FIREC_ERR_LEFTOVERS lists what is. *removed says whether there was anything
   to remove. */
int firec_vm_remove (struct firec_vm_info *info, bool force, const struct firec_model *model,
                     const struct firec_vm_lock *lock, int signal_fd, bool *removed, firec_error_t *err);

/* A record of what a run of model would have made (the jail, its cgroups),
   for finding its leftovers when there is no readable record. */
struct firec_record *firec_vm_record_for_model (const struct firec_model *model);

/* What a new start of model finds in its way (run and apply, before any host
   change): 0 nothing; else an error naming what and how to clear it —
   FIREC_ERR_LOCKED when the VM runs or a firec-run holds it ("NAME is already
   running (pid N, started ...): `firec-run stop NAME` or `firec-run apply
   FILE`"), FIREC_ERR_PRECONDITION for leftovers of an earlier run, with the rm
   command that removes them. */
int firec_vm_check_absent (const struct firec_model *model, firec_error_t *err);

#endif
