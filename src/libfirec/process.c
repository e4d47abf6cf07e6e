/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "process.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* glibc 2.36 has no P_PIDFD in <sys/wait.h>, and <linux/wait.h> clashes with it. */
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* ------------------------------------------------------------------ time */

/* Milliseconds left until deadline for poll (2): -1 forever, never below 0. */
static int
poll_timeout (long long deadline)
{
  if (deadline < 0)
    return -1;
  long long left = deadline - firec_now_ms ();
  if (left <= 0)
    return 0;
  return left > INT_MAX ? INT_MAX : (int) left;
}

static long long
deadline_after (long timeout_ms)
{
  return timeout_ms < 0 ? -1 : firec_now_ms () + timeout_ms;
}

/* ------------------------------------------------------------------ pidfd */

static int
sys_pidfd_open (pid_t pid)
{
#ifdef SYS_pidfd_open
  return (int) syscall (SYS_pidfd_open, pid, 0);
#else
  (void) pid;
  errno = ENOSYS;
  return -1;
#endif
}

int
firec_pidfd_open (pid_t pid, int *pidfd, firec_error_t *err)
{
  *pidfd = -1;
  if (pid <= 0)
    return firec_error_set_errno (err, EINVAL, "cannot open a pidfd for pid %d", (int) pid);
  int fd = sys_pidfd_open (pid);
  if (fd < 0)
    {
      if (errno == ESRCH)
        return firec_error_set_errno (err, ESRCH, "cannot open a pidfd for process %d: it does not exist", (int) pid);
      return firec_error_set (err, errno, "cannot open a pidfd for process %d", (int) pid);
    }
  *pidfd = fd;
  return 0;
}

