/* supervise: waits for a running VMM to exit without polling (pidfd and
   signalfd in one poll), running the stop policy when a signal arrives — each
   action followed by its wait, the whole bounded by the stop timeout, a second
   signal killing at once. Used in-process and by the small firec-supervise
   helper that an attached firec-run becomes once the VM runs. */
#ifndef FIREC_SUPERVISE_H
#define FIREC_SUPERVISE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "model.h"

struct firec_supervision
{
  pid_t pid;
  int pidfd;
  int signal_fd;   /* -1: none */
  bool stop_now;   /* run the stop policy at once (the stop command), not on a signal */
  int stderr_fd;   /* readable when the VMM wrote to its stderr pipe; -1: none */
  const struct firec_stop_step *stop;
  size_t stop_count;
  long stop_timeout_ms;
  /* Sends SendCtrlAltDel through the API; < 0 (with *err) when it could not. */
  int (*ctrl_alt_del) (void *data, firec_error_t *err);
  /* Called when stderr_fd is readable. */
  void (*drain_stderr) (void *data);
  void *data;
};

/* Blocks SIGINT, SIGTERM and SIGHUP and returns a signalfd for them (CLOEXEC,
   non-blocking), or -1. The mask survives exec: firec-supervise inherits it. */
int firec_supervise_signal_fd (void);

/* Returns 0 once the VMM has exited (*wait_status: a waitpid status, or -1 when
   it is not our child), with *stopped telling whether the stop policy ran. */
int firec_supervise (const struct firec_supervision *s, int *wait_status, bool *stopped, firec_error_t *err);

/* How the VM ended, for people and for the exit code: a message ("firecracker
   exited with status 1 (GenericError)", "the VM has ended") and FIREC_EXIT-style
   code: 0 normal end or stopped as asked, 1 an error. */
int firec_vm_end_result (int wait_status, bool stopped, char **message);

/* Firecracker's exit codes (FcExitCode, the same in 1.5.1 and later): "Ok",
   "GenericError", "BadSyscall (seccomp)", ... */
const char *firec_firecracker_exit_name (int code);

#endif
