/* SPDX-License-Identifier: Apache-2.0 */
/* Spawning and tracking the VMM: an explicit argv and envp, an fd allow-list,
   reset signals, and pidfds so that a reused pid is never mistaken for the VM.
   Nothing here prints or exits; failures come back as firec_error_t. */
#ifndef FIREC_PROCESS_H
#define FIREC_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <termios.h>

#include "error.h"

/* Values for the stdio fields of struct firec_spawn_opts besides a real fd. */
#define FIREC_SPAWN_FD_DEVNULL (-1) /* /dev/null, opened read-write */
#define FIREC_SPAWN_FD_INHERIT (-2) /* the parent's own fd 0, 1 or 2 (left closed if it is closed) */

struct firec_spawn_opts
{
  /* NULL-terminated; argv[0] is the absolute path executed (no PATH search, no shell). */
  const char *const *argv;
  /* NULL-terminated; NULL means an empty environment. */
  const char *const *envp;
  /* Become the child's fds 0, 1 and 2. Any fd of the parent, FIREC_SPAWN_FD_DEVNULL or
     FIREC_SPAWN_FD_INHERIT. Start from FIREC_SPAWN_OPTS_INIT: 0 means the parent's fd 0. */
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  /* The allow-list: fds (>= 3) the child keeps at the same numbers, CLOEXEC cleared in
     the child only. Every other fd >= 3 is closed by the execve (marked CLOEXEC, not
     closed before it: see seal_fd_range in process.c). */
  const int *keep_fds;
  size_t n_keep_fds;
  /* chdir in the child before execve; NULL: stay. */
  const char *cwd;
  /* false: the child calls setpgid (0, 0) and leads its own process group, so a
     terminal's ^C reaches only us and we decide how to stop the VM. */
  bool keep_process_group;
  /* PR_SET_PDEATHSIG (SIGKILL), for attached mode. The kernel ties it to the parent
     *thread*: spawn from a thread that lives as long as the VM should. It is not inherited
     by grandchildren (a firecracker forked by the jailer under --new-pid-ns). */
  bool die_with_parent;
  /* A terminal (e.g. 0) whose foreground process group the child's own group
     becomes: the serial console on the user's terminal. -1: none. */
  int foreground_tty;
};

#define FIREC_SPAWN_OPTS_INIT                                                                                          \
  {                                                                                                                    \
    .stdin_fd = FIREC_SPAWN_FD_INHERIT, .stdout_fd = FIREC_SPAWN_FD_INHERIT, .stderr_fd = FIREC_SPAWN_FD_INHERIT,      \
    .foreground_tty = -1,                                                                                              \
  }

/* Runs fn (arg) in a child that shares our memory (vfork semantics: we resume
   once it has exec'ed or exited), on a stack of its own, with every signal
   blocked. Far cheaper than fork (): no page tables are copied. fn may only make
   system calls, and must not return into glibc state it changed. Returns the
   child's pid, or -1 with errno set. */
pid_t firec_clone_vfork (int (*fn) (void *), void *arg);

/* Starts opts->argv (firec_clone_vfork, then execve). In the child: every signal handler back to SIG_DFL and an
   empty signal mask, its own process group (unless asked not to), PR_SET_PDEATHSIG when
   asked, stdio, the fd allow-list, cwd. Returns only after the execve succeeded: a
   failure in the child (execve's errno included) comes back through a CLOEXEC pipe, the
   child is reaped and the error reads "cannot execute /path: No such file or directory".
   *pidfd (pidfd may be NULL) gets a CLOEXEC pidfd, opened while the child is unreaped so
   it cannot name another process, or -1 when none could be opened (kernel < 5.3,
   seccomp): firec_process_wait then falls back to the pid. */
int firec_spawn (const struct firec_spawn_opts *opts, pid_t *pid, int *pidfd, firec_error_t *err);

/* The VM had the terminal on stdin (its group in the foreground, raw mode): makes
   our process group the foreground again and restores saved. SIGTTOU is blocked
   meanwhile: we may still be in the background. */
void firec_reclaim_terminal (const struct termios *saved);

/* pidfd_open (2): CLOEXEC. ESRCH means the process is gone (or never existed). */
int firec_pidfd_open (pid_t pid, int *pidfd, firec_error_t *err);

/* Returns 0 when the signal was sent, 1 when the process has already exited (ESRCH),
   < 0 on other failures. */
int firec_pidfd_send_signal (int pidfd, int sig, firec_error_t *err);

enum firec_wait_result
{
  FIREC_WAIT_EXITED = 0,  /* reaped; *wait_status holds a waitpid (2) status */
  FIREC_WAIT_GONE = 1,    /* not our child: it is gone, its status cannot be read (*wait_status = -1) */
  FIREC_WAIT_TIMEOUT = 2, /* still running after timeout_ms (*wait_status = -1) */
};

