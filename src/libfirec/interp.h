/* SPDX-License-Identifier: Apache-2.0 */
/* interpret: runs a plan's steps on the host. The VM's record (record.h) is
   written before each side effect it describes, so it always names everything
   the run has made; on any failure the VMM is stopped (SIGKILL through its
   pidfd, then reaped) and the one teardown (teardown.h) removes what the record
   names. The first error is kept; whatever could not be removed is listed as a
   leftover. */
#ifndef FIREC_INTERP_H
#define FIREC_INTERP_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "plan.h"

struct firec_vm;
struct firec_stage_progress;
struct firec_attached;

struct firec_run_opts
{
  /* The console (console.h). With a helper, a console keeper holds it in
     every mode, and an attached run is its first attacher (firec_vm_attach
     hands the connection on). Without one: attached, Firecracker's stdin and
     stdout are console_in and console_out and its stderr a pipe, read (and
     copied to stderr_copy_fd when >= 0) so that a failure can quote its last
     lines; detached, all three are /dev/null: nothing would read them. */
  int console_in;
  int console_out;
  bool console_is_tty; /* console_in is a terminal: give it to the VMM's process group */
  int stderr_copy_fd;
  /* Detached (daemon mode: run -d, apply): firec-run returns once the VM
     runs; its record says daemon. */
  bool detached;
  /* Attached: the VMM must not outlive firec-run. A guard process (attached.h)
     removes the VM when firec-run dies, however it dies. */
  bool attached;
  /* The firec-supervise program (the console keeper; attached, the guard,
     then the supervisor); NULL: none, and then an attached run is supervised
     in-process, without a guard, and no run has a console keeper. */
  const char *helper;
  long lock_timeout_ms; /* how long to wait for another run of the same VM (0: not) */
  /* The VM's lock when the caller holds it already (apply holds it across
     inspecting, removing and starting); NULL: the run takes it. */
  const int *held_lock;
  /* The signalfd of SIGINT, SIGTERM and SIGHUP (blocked by the caller; -1:
     none). Every wait of the run polls it: a signal there rolls the run back.
     A signal that arrives after the last step is left unread for the
     supervisor, which then runs the stop policy. */
  int signal_fd;
  const struct firec_stage_progress *progress;
  /* Called before each step (logging, NOTIFY_SOCKET STATUS=); may be NULL. */
  void (*on_step) (void *data, const struct firec_step *step);
  void *data;
};

/* Runs every step of plan. On success *ret is the running VM. On failure
   everything is rolled back and the error says which step failed and why; its
   kind is FIREC_ERR_PRECONDITION for preflight, FIREC_ERR_LOCKED when another
   run holds the VM or it runs already, FIREC_ERR_LEFTOVERS when the teardown
   could not remove everything (the leftovers are listed), FIREC_ERR_RUNTIME
   otherwise. */
int firec_interp_run (const struct firec_plan *plan, const struct firec_run_opts *opts, struct firec_vm **ret,
                      firec_error_t *err);

/* The running VMM. */
pid_t firec_vm_pid (const struct firec_vm *vm);
const char *firec_vm_firecracker_version (const struct firec_vm *vm);

/* Hands an attached VM over to its supervision (attached.h): the record, the
   process handles, the lock, Firecracker's stderr and the guard. vm is freed. */
struct firec_attached *firec_vm_attach (struct firec_vm *vm);
void firec_vm_free (struct firec_vm *vm);

#endif
