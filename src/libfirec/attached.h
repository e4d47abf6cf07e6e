/* An attached VM once it runs: supervised until it ends (the stop policy on a
   signal), then removed by the one teardown. firec-run hands it to the small
   firec-supervise program (same pid: the VMM stays its child, the lock stays
   held); what crosses the exec is serialized here and only here: the record's
   place, the process handles, the fds and the terminal's settings.

   The guard: PR_SET_PDEATHSIG does not survive the jailer's change of uid, so
   nothing would stop the VMM of an attached run whose firec-run is SIGKILLed.
   A small process (firec-supervise --guard) started with the run waits on a
   pipe whose only writer is the run (then its supervisor); when the pipe ends
   without the word that all is done, it takes the VM's lock and tears the VM
   down. */
#ifndef FIREC_ATTACHED_H
#define FIREC_ATTACHED_H

#include <stdbool.h>
#include <termios.h>

#include "error.h"
#include "pidref.h"
#include "process.h"
#include "record.h"
#include "state.h"
#include "supervise.h"

struct firec_attached
{
  struct firec_state state;
  struct firec_record *record;
  struct firec_pidref vmm;
  struct firec_pidref spawned; /* the jailer when it forked firecracker off */
  int lock_fd;
  int guard_fd;
  int stderr_fd;                  /* Firecracker's stderr pipe, -1: none */
  struct firec_stderr_tail *tail; /* in-process: what reads (and copies) it */
  bool has_tty;
  struct termios tty; /* the terminal's settings to restore at the end */
};

void firec_attached_free (struct firec_attached *a);

/* Supervises the VM until it ends, restores the terminal, then removes
   everything and releases the guard. *how says how the VM ended; returns 0
   when it ended normally or was stopped as asked, 1 when it ended with an
   error, < 0 (with *err: supervision failed, or FIREC_ERR_LEFTOVERS) otherwise. */
int firec_attached_run (struct firec_attached *a, int signal_fd, char **how, firec_error_t *err);

/* The argv that execs helper (firec-supervise) with a, the fds it names made
   inheritable. NULL-terminated, malloc'ed strings. */
char **firec_attached_to_argv (const struct firec_attached *a, const char *helper);
/* firec-supervise's side: a back from that argv (its record read again from
   the state directory). */
int firec_attached_from_argv (int argc, char **argv, struct firec_attached **out, firec_error_t *err);

/* Starts the guard (helper --guard ...) of the VM name in state_root:
   *write_fd is the pipe's only write end (CLOEXEC: it crosses to
   firec-supervise in the handoff). */
int firec_guard_start (const char *helper, const char *state_root, const char *name, int *write_fd,
                       firec_error_t *err);
/* All is done (removed, or rolled back): the guard leaves without touching
   anything. Closes *write_fd. */
void firec_guard_release (int *write_fd);
/* The guard itself: waits on read_fd, then tears the VM down if it must. */
int firec_guard_run (int read_fd, const char *state_root, const char *name, firec_error_t *err);

#endif
