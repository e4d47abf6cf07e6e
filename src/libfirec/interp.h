/* interpret: runs a plan's steps on the host. Every completed step that changes
   the host pushes its undo; on any failure the VMM is stopped first (SIGKILL
   through its pidfd, then reaped), the undos run in reverse, the first error is
   kept and every undo that failed is listed as a leftover. */
#ifndef FIREC_INTERP_H
#define FIREC_INTERP_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"
#include "plan.h"

struct firec_vm;
struct firec_stage_progress;

struct firec_run_opts
{
  /* The serial console: Firecracker's stdin and stdout (attached: the terminal;
     daemon: /dev/null). Firecracker's stderr is always captured (and copied to
     stderr_copy_fd when >= 0) so that a failure can quote its last lines. */
  int console_in;
  int console_out;
  bool console_is_tty; /* console_in is a terminal: give it to the VMM's process group */
  int stderr_copy_fd;
  /* Detached (daemon mode): Firecracker's stderr goes to <state_dir>/firecracker.log
     instead of a pipe, since firec-run will not be there to read it. */
  bool stderr_to_log;
  bool die_with_parent; /* attached: the VMM dies with firec-run (PR_SET_PDEATHSIG) */
  long lock_timeout_ms; /* how long to wait for another run of the same VM (0: not) */
  const struct firec_stage_progress *progress;
  /* Called before each step (logging, NOTIFY_SOCKET STATUS=); may be NULL. */
  void (*on_step) (void *data, const struct firec_step *step);
  void *data;
};

/* Runs every step of plan. On success *out is the running VM (the undo stack is
   kept for teardown). On failure everything is rolled back and the error says
   which step failed and why; its kind is FIREC_ERR_PRECONDITION for preflight,
   FIREC_ERR_LOCKED when another run holds the VM, FIREC_ERR_LEFTOVERS when an
   undo failed (the leftovers are listed), FIREC_ERR_RUNTIME otherwise. */
int firec_interp_run (const struct firec_plan *plan, const struct firec_run_opts *opts, struct firec_vm **out,
                      firec_error_t *err);

/* Async-signal-safe: marks the run as interrupted by signo and SIGKILLs the
   process being started, so that whatever step is waiting fails at once and the
   run rolls back. */
void firec_interp_interrupt (int signo);
/* The signal that interrupted the run, or 0. */
int firec_interp_interrupted (void);

/* The running VMM. */
pid_t firec_vm_pid (const struct firec_vm *vm);
int firec_vm_pidfd (const struct firec_vm *vm);
const char *firec_vm_firecracker_version (const struct firec_vm *vm);
/* Drains the VMM's stderr pipe (call when firec_vm_stderr_fd polls readable). */
int firec_vm_stderr_fd (const struct firec_vm *vm);
void firec_vm_drain_stderr (struct firec_vm *vm);

/* Waits for the VMM to exit (attached mode), running the stop policy when a
   signal arrives on signal_fd (-1: none); see supervise.h. */
int firec_vm_supervise (struct firec_vm *vm, int signal_fd, int *wait_status, bool *stopped, firec_error_t *err);

/* After the VMM is gone: runs every undo (remove the jail, cgroups and state).
   Failures are collected as leftovers (kind FIREC_ERR_LEFTOVERS). */
int firec_vm_teardown (struct firec_vm *vm, firec_error_t *err);
void firec_vm_free (struct firec_vm *vm);

/* What a supervisor in another program image needs to carry on: the VMM's pid
   and pidfd, the lock and stderr fds, the stop policy, and what is left to
   remove afterwards (jail tree, output files, cgroups, state). */
cJSON *firec_vm_handoff (struct firec_vm *vm);



#endif
