/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "attached.h"
#include "lifecycle.h"
#include "seam.h"
#include "teardown.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* The word the guard waits for: everything is removed, leave. */
#define GUARD_RELEASE 'D'
/* How long the guard waits for an operation on the VM (an rm) to let go. */
#define GUARD_LOCK_TIMEOUT_MS 30000

void
firec_attached_free (struct firec_attached *a)
{
  if (a == NULL)
    return;
  firec_record_free (a->record);
  free (a->helper);
  firec_pidref_done (&a->vmm);
  firec_pidref_done (&a->spawned);
  int fds[] = { a->lock_fd, a->guard_fd, a->console_fd, a->relay.sock };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (fds); i++)
    if (fds[i] >= 0)
      close (fds[i]);
  firec_stderr_tail_free (a->tail);
  firec_state_close (&a->state);
  free (a);
}

/* ------------------------------------------------------------------ the console */

/* The last of the watched fds: the guard's pipe, whose write end reports
   POLLERR (its reader is gone) once the guard has died. */
#define GUARD_SLOT (FIREC_SUPERVISE_IO - 1)

static void
guard_fds (void *data, struct pollfd fds[FIREC_SUPERVISE_IO])
{
  struct firec_attached *a = data;
  fds[GUARD_SLOT] = (struct pollfd){ .fd = a->guard_fd, .events = 0 };
}

/* A guard killed (kill -9, the OOM killer) is started again, at once: the VM
   must still go with its supervisor. Telling the console instead would change
   nothing (nobody there can start a guard; the supervisor has all it takes),
   and a supervisor SIGKILLed later would leave the VM running. Should the new
   one not start, there is nothing better to do than go on without. */
static enum firec_supervise_io
guard_ready (void *data, const struct pollfd fds[FIREC_SUPERVISE_IO])
{
  struct firec_attached *a = data;
  if (a->guard_fd < 0 || fds[GUARD_SLOT].revents == 0)
    return FIREC_SUPERVISE_GO_ON;
  close (a->guard_fd);
  a->guard_fd = -1;
  cleanup_error firec_error_t ignored = NULL;
  if (a->helper)
    firec_guard_start (a->helper, a->state.root, a->record->name, &a->guard_fd, &ignored);
  return FIREC_SUPERVISE_GO_ON;
}

static void
relay_fds (void *data, struct pollfd fds[FIREC_SUPERVISE_IO])
{
  struct firec_attached *a = data;
  firec_console_relay_fds (&a->relay, fds);
  guard_fds (data, fds);
}

static enum firec_supervise_io
relay_ready (void *data, const struct pollfd fds[FIREC_SUPERVISE_IO])
{
  struct firec_attached *a = data;
  guard_ready (data, fds);
  switch (firec_console_relay_ready (&a->relay, fds))
    {
    case FIREC_CONSOLE_DETACH:
      return FIREC_SUPERVISE_DETACH;
    case FIREC_CONSOLE_STOP:
      return FIREC_SUPERVISE_STOP;
    case FIREC_CONSOLE_GO_ON:
    case FIREC_CONSOLE_ENDED: /* a keeper killed: the VM goes on without a console */
      return FIREC_SUPERVISE_GO_ON;
    }
  return FIREC_SUPERVISE_GO_ON;
}

/* The VM has ended: its last words, as the keeper logs them. */
static void
relay_finish (void *data)
{
  struct firec_attached *a = data;
  firec_console_relay_finish (&a->relay, 2000);
}

static void
tail_fds (void *data, struct pollfd fds[FIREC_SUPERVISE_IO])
{
  struct firec_attached *a = data;
  fds[0] = (struct pollfd){ .fd = firec_stderr_tail_fd (a->tail), .events = POLLIN };
  guard_fds (data, fds);
}

static void
tail_drain (void *data)
{
  struct firec_attached *a = data;
  cleanup_error firec_error_t ignored = NULL;
  firec_stderr_tail_drain (a->tail, &ignored);
}

