/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "supervise.h"
#include "fcapi.h"
#include "notify.h"
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

int
firec_send_ctrl_alt_del (const char *vm_root, const char *api_socket, firec_error_t *err)
{
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_fcapi_open_beneath (vm_root, api_socket, &api, err) < 0)
    return -1;
  return firec_fcapi_call (api, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", 5000, NULL, err);
}

/* How long a VMM gets to disappear after SIGKILL (the kernel needs a moment to
   tear down its memory; a process stuck in the kernel never goes). */
#define KILL_GRACE_MS 10000

/* Where a stop is: which action comes next, since when, and until when. */
struct stopping
{
  bool active;
  bool killed;
  long long killed_at;
  size_t next;
  long long start;
  long timeout_ms;
  long long step_start;
  long step_wait_ms; /* the current action's wait; -1: none running */
};

static void
kill_now (const struct firec_supervision *s, struct stopping *st, struct firec_vm_end *end)
{
  cleanup_error firec_error_t ignored = NULL;
  firec_pidref_kill (s->vmm, SIGKILL, &ignored);
  end->signal_sent = SIGKILL;
  st->killed = true;
  st->killed_at = firec_now_ms ();
  st->step_wait_ms = -1;
}

/* One action of the policy; returns < 0 when it could not be sent. */
static int
stop_action (const struct firec_supervision *s, const struct firec_stop_step *step, struct firec_vm_end *end,
             firec_error_t *err)
{
  switch (step->action)
    {
    case FIREC_STOP_CTRL_ALT_DEL:
      return firec_send_ctrl_alt_del (s->vm_root, s->api_socket, err);
    case FIREC_STOP_SIGTERM:
    case FIREC_STOP_SIGKILL:
      {
        int sig = step->action == FIREC_STOP_SIGTERM ? SIGTERM : SIGKILL;
        end->signal_sent = sig;
        return firec_pidref_kill (s->vmm, sig, err) < 0 ? -1 : 0;
      }
    }
  return 0;
}

static void
begin_stop (const struct firec_supervision *s, struct stopping *st, long timeout_ms)
{
  st->active = true;
  st->start = firec_now_ms ();
  st->timeout_ms = timeout_ms > 0 ? timeout_ms : s->stop_timeout_ms;
  if (s->notify)
    firec_notify ("STOPPING=1");
}

/* How long poll may sleep: until the current action's wait or the whole
   policy's deadline ends, whichever is first (-1: until something happens). */
static int
poll_timeout (const struct stopping *st)
{
  if (st->killed)
    return KILL_GRACE_MS;
  if (!st->active)
    return -1;
  if (st->step_wait_ms < 0)
    return 0;
  long long now = firec_now_ms ();
  long long wait = st->step_wait_ms - (now - st->step_start);
  if (st->timeout_ms > 0 && st->timeout_ms - (now - st->start) < wait)
    wait = st->timeout_ms - (now - st->start);
  return wait < 0 ? 0 : wait > INT_MAX ? INT_MAX : (int) wait;
}

/* Moves the policy on when its current action's wait (or the whole) is over. */
static void
advance (const struct firec_supervision *s, struct stopping *st, struct firec_vm_end *end)
{
  if (!st->active || st->killed)
    return;
  long long now = firec_now_ms ();
  if (st->timeout_ms > 0 && now - st->start >= st->timeout_ms)
    st->next = s->stop_count; /* out of time: straight to SIGKILL */
  else if (st->step_wait_ms >= 0 && now - st->step_start < st->step_wait_ms)
    return;
  if (st->next >= s->stop_count)
    {
      kill_now (s, st, end);
      return;
    }
  const struct firec_stop_step *step = &s->stop[st->next++];
  cleanup_error firec_error_t action_err = NULL;
  /* An action that cannot be sent (the API already gone) moves on at once. */
  int rc = stop_action (s, step, end, &action_err);
  st->step_start = firec_now_ms ();
  st->step_wait_ms = rc < 0 ? 0 : step->wait_ms;
}

/* A stop request on signal_fd: the first starts the policy, a second kills. */
static void
on_signal (const struct firec_supervision *s, struct stopping *st, struct firec_vm_end *end)
{
  struct signalfd_siginfo si;
  if (read (s->signal_fd, &si, sizeof si) != (ssize_t) sizeof si)
    return;
  if (st->active)
    kill_now (s, st, end);
  else
    begin_stop (s, st, si.ssi_code == SI_QUEUE && si.ssi_int > 0 ? si.ssi_int : 0);
}

