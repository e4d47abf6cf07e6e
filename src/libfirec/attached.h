/* SPDX-License-Identifier: Apache-2.0 */
/* An attached VM once it runs: supervised until it ends (the stop policy on a
   signal), then removed by the one teardown. firec-run hands it to the small
   firec-supervise program (same pid: the VMM stays its child, the lock stays
   held); what crosses the exec is serialized here and only here: the record's
   place, the process handles, the fds and the terminal's settings.

   Its console is the terminal, relayed to and from the VM's console keeper
   (console.h) in raw mode, with the escape: Ctrl+] s runs the stop policy,
   Ctrl+] q detaches: the VM runs on as if started with -d (its record says
   daemon, the guard and the lock let go), and ^C is the guest's.

   The guard: PR_SET_PDEATHSIG does not survive the jailer's change of uid, so
   nothing would stop the VMM of an attached run whose firec-run is SIGKILLed.
   A small process (firec-supervise --guard) started with the run waits on a
   pipe whose only writer is the run (then its supervisor); when the pipe ends
   without the word that all is done, it takes the VM's lock and, unless the
   record says by then that the VM was handed over as detached, tears the VM
   down. A guard that is killed (kill -9, the OOM killer) is started again by
   the supervisor, which sees its end of the pipe hang up. */
#ifndef FIREC_ATTACHED_H
#define FIREC_ATTACHED_H

#include <stdbool.h>
#include <termios.h>

#include "console.h"
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
  char *helper;   /* firec-supervise, which starts a guard again should it be killed; NULL: in-process */
  int console_fd; /* attached to the console keeper; -1: none */
  /* Without a keeper (no firec-supervise): the console is the terminal
     itself, and this reads (and copies) Firecracker's stderr pipe. */
  struct firec_stderr_tail *tail;
  bool has_tty;       /* stdin is our foreground terminal */
  struct termios tty; /* its settings, to restore at the end */
  struct firec_console_relay relay;
  bool detached; /* Ctrl+] q handed it over: it runs on (FIREC_REMEDY_ATTACH) */
  /* Called when Ctrl+] q could not hand the VM over (the supervision goes
     on), for the program to say so on the console; NULL: nothing is said
     (the library never prints). */
  void (*detach_failed) (const firec_error_t reason);
};

void firec_attached_free (struct firec_attached *a);

/* From now on the console is relayed, the terminal in raw mode (when stdin
   is our foreground terminal). True when the escape is in effect: there is
   a console keeper to relay (say so then, with FIREC_CONSOLE_ESCAPE_HELP and
   "\r\n", raw mode being on). firec_attached_run does it when not done. */
bool firec_attached_console_start (struct firec_attached *a);

/* Supervises the VM until it ends, restores the terminal, then removes
   everything and releases the guard; or until Ctrl+] q hands it over as a
   detached VM. *how says how the VM ended (or that it runs on); returns 0
   when it ended normally, was stopped as asked or runs on, 1 when it ended
   with an error, < 0 (with *err: supervision failed, or FIREC_ERR_LEFTOVERS)
   otherwise. */
int firec_attached_run (struct firec_attached *a, int signal_fd, char **how, firec_error_t *err);

/* The argv that execs helper (firec-supervise) with a, the fds it names made
   inheritable. NULL-terminated, malloc'ed strings. */
char **firec_attached_to_argv (const struct firec_attached *a, const char *helper);
/* firec-supervise's side: a back from that argv (its record read again from
   the state directory). */
int firec_attached_from_argv (int argc, char **argv, struct firec_attached **ret, firec_error_t *err);

/* Starts the guard (helper --guard ...) of the VM name in state_root:
   *write_fd is the pipe's only write end (CLOEXEC: it crosses to
   firec-supervise in the handoff). */
int firec_guard_start (const char *helper, const char *state_root, const char *name, int *write_fd, firec_error_t *err);
/* All is done (removed, or rolled back): the guard leaves without touching
   anything. Closes *write_fd. */
void firec_guard_release (int *write_fd);
/* The guard itself: waits on read_fd, then tears the VM down if it must. */
int firec_guard_run (int read_fd, const char *state_root, const char *name, firec_error_t *err);

#endif