int
firec_pidfd_send_signal (int pidfd, int sig, firec_error_t *err)
{
#ifdef SYS_pidfd_send_signal
  if (syscall (SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0)
    return 0;
  if (errno == ESRCH)
    return 1;
  return firec_error_set (err, errno, "cannot send signal %d (SIG%s) through pidfd %d", sig,
                          sigabbrev_np (sig) ? sigabbrev_np (sig) : "?", pidfd);
#else
  (void) pidfd;
  return firec_error_set_errno (err, ENOSYS, "cannot send signal %d: pidfd_send_signal is not available", sig);
#endif
}

/* ------------------------------------------------------------------ wait statuses */

static int
siginfo_to_wait_status (const siginfo_t *si)
{
  switch (si->si_code)
    {
    case CLD_EXITED:
      return (si->si_status & 0xff) << 8;
    case CLD_KILLED:
      return si->si_status & 0x7f;
    case CLD_DUMPED:
      return (si->si_status & 0x7f) | 0x80;
    default:
      return -1;
    }
}

char *
firec_describe_wait_status (int wait_status)
{
  if (wait_status == -1)
    return firec_xstrdup ("has exited");
  if (WIFEXITED (wait_status))
    return firec_xasprintf ("exited with status %d", WEXITSTATUS (wait_status));
  if (WIFSIGNALED (wait_status))
    {
      int sig = WTERMSIG (wait_status);
      const char *abbrev = sigabbrev_np (sig);
      return firec_xasprintf ("was killed by signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
                              WCOREDUMP (wait_status) ? ", core dumped" : "");
    }
  return firec_xasprintf ("changed state (wait status 0x%x)", (unsigned) wait_status);
}

/* waitid on the pidfd when the kernel knows P_PIDFD (5.4), else on the pid. Returns 1 with
   *status (-1 for a process that is not our child), 0 when it has not exited (WNOHANG),
   -1 with errno. */
static int
wait_exited (pid_t pid, int pidfd, int flags, int *status)
{
  siginfo_t si;
  for (;;)
    {
      memset (&si, 0, sizeof si);
      int r = -1;
      if (pidfd >= 0)
        {
          r = waitid ((idtype_t) P_PIDFD, (id_t) pidfd, &si, WEXITED | flags);
          if (r < 0 && errno == EINVAL && pid > 0)
            r = waitid (P_PID, (id_t) pid, &si, WEXITED | flags);
        }
      else
        r = waitid (P_PID, (id_t) pid, &si, WEXITED | flags);
      if (r == 0)
        break;
      if (errno == EINTR)
        continue;
      if (errno == ECHILD)
        {
          *status = -1;
          return 1;
        }
      return -1;
    }
  if (si.si_pid == 0)
    return 0;
  *status = siginfo_to_wait_status (&si);
  return 1;
}

int
firec_process_peek_exit (pid_t pid, int pidfd, int *wait_status, firec_error_t *err)
{
  *wait_status = -1;
  if (pidfd >= 0)
    {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      int r;
      do
        r = poll (&p, 1, 0);
      while (r < 0 && errno == EINTR);
      if (r < 0)
        return firec_error_set (err, errno, "cannot poll the pidfd of process %d", (int) pid);
      if (r == 0)
        return 0;
    }
  else if (pid <= 0)
    return firec_error_set_errno (err, EINVAL, "no process to check: neither a pid nor a pidfd");

  int status = -1;
  int r = wait_exited (pid, pidfd, WNOHANG | WNOWAIT, &status);
  if (r < 0)
    return firec_error_set (err, errno, "cannot check whether process %d has exited", (int) pid);
  if (r == 0)
    return 0;
  if (status == -1 && pidfd < 0)
    {
      /* Not our child and no pidfd: all we can ask is whether the pid is still taken. */
      if (kill (pid, 0) == 0 || errno != ESRCH)
        return 0;
    }
  *wait_status = status;
  return 1;
}

int
firec_process_wait (pid_t pid, int pidfd, long timeout_ms, int *wait_status, firec_error_t *err)
{
  *wait_status = -1;
  long long deadline = deadline_after (timeout_ms);
  cleanup_close int own_pidfd = -1;

  if (pidfd < 0 && pid <= 0)
    return firec_error_set_errno (err, EINVAL, "no process to wait for: neither a pid nor a pidfd");
  if (pidfd < 0)
    {
      own_pidfd = sys_pidfd_open (pid);
      if (own_pidfd >= 0)
        pidfd = own_pidfd;
      else if (errno == ESRCH)
        {
          /* Already reaped, or never ours; a zombie child would still have a pidfd. */
          int status;
          int r = wait_exited (pid, -1, WNOHANG, &status);
          if (r < 0)
            return firec_error_set (err, errno, "cannot wait for process %d", (int) pid);
          if (r == 1 && status != -1)
            {
              *wait_status = status;
              return FIREC_WAIT_EXITED;
            }
          return FIREC_WAIT_GONE;
        }
      else if (errno != ENOSYS && errno != EPERM)
        return firec_error_set (err, errno, "cannot open a pidfd for process %d", (int) pid);
    }

  if (pidfd >= 0)
    {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      for (;;)
        {
          int r = poll (&p, 1, poll_timeout (deadline));
          if (r > 0)
            break;
          if (r == 0)
            return FIREC_WAIT_TIMEOUT;
          if (errno != EINTR)
            return firec_error_set (err, errno, "cannot poll the pidfd of process %d", (int) pid);
        }
      int status;
      /* Readable means it has exited, so a blocking waitid returns at once for a child
         and fails with ECHILD for a process we did not fork. */
      if (wait_exited (pid, pidfd, 0, &status) < 0)
        return firec_error_set (err, errno, "cannot reap process %d", (int) pid);
      if (status == -1)
        return FIREC_WAIT_GONE;
      *wait_status = status;
      return FIREC_WAIT_EXITED;
    }

  /* No pidfd (kernel < 5.3, or a seccomp filter): poll with a short backoff. */
  long delay_ms = 1;
  for (;;)
    {
      int status;
      int r = wait_exited (pid, -1, deadline < 0 ? 0 : WNOHANG, &status);
      if (r < 0)
        return firec_error_set (err, errno, "cannot wait for process %d", (int) pid);
      if (r == 1 && status != -1)
        {
          *wait_status = status;
          return FIREC_WAIT_EXITED;
        }
      if (r == 1 && kill (pid, 0) < 0 && errno == ESRCH)
        return FIREC_WAIT_GONE;
      int left = poll_timeout (deadline);
      if (left == 0)
        return FIREC_WAIT_TIMEOUT;
      int nap = left < 0 || left > delay_ms ? (int) delay_ms : left;
      poll (NULL, 0, nap);
      if (delay_ms < 50)
        delay_ms *= 2;
    }
}

/* ------------------------------------------------------------------ spawn */

enum spawn_step
{
  SPAWN_STEP_SETPGID = 1,
  SPAWN_STEP_PDEATHSIG,
  SPAWN_STEP_FDS,
  SPAWN_STEP_CHDIR,
  SPAWN_STEP_EXEC,
};

struct spawn_report
{
  int32_t step;
  int32_t errno_value;
};

/* Everything the child needs, prepared by the parent: after fork the child only makes
   async-signal-safe system calls (no malloc: another thread may have held its lock). */
struct spawn_plan
{
  const struct firec_spawn_opts *opts;
  int stdio_src[3]; /* -1: leave closed */
  int *keep;        /* sorted, unique */
  size_t n_keep;
  int base; /* above every fd named here, where sources are parked */
  int report_fd;
  pid_t parent;
  unsigned max_fd; /* for the fcntl (2) loop when close_range is missing */
};

__attribute__ ((noreturn)) static void
child_fail (int report_fd, enum spawn_step step, int errno_value)
{
  struct spawn_report rep = { .step = (int32_t) step, .errno_value = errno_value };
  ssize_t n;
  do
    n = write (report_fd, &rep, sizeof rep);
  while (n < 0 && errno == EINTR);
  _exit (127);
}

/* Marks lo..hi close-on-exec rather than closing them: they go at the execve,
   not before. Until then the child holds what the parent held, the VM's lock
   among them, so that a firec-run killed while its child is between clone and
   exec leaves the lock held until the child has become the jailer, which `rm`
   (blocked on the lock meanwhile) can then recognise by its arguments. */
static int
seal_fd_range (unsigned lo, unsigned hi, unsigned max_fd)
{
  if (lo > hi)
    return 0;
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifdef SYS_close_range
  if (syscall (SYS_close_range, lo, hi, CLOSE_RANGE_CLOEXEC) == 0)
    return 0;
  if (errno != ENOSYS && errno != EINVAL)
    return -1;
#endif
  if (hi > max_fd)
    hi = max_fd;
  for (unsigned fd = lo; fd <= hi && fd >= lo; fd++)
    fcntl ((int) fd, F_SETFD, FD_CLOEXEC);
  return 0;
}

__attribute__ ((noreturn)) static void
child_run (const struct spawn_plan *plan)
{
  const struct firec_spawn_opts *opts = plan->opts;
  int report_fd = plan->report_fd;

  struct sigaction dfl;
  memset (&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset (&dfl.sa_mask);
  /* All zeros is SIG_DFL, no flags, an empty mask in every architecture's layout of
     the kernel's struct sigaction. */
  static const unsigned long kernel_dfl[8];
  for (int sig = 1; sig < NSIG; sig++)
    {
      if (sig == SIGKILL || sig == SIGSTOP)
        continue;
      /* glibc refuses its reserved signals (32, 33), yet an ignored disposition of
         theirs survives execve: reset them with the raw system call. */
      if (sigaction (sig, &dfl, NULL) < 0 && errno == EINVAL)
        syscall (SYS_rt_sigaction, sig, kernel_dfl, NULL, (size_t) (NSIG - 1) / 8);
    }

  if (!opts->keep_process_group && setpgid (0, 0) < 0)
    child_fail (report_fd, SPAWN_STEP_SETPGID, errno);
  /* The console's terminal: the child's group becomes its foreground, or the first
     tcsetattr (Firecracker's raw mode) would stop it with SIGTTOU. Every signal is
     still blocked here, which tcsetpgrp from a background group requires. */
  if (opts->foreground_tty >= 0 && !opts->keep_process_group)
    tcsetpgrp (opts->foreground_tty, getpid ());

  if (opts->die_with_parent)
    {
      if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        child_fail (report_fd, SPAWN_STEP_PDEATHSIG, errno);
      /* The parent may have died before the prctl: nobody would kill us then. */
      if (getppid () != plan->parent)
        _exit (127);
    }

  /* Park the report pipe and every stdio source above all numbers in play, so that
     moving one onto 0..2 can never clobber another. */
  report_fd = fcntl (report_fd, F_DUPFD_CLOEXEC, plan->base);
  if (report_fd < 0)
    child_fail (plan->report_fd, SPAWN_STEP_FDS, errno);
  int parked[3];
  for (int i = 0; i < 3; i++)
    {
      parked[i] = -1;
      if (plan->stdio_src[i] >= 0)
        {
          parked[i] = fcntl (plan->stdio_src[i], F_DUPFD_CLOEXEC, plan->base);
          if (parked[i] < 0)
            child_fail (report_fd, SPAWN_STEP_FDS, errno);
        }
    }
  for (int i = 0; i < 3; i++)
    {
      if (parked[i] < 0)
        close (i);
      /* dup2 clears FD_CLOEXEC on the copy, as stdio for the exec'ed program must be */
      else if (dup2 (parked[i], i) < 0) /* conventions: allow */
        child_fail (report_fd, SPAWN_STEP_FDS, errno);
    }
  for (size_t i = 0; i < plan->n_keep; i++)
    {
      int flags = fcntl (plan->keep[i], F_GETFD);
      if (flags < 0 || fcntl (plan->keep[i], F_SETFD, flags & ~FD_CLOEXEC) < 0)
        child_fail (report_fd, SPAWN_STEP_FDS, errno);
    }
  /* Every gap between the kept fds goes at the exec; report_fd is above all of them. */
  unsigned lo = 3;
  for (size_t i = 0; i < plan->n_keep; i++)
    {
      unsigned k = (unsigned) plan->keep[i];
      if (k > lo && seal_fd_range (lo, k - 1, plan->max_fd) < 0)
        child_fail (report_fd, SPAWN_STEP_FDS, errno);
      lo = k + 1;
    }
  if ((unsigned) report_fd > lo && seal_fd_range (lo, (unsigned) report_fd - 1, plan->max_fd) < 0)
    child_fail (report_fd, SPAWN_STEP_FDS, errno);
  if (seal_fd_range ((unsigned) report_fd + 1, ~0U, plan->max_fd) < 0)
    child_fail (report_fd, SPAWN_STEP_FDS, errno);

  if (opts->cwd && chdir (opts->cwd) < 0)
    child_fail (report_fd, SPAWN_STEP_CHDIR, errno);

  static char *const empty_env[] = { NULL };
  char *const *envp = opts->envp ? (char *const *) opts->envp : empty_env;

  sigset_t none;
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);

  execve (opts->argv[0], (char *const *) opts->argv, envp);
  child_fail (report_fd, SPAWN_STEP_EXEC, errno);
}

static int
spawn_child (void *plan)
{
  child_run (plan);
}

pid_t
firec_clone_vfork (int (*fn) (void *), void *arg)
{
  /* The child's own stack; ours stays untouched while it runs. */
  enum
  {
    STACK_SIZE = 256 * 1024
  };
  void *stack = mmap (NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED)
    return -1;
  sigset_t all, saved;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &saved);
  pid_t child = clone (fn, (char *) stack + STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
  int clone_errno = errno;
  pthread_sigmask (SIG_SETMASK, &saved, NULL);
  munmap (stack, STACK_SIZE); /* CLONE_VFORK: the child has exec'ed or exited */
  errno = clone_errno;
  return child;
}

static int
compare_ints (const void *a, const void *b)
{
  int x = *(const int *) a, y = *(const int *) b;
  return (x > y) - (x < y);
}

static int
fd_is_open (int fd)
{
  return fd >= 0 && fcntl (fd, F_GETFD) >= 0;
}

int
firec_spawn (const struct firec_spawn_opts *opts, pid_t *pid, int *pidfd, firec_error_t *err)
{
  *pid = -1;
  if (pidfd)
    *pidfd = -1;
  if (opts->argv == NULL || opts->argv[0] == NULL)
    return firec_error_set_errno (err, EINVAL, "cannot spawn a process: empty argv");
  const char *exe = opts->argv[0];
  if (exe[0] != '/')
    return firec_error_set_errno (err, EINVAL, "cannot execute %s: not an absolute path", exe);

  struct spawn_plan plan = { .opts = opts, .parent = getpid () };
  int highest = 2;

  cleanup_close int devnull = -1;
  const int wanted[3] = { opts->stdin_fd, opts->stdout_fd, opts->stderr_fd };
  for (int i = 0; i < 3; i++)
    {
      int fd = wanted[i];
      if (fd == FIREC_SPAWN_FD_DEVNULL)
        {
          if (devnull < 0)
            {
              devnull = open ("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
              if (devnull < 0)
                return firec_error_set (err, errno, "cannot execute %s: cannot open /dev/null", exe);
            }
          fd = devnull;
        }
      else if (fd == FIREC_SPAWN_FD_INHERIT)
        fd = fd_is_open (i) ? i : -1;
      else if (!fd_is_open (fd))
        return firec_error_set_errno (err, EBADF, "cannot execute %s: fd %d given for its fd %d is not open", exe, fd,
                                      i);
      plan.stdio_src[i] = fd;
      if (fd > highest)
        highest = fd;
    }

  cleanup_free int *keep = firec_xcalloc (opts->n_keep_fds ? opts->n_keep_fds : 1, sizeof *keep);
  for (size_t i = 0; i < opts->n_keep_fds; i++)
    {
      int fd = opts->keep_fds[i];
      if (fd < 3)
        return firec_error_set_errno (err, EINVAL, "cannot execute %s: fd %d cannot be kept (stdio is set apart)", exe,
                                      fd);
      if (!fd_is_open (fd))
        return firec_error_set_errno (err, EBADF, "cannot execute %s: fd %d to keep is not open", exe, fd);
      keep[i] = fd;
    }
  qsort (keep, opts->n_keep_fds, sizeof *keep, compare_ints);
  size_t n_keep = 0;
  for (size_t i = 0; i < opts->n_keep_fds; i++)
    if (n_keep == 0 || keep[n_keep - 1] != keep[i])
      keep[n_keep++] = keep[i];
  if (n_keep && keep[n_keep - 1] > highest)
    highest = keep[n_keep - 1];
  plan.keep = keep;
  plan.n_keep = n_keep;

  struct rlimit rl;
  plan.max_fd = 65535;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < UINT_MAX)
    plan.max_fd = (unsigned) rl.rlim_cur;

  int report[2];
  if (pipe2 (report, O_CLOEXEC) < 0)
    return firec_error_set (err, errno, "cannot execute %s: cannot create a pipe", exe);
  cleanup_close int report_r = report[0];
  cleanup_close int report_w = report[1];
  if (report_w > highest)
    highest = report_w;
  plan.report_fd = report_w;
  plan.base = highest + 1;

  /* Every signal stays blocked in the child until it has reset their handlers. */
  pid_t child = firec_clone_vfork (spawn_child, &plan);
  if (child < 0)
    return firec_error_set (err, errno, "cannot execute %s: clone failed", exe);
  close (steal_fd (&report_w));

  /* Our unreaped child: its pid cannot be reused yet, so this pidfd is the right one. */
  cleanup_close int child_pidfd = pidfd ? sys_pidfd_open (child) : -1;

  struct spawn_report rep;
  ssize_t n;
  do
    n = read (report_r, &rep, sizeof rep);
  while (n < 0 && errno == EINTR);
  if (n == 0)
    {
      *pid = child;
      if (pidfd)
        *pidfd = steal_fd (&child_pidfd);
      return 0;
    }

  int status;
  while (waitpid (child, &status, 0) < 0 && errno == EINTR)
    ;
  if (n != (ssize_t) sizeof rep)
    return firec_error_set (err, n < 0 ? errno : EIO, "cannot execute %s: lost the child's report", exe);
  switch ((enum spawn_step) rep.step)
    {
    case SPAWN_STEP_EXEC:
      return firec_error_set (err, rep.errno_value, "cannot execute %s", exe);
    case SPAWN_STEP_CHDIR:
      return firec_error_set (err, rep.errno_value, "cannot execute %s: cannot change to directory %s", exe, opts->cwd);
    case SPAWN_STEP_FDS:
      return firec_error_set (err, rep.errno_value, "cannot execute %s: cannot set up its file descriptors", exe);
    case SPAWN_STEP_SETPGID:
      return firec_error_set (err, rep.errno_value, "cannot execute %s: setpgid failed", exe);
    case SPAWN_STEP_PDEATHSIG:
      return firec_error_set (err, rep.errno_value, "cannot execute %s: PR_SET_PDEATHSIG failed", exe);
    }
  return firec_error_set (err, rep.errno_value, "cannot execute %s", exe);
}

/* ------------------------------------------------------------------ pid file */

/* 1: *pid parsed; 0: not there or not written yet; < 0: an error that waiting cannot fix. */
static int
try_read_pid_file (int dirfd, const char *name, pid_t *pid, char *seen, size_t seen_size, firec_error_t *err)
{
  seen[0] = '\0';
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      if (errno == ELOOP)
        return firec_error_set_errno (err, ELOOP, "pid file %s is a symlink: refusing to follow it", name);
      return firec_error_set (err, errno, "cannot open pid file %s", name);
    }
  struct stat st;
  if (fstat (fd, &st) < 0)
    return firec_error_set (err, errno, "cannot stat pid file %s", name);
  if (!S_ISREG (st.st_mode))
    return firec_error_set_errno (err, EINVAL, "pid file %s is not a regular file", name);

  char buf[32];
  size_t len = 0;
  for (;;)
    {
      ssize_t n = read (fd, buf + len, sizeof buf - 1 - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return firec_error_set (err, errno, "cannot read pid file %s", name);
      if (n == 0 || (len += (size_t) n) == sizeof buf - 1)
        break;
    }
  buf[len] = '\0';
  snprintf (seen, seen_size, "%s", buf);
  if (len > 0 && buf[len - 1] == '\n')
    buf[--len] = '\0';
  if (len == 0)
    return 0; /* created (O_EXCL) but not written yet */
  long long value = 0;
  for (size_t i = 0; i < len; i++)
    {
      if (buf[i] < '0' || buf[i] > '9' || value > INT_MAX)
        return firec_error_set_errno (err, EINVAL, "pid file %s holds \"%s\", not a pid", name, seen);
      value = value * 10 + (buf[i] - '0');
    }
  if (value <= 0 || value > INT_MAX)
    return firec_error_set_errno (err, EINVAL, "pid file %s holds \"%s\", not a pid", name, seen);
  *pid = (pid_t) value;
  return 1;
}

int
firec_read_pid_file_watch (int dirfd, const char *name, long timeout_ms, int writer_pidfd, int cancel_fd, pid_t *pid,
                           firec_error_t *err)
{
  *pid = -1;
  long long deadline = deadline_after (timeout_ms);

  /* inotify wants a path; /proc/self/fd/N names the directory we hold. */
  cleanup_close int ino = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
  if (ino >= 0)
    {
      char dirpath[64];
      snprintf (dirpath, sizeof dirpath, "/proc/self/fd/%d", dirfd);
      if (inotify_add_watch (ino, dirpath, IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE) < 0)
        {
          close (ino);
          ino = -1;
        }
    }

  long delay_ms = 1;
  char seen[32];
  for (;;)
    {
      int writer_gone = 0, writer_status = -1;
      if (writer_pidfd >= 0)
        {
          writer_gone = firec_process_peek_exit (0, writer_pidfd, &writer_status, err);
          if (writer_gone < 0)
            return -1;
        }
      int r = try_read_pid_file (dirfd, name, pid, seen, sizeof seen, err);
      if (r < 0)
        return -1;
      if (r == 1)
        return 0;
      if (writer_gone)
        {
          /* Exit 0 is how a daemonizing jailer leaves before its grandchild writes the
             file: keep waiting then, without the writer. */
          if (writer_status != 0 && writer_status != -1)
            {
              cleanup_free char *how = firec_describe_wait_status (writer_status);
              return firec_error_set (err, 0, "the jailer %s before writing its pid file %s", how, name);
            }
          writer_pidfd = -1;
        }
      int left = poll_timeout (deadline);
      if (left == 0)
        {
          if (seen[0] == '\0' && faccessat (dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            return firec_error_set_errno (err, ETIMEDOUT, "pid file %s still empty after %ld ms", name, timeout_ms);
          return firec_error_set_errno (err, ETIMEDOUT, "pid file %s did not appear within %ld ms", name, timeout_ms);
        }

      struct pollfd fds[3] = {
        { .fd = ino, .events = POLLIN },
        { .fd = writer_pidfd, .events = POLLIN },
        { .fd = cancel_fd, .events = POLLIN },
      };
      int wait = left;
      if (ino < 0)
        {
          wait = left < 0 || left > delay_ms ? (int) delay_ms : left;
          if (delay_ms < 50)
            delay_ms *= 2;
        }
      if (poll (fds, 3, wait) < 0 && errno != EINTR)
        return firec_error_set (err, errno, "cannot wait for pid file %s", name);
      if (fds[2].revents)
        return firec_error_set_errno (err, ECANCELED, "interrupted while waiting for pid file %s", name);
      if (ino >= 0)
        {
          char events[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
          while (read (ino, events, sizeof events) > 0)
            ;
        }
    }
}

int
firec_read_pid_file (int dirfd, const char *name, long timeout_ms, pid_t *pid, firec_error_t *err)
{
  return firec_read_pid_file_watch (dirfd, name, timeout_ms, -1, -1, pid, err);
}

/* ------------------------------------------------------------------ start time */

int
firec_process_start_time (pid_t pid, unsigned long long *ticks, firec_error_t *err)
{
  *ticks = 0;
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (firec_read_file (path, 64 * 1024, &data, &len) < 0)
    {
      if (errno == ENOENT || errno == ESRCH)
        return firec_error_set_errno (err, ESRCH, "cannot read the start time of process %d: it does not exist",
                                      (int) pid);
      return firec_error_set (err, errno, "cannot read %s", path);
    }
  /* "pid (comm) state ppid ...": comm may hold spaces and ')' itself. */
  char *p = strrchr (data, ')');
  if (p == NULL)
    return firec_error_set_errno (err, EINVAL, "cannot parse %s: no ')'", path);
  p++;
  for (int field = 3; field < 22; field++)
    {
      while (*p == ' ')
        p++;
      if (*p == '\0')
        return firec_error_set_errno (err, EINVAL, "cannot parse %s: only %d fields", path, field - 1);
      while (*p && *p != ' ')
        p++;
    }
  while (*p == ' ')
    p++;
  if (*p < '0' || *p > '9')
    return firec_error_set_errno (err, EINVAL, "cannot parse %s: field 22 is not a number", path);
  char *end;
  errno = 0;
  unsigned long long value = strtoull (p, &end, 10);
  if (errno != 0 || (*end != ' ' && *end != '\n' && *end != '\0'))
    return firec_error_set_errno (err, EINVAL, "cannot parse %s: field 22 is not a number", path);
  *ticks = value;
  return 0;
}

/* ------------------------------------------------------------------ stderr tail */

struct firec_stderr_tail
{
  int fd;
  int tee_fd;
  size_t head; /* where the next byte goes */
  size_t len;  /* bytes held, at most the ring's size */
  int dropped; /* bytes were pushed out: the oldest line is cut */
  char ring[FIREC_STDERR_TAIL_BYTES];
};

int
firec_stderr_tail_open (int tee_fd, struct firec_stderr_tail **ret, int *child_fd, firec_error_t *err)
{
  *ret = NULL;
  *child_fd = -1;
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return firec_error_set (err, errno, "cannot create a pipe for a child's stderr");
  int flags = fcntl (p[0], F_GETFL);
  if (flags < 0 || fcntl (p[0], F_SETFL, flags | O_NONBLOCK) < 0)
    {
      int e = errno;
      close (p[0]);
      close (p[1]);
      return firec_error_set (err, e, "cannot make a stderr pipe non-blocking");
    }
  struct firec_stderr_tail *t = firec_xcalloc (1, sizeof *t);
  t->fd = p[0];
  t->tee_fd = tee_fd;
  *ret = t;
  *child_fd = p[1];
  return 0;
}

int
firec_stderr_tail_fd (const struct firec_stderr_tail *tail)
{
  return tail->fd;
}

static void
tail_keep (struct firec_stderr_tail *t, const char *data, size_t n)
{
  const size_t size = sizeof t->ring;
  if (n > size)
    {
      data += n - size;
      n = size;
      t->dropped = 1;
    }
  if (t->len + n > size)
    t->dropped = 1;
  for (size_t i = 0; i < n; i++)
    {
      t->ring[t->head] = data[i];
      t->head = (t->head + 1) % size;
    }
  t->len = t->len + n > size ? size : t->len + n;
}

int
firec_stderr_tail_drain (struct firec_stderr_tail *tail, firec_error_t *err)
{
  if (tail->fd < 0)
    return 1;
  char buf[4096];
  for (;;)
    {
      ssize_t n = read (tail->fd, buf, sizeof buf);
      if (n > 0)
        {
          tail_keep (tail, buf, (size_t) n);
          for (ssize_t off = 0; tail->tee_fd >= 0 && off < n;)
            {
              ssize_t w = write (tail->tee_fd, buf + off, (size_t) (n - off));
              if (w < 0 && errno == EINTR)
                continue;
              if (w <= 0)
                break; /* the copy is a courtesy; the tail itself is intact */
              off += w;
            }
          continue;
        }
      if (n == 0)
        {
          close (tail->fd);
          tail->fd = -1;
          return 1;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return firec_error_set (err, errno, "cannot read a child's stderr");
    }
}

char *
firec_stderr_tail_text (const struct firec_stderr_tail *tail, size_t max_lines)
{
  if (max_lines == 0)
    max_lines = FIREC_STDERR_TAIL_LINES;
  const size_t size = sizeof tail->ring;
  size_t start = (tail->head + size - tail->len) % size;
  cleanup_free char *lin = firec_xmalloc (tail->len + 1);
  size_t n = 0;
  for (size_t i = 0; i < tail->len; i++)
    {
      char c = tail->ring[(start + i) % size];
      if (c == '\r')
        continue;
      lin[n++] = c == '\0' ? '?' : c;
    }
  lin[n] = '\0';

  const char *begin = lin;
  if (tail->dropped)
    {
      const char *nl = strchr (lin, '\n');
      if (nl)
        begin = nl + 1;
    }
  size_t end = n - (size_t) (begin - lin);
  while (end > 0 && begin[end - 1] == '\n')
    end--;
  /* Walk back over max_lines line ends. */
  size_t from = end, lines = 0;
  while (from > 0)
    {
      if (begin[from - 1] == '\n' && ++lines == max_lines)
        break;
      from--;
    }
  return firec_xstrndup (begin + from, end - from);
}

void
firec_stderr_tail_annotate (struct firec_stderr_tail *tail, const char *what, firec_error_t *err)
{
  if (tail == NULL || err == NULL || *err == NULL)
    return;
  firec_error_t drain_err = NULL;
  firec_stderr_tail_drain (tail, &drain_err);
  firec_error_release (&drain_err);
  cleanup_free char *text = firec_stderr_tail_text (tail, 0);
  if (text[0] == '\0')
    return;
  struct firec_buf buf = { 0 };
  firec_buf_printf (&buf, "\nlast lines of %s's stderr:", what);
  for (char *line = text; line;)
    {
      char *nl = strchr (line, '\n');
      if (nl)
        *nl = '\0';
      firec_buf_printf (&buf, "\n  %s", line);
      line = nl ? nl + 1 : NULL;
    }
  firec_error_append (err, "%s", buf.data);
  firec_buf_release (&buf);
}

void
firec_stderr_tail_free (struct firec_stderr_tail *tail)
{
  if (tail == NULL)
    return;
  if (tail->fd >= 0)
    close (tail->fd);
  free (tail);
}

void
firec_reclaim_terminal (const struct termios *saved)
{
  sigset_t ttou, old;
  sigemptyset (&ttou);
  sigaddset (&ttou, SIGTTOU);
  sigprocmask (SIG_BLOCK, &ttou, &old);
  tcsetpgrp (STDIN_FILENO, getpgrp ());
  tcsetattr (STDIN_FILENO, TCSANOW, saved);
  sigprocmask (SIG_SETMASK, &old, NULL);
}