/* Waits for a process to end: poll (2) on its pidfd (pidfd < 0: one is opened from pid
   when the kernel allows), then reaps it with waitid (P_PIDFD), which never reaps a
   different process that happens to reuse the pid. Works for our own children and for
   processes we did not fork (a firecracker the jailer forked under --new-pid-ns): those
   are reported as FIREC_WAIT_GONE. timeout_ms -1 waits forever, 0 only checks.
   Returns an enum firec_wait_result, or < 0 on failure. */
int firec_process_wait (pid_t pid, int pidfd, long timeout_ms, int *wait_status, firec_error_t *err);

/* Like waitid (WNOHANG | WNOWAIT): whether the process has ended, without reaping it
   (the caller can still firec_process_wait it). Returns 0 while it runs; 1 when it has
   exited, with *wait_status filled (-1 when it is not our child and the status cannot be
   read); < 0 on failure. */
int firec_process_peek_exit (pid_t pid, int pidfd, int *wait_status, firec_error_t *err);

/* "exited with status 1", "was killed by signal 9 (SIGKILL)", "has exited" (for -1). */
char *firec_describe_wait_status (int wait_status);

/* Reads the decimal pid that the jailer writes to <chroot>/<exec_name>.pid (O_EXCL, no
   trailing newline), relative to dirfd and never through a symlink (O_NOFOLLOW). What it
   says is only what the file says: in a jail, the jail uid may have written it first, and
   the caller believes the pid only once the host confirms it (discover.h). Waits
   up to timeout_ms (inotify on the directory) for the file to appear and to hold a whole
   number: a file that is still empty is read again. */
int firec_read_pid_file (int dirfd, const char *name, long timeout_ms, pid_t *pid, firec_error_t *err);
/* The same, and fails at once when the process behind writer_pidfd (the jailer, our
   child; -1: none) ends with a status other than 0 without having written the file. An
   exit 0 (a daemonizing jailer leaves before its grandchild writes the file) or an
   unreadable status only stops the watch. The writer is not reaped. When cancel_fd
   (-1: none) polls readable the wait fails at once (errno_value ECANCELED). */
int firec_read_pid_file_watch (int dirfd, const char *name, long timeout_ms, int writer_pidfd, int cancel_fd,
                               pid_t *pid, firec_error_t *err);

/* Field 22 of /proc/PID/stat (starttime, clock ticks since boot), parsed after the last
   ')' since the command name may contain spaces and parentheses. Recorded with the pid,
   it tells a reused pid from the VM. */
int firec_process_start_time (pid_t pid, unsigned long long *ticks, firec_error_t *err);

/* The last lines a child wrote to its stderr, to quote them when it fails. Create one,
   spawn the child with stderr_fd = *child_fd, close *child_fd in the parent, and call
   firec_stderr_tail_drain whenever firec_stderr_tail_fd polls readable (a full pipe
   blocks the child). Only the last FIREC_STDERR_TAIL_BYTES are kept. */
#define FIREC_STDERR_TAIL_BYTES 8192
#define FIREC_STDERR_TAIL_LINES 20

struct firec_stderr_tail;

/* tee_fd >= 0: everything read is also copied there (e.g. our own stderr in attached
   mode); -1: kept only. *child_fd is the write end (CLOEXEC; firec_spawn makes it the
   child's stderr). */
int firec_stderr_tail_open (int tee_fd, struct firec_stderr_tail **ret, int *child_fd, firec_error_t *err);
/* The read end (O_NONBLOCK), for poll (2); -1 once end of file was reached. */
int firec_stderr_tail_fd (const struct firec_stderr_tail *tail);
/* Reads whatever is available without blocking. Returns 1 at end of file (every writer
   closed it), 0 otherwise, < 0 on a read error. */
int firec_stderr_tail_drain (struct firec_stderr_tail *tail, firec_error_t *err);
/* The last max_lines lines (0: FIREC_STDERR_TAIL_LINES) kept, joined by "\n", without a
   trailing newline; a line cut by the ring's start is dropped. "" when there are none.
   Malloc'ed. */
char *firec_stderr_tail_text (const struct firec_stderr_tail *tail, size_t max_lines);
/* Drains, then appends "\nlast lines of <what>'s stderr:\n  line\n  line" to an error
   that is set (nothing when no lines came). */
void firec_stderr_tail_annotate (struct firec_stderr_tail *tail, const char *what, firec_error_t *err);
void firec_stderr_tail_free (struct firec_stderr_tail *tail);

static inline void
firec_stderr_tail_freep (struct firec_stderr_tail **p)
{
  firec_stderr_tail_free (*p);
}
#define cleanup_stderr_tail __attribute__ ((cleanup (firec_stderr_tail_freep)))

#endif