static enum firec_supervise_io
tail_ready (void *data, const struct pollfd fds[FIREC_SUPERVISE_IO])
{
  if (fds[0].revents)
    tail_drain (data);
  return guard_ready (data, fds);
}

/* The terminal's keys go to the guest: stdin when it is our foreground
   terminal (then in raw mode), or not a terminal at all; never a terminal
   we are in the background of. */
bool
firec_attached_console_start (struct firec_attached *a)
{
  if (a->console_fd < 0)
    return a->relay.sock >= 0;
  bool reads = a->has_tty || !isatty (STDIN_FILENO);
  a->relay = (struct firec_console_relay){ .sock = steal_fd (&a->console_fd),
                                           .in_fd = reads ? STDIN_FILENO : -1,
                                           .out_fd = STDOUT_FILENO };
  if (a->has_tty)
    firec_console_raw (STDIN_FILENO, &a->tty);
  return true;
}

static void
console_watch (struct firec_attached *a, struct firec_supervision *s)
{
  s->data = a;
  if (a->relay.sock >= 0)
    {
      s->io_fds = relay_fds;
      s->on_io = relay_ready;
      s->io_finish = relay_finish;
    }
  else if (a->tail)
    {
      s->io_fds = tail_fds;
      s->on_io = tail_ready;
      s->io_finish = tail_drain;
    }
  else
    {
      s->io_fds = guard_fds;
      s->on_io = guard_ready;
    }
}

/* The record as it is now says daemon. Read again, not written from ours:
   since the start, `update` and `apply` may have named new files in it (under
   the state root's lock, as here), which later runs' checks must still see. */
static int
record_detached (struct firec_attached *a, firec_error_t *err)
{
  cleanup_close int dir_fd = -1, claim = -1;
  cleanup_free char *shown = firec_xasprintf ("%s/%s", a->state.root, a->record->name);
  cleanup_record struct firec_record *now = NULL;
  if (firec_state_open_vm_dir (&a->state, a->record->name, &dir_fd, err) < 0)
    return -1;
  if (dir_fd < 0)
    return firec_error_set (err, ENOENT, "the state of %s is gone", shown);
  if (firec_state_lock_root (&a->state, FIREC_STATE_CLAIM_TIMEOUT_MS, &claim, err) < 0
      || firec_record_read (dir_fd, shown, &now, err) < 0)
    return -1;
  if (now == NULL)
    return firec_error_set (err, ENOENT, "%s has no record", shown);
  now->mode = FIREC_RUN_DAEMON;
  if (firec_record_write (dir_fd, shown, now, err) < 0)
    return -1;
  a->record->mode = FIREC_RUN_DAEMON; /* (ours: its strings are still in use by the supervision) */
  return 0;
}

/* Ctrl+] q: from now on the VM is as if started with -d. Its record says so
   first; then the guard and the lock let go of it (the VMM, our child, is
   init's once we exit). */
static int
hand_over (struct firec_attached *a, char **how, firec_error_t *err)
{
  if (record_detached (a, err) < 0)
    return -1;
  firec_seam_signal_at ("detach/recorded"); /* the crash tests: detached in the record, the guard not released */
  firec_guard_release (&a->guard_fd);
  close (a->lock_fd);
  a->lock_fd = -1;
  *how = firec_xstrdup ("runs on, detached");
  a->detached = true;
  return 0;
}

/* Supervises until the VM ends, or until it is handed over as detached. */
static int
supervise (struct firec_attached *a, int signal_fd, struct firec_vm_end *end, char **how, firec_error_t *err)
{
  const struct firec_record *r = a->record;
  struct firec_supervision s = {
    .vmm = &a->vmm,
    .signal_fd = signal_fd,
    .notify = true,
    .stop = r->stop,
    .stop_count = r->stop_count,
    .stop_timeout_ms = r->stop_timeout_ms,
    .vm_root = r->vm_root,
    .api_socket = r->api_socket,
  };
  console_watch (a, &s);
  for (;;)
    {
      int rc = firec_supervise (&s, end, err);
      if (rc < 0 || !end->detached)
        return rc;
      cleanup_error firec_error_t detach_err = NULL;
      if (hand_over (a, how, &detach_err) == 0)
        return 0;
      /* Not detached after all: the program says so, and the supervision
         goes on. */
      if (a->detach_failed)
        a->detach_failed (detach_err);
    }
}

