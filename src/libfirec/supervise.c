#include "config.h"

#include "supervise.h"
#include "process.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static void
kill_now (const struct firec_supervision *s)
{
  cleanup_error firec_error_t ignored = NULL;
  firec_pidfd_send_signal (s->pidfd, SIGKILL, &ignored);
}

/* One action of the policy; returns < 0 when it could not be sent. */
static int
stop_action (const struct firec_supervision *s, const struct firec_stop_step *step, firec_error_t *err)
{
  switch (step->action)
    {
    case FIREC_STOP_CTRL_ALT_DEL:
      return s->ctrl_alt_del (s->data, err);
    case FIREC_STOP_SIGTERM:
      return firec_pidfd_send_signal (s->pidfd, SIGTERM, err) < 0 ? -1 : 0;
    case FIREC_STOP_SIGKILL:
      return firec_pidfd_send_signal (s->pidfd, SIGKILL, err) < 0 ? -1 : 0;
    }
  return 0;
}

int
firec_supervise (const struct firec_supervision *s, int *wait_status, bool *stopped, firec_error_t *err)
{
  size_t next_stop = 0;
  bool stopping = false;
  bool killed = false;
  long long step_start = 0, stop_start = 0;
  long step_wait_ms = -1; /* the current action's wait; -1: none running */
  bool start_now = s->stop_now;
  *stopped = false;
  if (start_now)
    {
      stopping = true;
      stop_start = firec_now_ms ();
    }
  for (;;)
    {
      struct pollfd fds[3] = {
        { .fd = s->pidfd, .events = POLLIN },
        { .fd = s->signal_fd, .events = POLLIN },
        { .fd = s->stderr_fd, .events = POLLIN },
      };
      long wait = -1;
      if (step_wait_ms >= 0)
        {
          wait = step_wait_ms - (firec_now_ms () - step_start);
          if (s->stop_timeout_ms > 0 && s->stop_timeout_ms - (firec_now_ms () - stop_start) < wait)
            wait = s->stop_timeout_ms - (firec_now_ms () - stop_start);
          if (wait < 0)
            wait = 0;
        }
      if (poll (fds, 3, wait > INT_MAX ? INT_MAX : (int) wait) < 0 && errno != EINTR)
        return firec_error_set (err, errno, "poll");
      if (fds[2].revents && s->drain_stderr)
        s->drain_stderr (s->data);
      if (fds[0].revents)
        {
          int rc = firec_process_wait (s->pid, s->pidfd, 0, wait_status, err);
          if (rc < 0)
            return -1;
          /* A readable pidfd means the process has exited, even when it is not
             ours to reap (a detached VM whose zombie waits for init). */
          if (rc == FIREC_WAIT_TIMEOUT && (fds[0].revents & POLLIN))
            {
              *wait_status = -1;
              rc = FIREC_WAIT_GONE;
            }
          if (rc != FIREC_WAIT_TIMEOUT)
            {
              if (s->drain_stderr)
                s->drain_stderr (s->data);
              *stopped = stopping;
              return 0;
            }
        }
      bool next = start_now;
      start_now = false;
      if (s->signal_fd >= 0 && fds[1].revents)
        {
          struct signalfd_siginfo si;
          if (read (s->signal_fd, &si, sizeof si) == (ssize_t) sizeof si)
            {
              if (stopping)
                {
                  /* A second signal: no more patience. */
                  kill_now (s);
                  killed = true;
                  step_wait_ms = -1;
                  continue;
                }
              stopping = true;
              stop_start = firec_now_ms ();
              next = true;
            }
        }
      if (!stopping || killed)
        continue;
      if (s->stop_timeout_ms > 0 && (firec_now_ms () - stop_start) >= s->stop_timeout_ms)
        next_stop = s->stop_count; /* out of time: straight to SIGKILL */
      else if (step_wait_ms >= 0 && (firec_now_ms () - step_start) >= step_wait_ms)
        next = true;
      if (!next && next_stop < s->stop_count)
        continue;
      if (next_stop >= s->stop_count)
        {
          kill_now (s);
          killed = true;
          step_wait_ms = -1;
          continue;
        }
      const struct firec_stop_step *step = &s->stop[next_stop++];
      cleanup_error firec_error_t action_err = NULL;
      /* An action that cannot be sent (the API already gone) moves on at once. */
      int rc = stop_action (s, step, &action_err);
      step_start = firec_now_ms ();
      step_wait_ms = rc < 0 ? 0 : step->wait_ms;
    }
}

int
firec_vm_end_result (int wait_status, bool stopped, char **message)
{
  if (wait_status != -1 && WIFEXITED (wait_status) && WEXITSTATUS (wait_status) != 0)
    {
      *message = firec_xasprintf ("firecracker exited with status %d (%s)", WEXITSTATUS (wait_status),
                                  firec_firecracker_exit_name (WEXITSTATUS (wait_status)));
      return 1;
    }
  if (wait_status != -1 && WIFSIGNALED (wait_status))
    {
      const char *name = sigabbrev_np (WTERMSIG (wait_status));
      *message = firec_xasprintf ("firecracker was killed by SIG%s%s", name ? name : "?",
                                  stopped ? " (the stop policy)" : "");
      return stopped ? 0 : 1;
    }
  *message = firec_xstrdup (stopped ? "the VM was stopped" : "the VM has ended");
  return 0;
}

const char *
firec_firecracker_exit_name (int code)
{
  switch (code)
    {
    case 0:
      return "Ok";
    case 1:
      return "GenericError";
    case 2:
      return "UnexpectedError";
    case 148:
      return "BadSyscall (seccomp)";
    case 149:
      return "SIGBUS";
    case 150:
      return "SIGSEGV";
    case 151:
      return "SIGXFSZ";
    case 152:
      return "BadConfiguration";
    case 153:
      return "ArgParsing";
    case 154:
      return "SIGXCPU";
    case 155:
      return "SIGPIPE";
    case 156:
      return "SIGHUP";
    case 157:
      return "SIGILL";
    default:
      return "unknown";
    }
}

int
firec_supervise_signal_fd (void)
{
  sigset_t set;
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGHUP);
  sigprocmask (SIG_BLOCK, &set, NULL);
  return signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}