/* 1 when the VMM has exited (filling end), 0 when not yet, < 0 on errors. */
static int
check_exit (const struct firec_supervision *s, short revents, struct firec_vm_end *end, firec_error_t *err)
{
  int rc = firec_pidref_wait (s->vmm, 0, &end->wait_status, err);
  if (rc < 0)
    return -1;
  /* A readable pidfd means the process has exited, even when it is not ours to
     reap (a detached VM whose zombie waits for init). */
  if (rc == FIREC_WAIT_TIMEOUT && (revents & POLLIN))
    rc = FIREC_WAIT_GONE;
  return rc == FIREC_WAIT_TIMEOUT ? 0 : 1;
}

/* What the other fds ask for. A detach while the stop policy runs is not
   taken: the VM would be left half stopped. */
static bool
handle_io (const struct firec_supervision *s, struct stopping *st, const struct pollfd *io)
{
  switch (s->on_io (s->data, io))
    {
    case FIREC_SUPERVISE_GO_ON:
      return false;
    case FIREC_SUPERVISE_DETACH:
      return !st->active;
    case FIREC_SUPERVISE_STOP:
      if (!st->active)
        begin_stop (s, st, 0);
      return false;
    }
  return false;
}

int
firec_supervise (const struct firec_supervision *s, struct firec_vm_end *end, firec_error_t *err)
{
  struct stopping st = { .step_wait_ms = -1 };
  *end = (struct firec_vm_end){ .wait_status = -1 };
  if (s->stop_now)
    begin_stop (s, &st, 0);
  for (;;)
    {
      advance (s, &st, end);
      struct pollfd fds[2 + FIREC_SUPERVISE_IO] = {
        { .fd = s->vmm->fd, .events = POLLIN },
        { .fd = s->signal_fd, .events = POLLIN },
      };
      for (size_t i = 0; i < FIREC_SUPERVISE_IO; i++)
        fds[2 + i].fd = -1;
      if (s->io_fds)
        s->io_fds (s->data, fds + 2);
      if (poll (fds, FIREC_N_ELEMENTS (fds), poll_timeout (&st)) < 0 && errno != EINTR)
        return firec_error_set (err, errno, "poll");
      if (s->on_io && handle_io (s, &st, fds + 2))
        {
          end->detached = true;
          return 0;
        }
      if (fds[0].revents)
        {
          int rc = check_exit (s, fds[0].revents, end, err);
          if (rc < 0)
            return -1;
          if (rc > 0)
            {
              if (s->io_finish)
                s->io_finish (s->data);
              end->stopped = st.active;
              return 0;
            }
        }
      if (s->signal_fd >= 0 && fds[1].revents)
        on_signal (s, &st, end);
      if (st.killed && firec_now_ms () - st.killed_at >= KILL_GRACE_MS)
        return firec_error_set (err, 0, "firecracker (pid %ld) did not die within %d s of SIGKILL", (long) s->vmm->pid,
                                KILL_GRACE_MS / 1000);
    }
}

int
firec_vm_end_result (const struct firec_vm_end *end, char **message)
{
  int ws = end->wait_status;
  if (ws != -1 && WIFEXITED (ws) && WEXITSTATUS (ws) != 0)
    {
      *message = firec_xasprintf ("firecracker exited with status %d (%s)", WEXITSTATUS (ws),
                                  firec_firecracker_exit_name (WEXITSTATUS (ws)));
      return 1;
    }
  if (ws != -1 && WIFSIGNALED (ws))
    {
      int sig = WTERMSIG (ws);
      const char *name = sigabbrev_np (sig);
      if (end->stopped && sig == end->signal_sent)
        {
          *message = firec_xasprintf ("firecracker was killed by SIG%s (the stop policy)", name ? name : "?");
          return 0;
        }
      /* Someone else's signal: under systemd's default KillMode=control-group
         the VMM gets the SIGTERM meant for firec-run. */
      *message = firec_xasprintf ("firecracker was killed by SIG%s, not sent by firec-run%s", name ? name : "?",
                                  sig == SIGTERM ? " (under systemd, use KillMode=mixed so that only firec-run gets "
                                                   "SIGTERM and runs the stop policy)"
                                                 : "");
      return 1;
    }
  *message = firec_xstrdup (end->stopped ? "the VM was stopped" : "the VM has ended");
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
