/* SPDX-License-Identifier: Apache-2.0 */
/* supervise: the one stop executor. It waits for a running VMM to exit without
   polling (pidfd and signalfd in one poll) and runs the stop policy when asked
   (a signal, or at once for `stop` and `rm`) — each action followed by its
   wait, the whole bounded by the stop timeout, a second signal killing at once.
   Used by the supervisor of attached VMs (firec-supervise, or in-process), by
   `stop` and by `rm`. */
#ifndef FIREC_SUPERVISE_H
#define FIREC_SUPERVISE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "model.h"
#include "pidref.h"

/* What the fds a supervision also watches (the console) ask for. */
enum firec_supervise_io
{
  FIREC_SUPERVISE_GO_ON,
  FIREC_SUPERVISE_DETACH, /* supervising ends here: the VM runs on */
  FIREC_SUPERVISE_STOP,   /* the stop policy, as a signal would start it */
};

#define FIREC_SUPERVISE_IO 3

struct firec_supervision
{
  const struct firec_pidref *vmm;
  int signal_fd; /* -1: none */
  bool stop_now; /* run the stop policy at once (the stop command), not on a signal */
  bool notify;   /* the service's own supervisor: STOPPING=1 when the stop begins */
  const struct firec_stop_step *stop;
  size_t stop_count;
  long stop_timeout_ms;
  const char *vm_root;    /* the VM's root, which holds... */
  const char *api_socket; /* ...the socket SendCtrlAltDel goes to */
  /* Other fds to watch (an attached VM's console, or Firecracker's stderr
     pipe), NULL: none. io_fds fills them before each wait (fd -1: not now),
     on_io gets them back with what is ready, and io_finish is called once
     the VMM has exited, to take what is left. */
  void (*io_fds) (void *data, struct pollfd fds[FIREC_SUPERVISE_IO]);
  enum firec_supervise_io (*on_io) (void *data, const struct pollfd fds[FIREC_SUPERVISE_IO]);
  void (*io_finish) (void *data);
  void *data;
};

/* How a VM ended under supervision. */
struct firec_vm_end
{
  int wait_status; /* a waitpid status, or -1 when it was not our child */
  bool stopped;    /* the stop policy ran */
  int signal_sent; /* the last signal the policy sent (0: none) */
  bool detached;   /* it has not ended: on_io said FIREC_SUPERVISE_DETACH */
};

/* Blocks SIGINT, SIGTERM and SIGHUP and returns a signalfd for them (CLOEXEC,
   non-blocking), or -1. The mask survives exec: firec-supervise inherits it. */
int firec_supervise_signal_fd (void);

/* Returns 0 once the VMM has exited (or the supervision was detached from
   it), saying how in *end. A signal on
   signal_fd starts the stop policy; one sent with sigqueue (2) carrying a
   positive int bounds the whole policy to that many milliseconds instead of
   stop_timeout_ms (how `firec-run stop --timeout` reaches an attached VM's
   supervisor). A second signal kills at once. */
int firec_supervise (const struct firec_supervision *s, struct firec_vm_end *end, firec_error_t *err);

/* Sends SendCtrlAltDel through the API socket below vm_root (the one place
   that does). */
int firec_send_ctrl_alt_del (const char *vm_root, const char *api_socket, firec_error_t *err);

/* How the VM ended, for people and for the exit code: a message ("firecracker
   exited with status 1 (GenericError)", "the VM has ended") and FIREC_EXIT-style
   code: 0 normal end or stopped as asked, 1 an error. */
int firec_vm_end_result (const struct firec_vm_end *end, char **message);

/* Firecracker's exit codes (FcExitCode, the same in 1.5.1 and later): "Ok",
   "GenericError", "BadSyscall (seccomp)", ... */
const char *firec_firecracker_exit_name (int code);

#endif
