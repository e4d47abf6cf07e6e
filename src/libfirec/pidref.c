/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "pidref.h"
#include "process.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

bool
firec_pid_is_dead (pid_t pid)
{
  char path[64], buf[512];
  snprintf (path, sizeof path, "/proc/%ld/stat", (long) pid);
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return true;
  ssize_t n = read (fd, buf, sizeof buf - 1);
  if (n <= 0)
    return true;
  buf[n] = '\0';
  /* The state follows the command name, which may itself hold ") ". */
  const char *close_paren = strrchr (buf, ')');
  return close_paren == NULL || close_paren[1] != ' ' || close_paren[2] == 'Z' || close_paren[2] == 'X';
}

int
firec_pidref_open (pid_t pid, unsigned long long start_time, struct firec_pidref *ret, firec_error_t *err)
{
  *ret = (struct firec_pidref) FIREC_PIDREF_NULL;
  if (pid <= 0)
    return 0;
  cleanup_error firec_error_t open_err = NULL;
  cleanup_close int fd = -1;
  if (firec_pidfd_open (pid, &fd, &open_err) < 0)
    {
      if (open_err->errno_value == ESRCH)
        return 0;
      if (err && *err == NULL)
        *err = steal_pointer (&open_err);
      return -1;
    }
  /* Checked after the pidfd exists: from now on it names this process only. */
  unsigned long long started = 0;
  cleanup_error firec_error_t start_err = NULL;
  if (firec_process_start_time (pid, &started, &start_err) < 0 || (start_time && started != start_time)
      || firec_pid_is_dead (pid))
    return 0;
  ret->pid = pid;
  ret->fd = steal_fd (&fd);
  ret->start_time = started;
  return 1;
}

int
firec_pidref_adopt (pid_t pid, int pidfd, struct firec_pidref *ret, firec_error_t *err)
{
  *ret = (struct firec_pidref) FIREC_PIDREF_NULL;
  ret->pid = pid;
  ret->fd = pidfd;
  if (firec_process_start_time (pid, &ret->start_time, err) < 0)
    return -1;
  return 0;
}

void
firec_pidref_done (struct firec_pidref *p)
{
  if (p->fd >= 0)
    close (p->fd);
  *p = (struct firec_pidref) FIREC_PIDREF_NULL;
}

int
firec_pidref_kill (const struct firec_pidref *p, int sig, firec_error_t *err)
{
  if (!firec_pidref_is_set (p) || p->fd < 0)
    return 1;
  return firec_pidfd_send_signal (p->fd, sig, err);
}

int
firec_pidref_queue (const struct firec_pidref *p, int sig, int value, firec_error_t *err)
{
  if (!firec_pidref_is_set (p) || p->fd < 0)
    return 1;
#ifdef SYS_pidfd_send_signal
  /* sigqueue's siginfo, sent through the pidfd: never to a pid reused since. */
  siginfo_t si;
  memset (&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = SI_QUEUE;
  si.si_pid = getpid ();
  si.si_uid = getuid ();
  si.si_value.sival_int = value;
  if (syscall (SYS_pidfd_send_signal, p->fd, sig, &si, 0) == 0)
    return 0;
  if (errno == ESRCH)
    return 1;
  return firec_error_set (err, errno, "cannot send signal %d to process %ld", sig, (long) p->pid);
#else
  (void) value;
  return firec_pidref_kill (p, sig, err);
#endif
}

int
firec_pidref_wait (const struct firec_pidref *p, long timeout_ms, int *wait_status, firec_error_t *err)
{
  *wait_status = -1;
  if (!firec_pidref_is_set (p))
    return FIREC_WAIT_GONE;
  return firec_process_wait (p->pid, p->fd, timeout_ms, wait_status, err);
}