int
firec_attached_run (struct firec_attached *a, int signal_fd, char **how, firec_error_t *err)
{
  const struct firec_record *r = a->record;
  firec_attached_console_start (a);
  struct firec_vm_end end;
  int rc = supervise (a, signal_fd, &end, how, err);
  if (a->has_tty)
    firec_reclaim_terminal (&a->tty);
  if (rc == 0 && end.detached)
    return 0;
  /* The jailer, when it forked Firecracker off, is ours to reap. */
  int status;
  cleanup_error firec_error_t ignored = NULL;
  if (a->spawned.pid != a->vmm.pid)
    firec_pidref_wait (&a->spawned, 1000, &status, &ignored);
  if (rc < 0)
    *how = firec_xstrdup ("supervision failed");
  else
    rc = firec_vm_end_result (&end, how);
  cleanup_error firec_error_t left = NULL;
  if (firec_teardown (&a->state, r, FIREC_TEARDOWN_END, &a->lock_fd, &left) < 0)
    {
      if (err && *err == NULL)
        *err = steal_pointer (&left);
      rc = -1;
    }
  firec_guard_release (&a->guard_fd);
  return rc;
}

/* ------------------------------------------------------------------ handoff */

static void
push (char ***argv, size_t *n, char *s)
{
  *argv = firec_xrealloc (*argv, (*n + 2) * sizeof **argv);
  (*argv)[(*n)++] = s;
  (*argv)[*n] = NULL;
}

/* The fd crosses the exec. */
static int
inherit (int fd)
{
  fcntl (fd, F_SETFD, 0);
  return fd;
}

static char *
tty_text (const struct termios *t)
{
  struct firec_buf b = { 0 };
  firec_buf_printf (&b, "%x,%x,%x,%x,%x,%x,%x,", (unsigned) t->c_iflag, (unsigned) t->c_oflag, (unsigned) t->c_cflag,
                    (unsigned) t->c_lflag, (unsigned) t->c_line, (unsigned) cfgetispeed (t),
                    (unsigned) cfgetospeed (t));
  for (size_t i = 0; i < NCCS; i++)
    firec_buf_printf (&b, "%02x", (unsigned) t->c_cc[i]);
  return firec_buf_steal (&b);
}

static int
tty_parse (const char *s, struct termios *t)
{
  unsigned v[7];
  int used = 0;
  memset (t, 0, sizeof *t);
  if (sscanf (s, "%x,%x,%x,%x,%x,%x,%x,%n", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &used) != 7
      || strlen (s + used) != 2 * NCCS)
    return -1;
  t->c_iflag = v[0];
  t->c_oflag = v[1];
  t->c_cflag = v[2];
  t->c_lflag = v[3];
  t->c_line = (cc_t) v[4];
  cfsetispeed (t, v[5]);
  cfsetospeed (t, v[6]);
  for (size_t i = 0; i < NCCS; i++)
    if (sscanf (s + used + 2 * i, "%2hhx", &t->c_cc[i]) != 1)
      return -1;
  return 0;
}

char **
firec_attached_to_argv (const struct firec_attached *a, const char *helper)
{
  char **argv = NULL;
  size_t n = 0;
  push (&argv, &n, firec_xstrdup (helper));
  push (&argv, &n, firec_xstrdup ("--state-root"));
  push (&argv, &n, firec_xstrdup (a->state.root));
  push (&argv, &n, firec_xstrdup ("--name"));
  push (&argv, &n, firec_xstrdup (a->record->name));
  push (&argv, &n, firec_xstrdup ("--vmm"));
  push (&argv, &n, firec_xasprintf ("%ld:%d", (long) a->vmm.pid, inherit (a->vmm.fd)));
  if (firec_pidref_is_set (&a->spawned) && a->spawned.pid != a->vmm.pid)
    {
      push (&argv, &n, firec_xstrdup ("--spawned"));
      push (&argv, &n, firec_xasprintf ("%ld:%d", (long) a->spawned.pid, inherit (a->spawned.fd)));
    }
  static const char *const fd_options[] = { "--lock-fd", "--guard-fd", "--console-fd" };
  const int fds[] = { a->lock_fd, a->guard_fd, a->console_fd };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (fds); i++)
    if (fds[i] >= 0)
      {
        push (&argv, &n, firec_xstrdup (fd_options[i]));
        push (&argv, &n, firec_xasprintf ("%d", inherit (fds[i])));
      }
  if (a->has_tty)
    {
      push (&argv, &n, firec_xstrdup ("--tty"));
      push (&argv, &n, tty_text (&a->tty));
    }
  return argv;
}

static int
parse_fd (const char *s, int *fd)
{
  char *end;
  long v = strtol (s, &end, 10);
  if (*end || v < 0 || v > INT_MAX)
    return -1;
  *fd = (int) v;
  fcntl (*fd, F_SETFD, FD_CLOEXEC); /* ours again */
  return 0;
}

/* "PID:FD" */
static int
parse_process (const char *s, struct firec_pidref *ref, firec_error_t *err)
{
  char *end;
  long pid = strtol (s, &end, 10);
  int fd;
  if (*end != ':' || pid <= 0 || parse_fd (end + 1, &fd) < 0)
    return firec_error_set (err, EINVAL, "bad process \"%s\"", s);
  return firec_pidref_adopt ((pid_t) pid, fd, ref, err);
}

static int
parse_option (struct firec_attached *a, int c, const char *arg, const char **root, const char **name,
              firec_error_t *err)
{
  switch (c)
    {
    case 'r':
      *root = arg;
      return 0;
    case 'n':
      *name = arg;
      return 0;
    case 'v':
      return parse_process (arg, &a->vmm, err);
    case 's':
      return parse_process (arg, &a->spawned, err);
    case 'l':
      return parse_fd (arg, &a->lock_fd) < 0 ? firec_error_set (err, EINVAL, "bad --lock-fd") : 0;
    case 'g':
      return parse_fd (arg, &a->guard_fd) < 0 ? firec_error_set (err, EINVAL, "bad --guard-fd") : 0;
    case 'c':
      return parse_fd (arg, &a->console_fd) < 0 ? firec_error_set (err, EINVAL, "bad --console-fd") : 0;
    case 't':
      a->has_tty = tty_parse (arg, &a->tty) == 0;
      return 0;
    default:
      return firec_error_set (err, EINVAL, "unknown handoff option");
    }
}

int
firec_attached_from_argv (int argc, char **argv, struct firec_attached **ret, firec_error_t *err)
{
  static const struct option options[] = {
    { "state-root", required_argument, NULL, 'r' },
    { "name", required_argument, NULL, 'n' },
    { "vmm", required_argument, NULL, 'v' },
    { "spawned", required_argument, NULL, 's' },
    { "lock-fd", required_argument, NULL, 'l' },
    { "guard-fd", required_argument, NULL, 'g' },
    { "console-fd", required_argument, NULL, 'c' },
    { "tty", required_argument, NULL, 't' },
    { NULL, 0, NULL, 0 },
  };
  struct firec_attached *a = firec_xcalloc (1, sizeof *a);
  a->state = (struct firec_state) FIREC_STATE_INIT;
  a->vmm = a->spawned = (struct firec_pidref) FIREC_PIDREF_NULL;
  a->lock_fd = a->guard_fd = a->console_fd = -1;
  a->relay.sock = -1;
  a->helper = firec_xstrdup (argv[0]);
  const char *root = NULL, *name = NULL;
  int c, rc = 0;
  optind = 1;
  while (rc == 0 && (c = getopt_long (argc, argv, "", options, NULL)) != -1)
    rc = parse_option (a, c, optarg, &root, &name, err);
  cleanup_close int dir_fd = -1;
  if (rc == 0 && (root == NULL || name == NULL || !firec_pidref_is_set (&a->vmm)))
    rc = firec_error_set (err, EINVAL, "the handoff lacks --state-root, --name or --vmm");
  if (rc == 0)
    rc = firec_state_open_path (root, false, &a->state, err);
  if (rc == 0)
    rc = firec_state_open_vm_dir (&a->state, name, &dir_fd, err);
  if (rc == 0)
    {
      cleanup_free char *shown = firec_xasprintf ("%s/%s", root, name);
      rc = firec_record_read (dir_fd, shown, &a->record, err);
      if (rc == 0 && a->record == NULL)
        rc = firec_error_set (err, ENOENT, "%s has no record", shown);
    }
  if (rc < 0)
    {
      firec_attached_free (a);
      return -1;
    }
  *ret = a;
  return 0;
}

/* ------------------------------------------------------------------ the guard */

int
firec_guard_start (const char *helper, const char *state_root, const char *name, int *write_fd, firec_error_t *err)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return firec_error_set (err, errno, "cannot make the guard's pipe");
  cleanup_free char *fd_text = firec_xasprintf ("%d", p[0]);
  const char *argv[] = { helper, "--guard", fd_text, "--state-root", state_root, "--name", name, NULL };
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  opts.argv = argv;
  opts.envp = (const char *const *) environ;
  opts.stdin_fd = FIREC_SPAWN_FD_DEVNULL;
  opts.stdout_fd = FIREC_SPAWN_FD_DEVNULL;
  opts.keep_fds = &p[0];
  opts.n_keep_fds = 1;
  pid_t pid;
  int rc = firec_spawn (&opts, &pid, NULL, err);
  close (p[0]);
  if (rc < 0)
    {
      close (p[1]);
      return -1;
    }
  *write_fd = p[1];
  return 0;
}

void
firec_guard_release (int *write_fd)
{
  if (*write_fd < 0)
    return;
  char word = GUARD_RELEASE;
  if (write (*write_fd, &word, 1) < 0)
    {
      /* The guard is gone already: nothing waits for the word. */
    }
  close (*write_fd);
  *write_fd = -1;
}

int
firec_guard_run (int read_fd, const char *state_root, const char *name, firec_error_t *err)
{
  char word = 0;
  ssize_t n;
  do
    n = read (read_fd, &word, 1);
  while (n < 0 && errno == EINTR);
  if (n == 1 && word == GUARD_RELEASE)
    return 0;
  /* The run (or its supervisor) is gone without saying it was done: the VM
     must not outlive it. Its lock went with it. (The guard is a process of
     its own: the state root it was given is its whole environment's.) */
  setenv ("FIREC_STATE_DIR", state_root, 1);
  int lock = -1;
  if (firec_vm_lock (name, GUARD_LOCK_TIMEOUT_MS, &lock, err) < 0)
    return -1;
  /* Read under the lock: a supervisor killed between writing that the VM
     runs on detached and releasing its guard (hand_over) leaves a VM that is
     no longer its to end. */
  struct firec_vm_info info;
  int rc = firec_vm_inspect (name, &info, err);
  if (rc == 0)
    {
      if (info.record == NULL || info.record->mode != FIREC_RUN_DAEMON)
        {
          const struct firec_vm_lock how = { .held_fd = lock, .timeout_ms = 0 };
          bool removed;
          rc = firec_vm_remove (&info, true, NULL, &how, -1, &removed, err);
        }
      firec_vm_info_release (&info);
    }
  firec_vm_unlock (name, lock);
  return rc;
}
