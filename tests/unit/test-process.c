/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for process.c: spawn, fd allow-list, signals, pidfds, reaping, pid files,
   start times and the stderr tail. The test binary doubles as the child in a few
   helper modes (argv[1] = --list-fds, --stdio, --env, --spew, --sleep-ms). */
#include "config.h"

#include "process.h"
#include "util.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char self_exe[PATH_MAX];
static char tmpdir[] = "/tmp/firec-test-process-XXXXXX";

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms (long ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* ------------------------------------------------------------------ helper modes */

static int
helper_list_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  if (d == NULL)
    return 2;
  int own = dirfd (d);
  int fds[256];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir (d)) != NULL && n < FIREC_N_ELEMENTS (fds))
    {
      if (e->d_name[0] == '.')
        continue;
      int fd = atoi (e->d_name);
      if (fd != own)
        fds[n++] = fd;
    }
  closedir (d);
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (fds[j] < fds[i])
        {
          int t = fds[i];
          fds[i] = fds[j];
          fds[j] = t;
        }
  for (size_t i = 0; i < n; i++)
    printf ("%s%d", i ? " " : "", fds[i]);
  return 0;
}

static int
helper_env (void)
{
  for (char **e = environ; *e; e++)
    printf ("%s;", *e);
  return 0;
}

static int
helper_spew (int lines, int line_len)
{
  for (int i = 1; i <= lines; i++)
    {
      char pad[256];
      int n = line_len > 0 && line_len < (int) sizeof pad ? line_len : 0;
      memset (pad, 'x', (size_t) n);
      pad[n] = '\0';
      fprintf (stderr, "line %d%s%s\n", i, n ? " " : "", pad);
    }
  fprintf (stderr, "tail-end");
  return 0;
}

static int
run_helper (int argc, char **argv)
{
  const char *mode = argv[1];
  if (strcmp (mode, "--list-fds") == 0)
    return helper_list_fds ();
  if (strcmp (mode, "--stdio") == 0)
    {
      if (write (1, "out", 3) != 3 || write (2, "err", 3) != 3)
        return 3;
      return 0;
    }
  if (strcmp (mode, "--env") == 0)
    return helper_env ();
  if (strcmp (mode, "--spew") == 0 && argc >= 4)
    return helper_spew (atoi (argv[2]), atoi (argv[3]));
  if (strcmp (mode, "--sleep-ms") == 0 && argc >= 3)
    {
      sleep_ms (atol (argv[2]));
      return argc >= 4 ? atoi (argv[3]) : 0;
    }
  return 99;
}

/* ------------------------------------------------------------------ helpers */

static int
count_open_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  int n = 0;
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir (d);
  return n - 1;
}

/* Spawns opts with stdout into a pipe and returns what the child wrote; *status its exit. */
static char *
spawn_capture (struct firec_spawn_opts *opts, int *status)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    abort ();
  opts->stdout_fd = p[1];
  pid_t pid;
  int pidfd;
  firec_error_t err = NULL;
  int r = firec_spawn (opts, &pid, &pidfd, &err);
  close (p[1]);
  if (r < 0)
    {
      printf ("# spawn failed: %s\n", err->message);
      firec_error_release (&err);
      close (p[0]);
      *status = -1;
      return firec_xstrdup ("");
    }
  char *out = NULL;
  size_t len;
  if (firec_read_fd (p[0], 1 << 20, &out, &len) < 0)
    out = firec_xstrdup ("");
  close (p[0]);
  firec_process_wait (pid, pidfd, -1, status, &err);
  firec_error_release (&err);
  close (pidfd);
  return out;
}

static int
spawn_and_wait (const char *const *argv, firec_error_t *err)
{
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  opts.argv = argv;
  pid_t pid;
  int pidfd;
  if (firec_spawn (&opts, &pid, &pidfd, err) < 0)
    return -1;
  int status;
  int r = firec_process_wait (pid, pidfd, 5000, &status, err);
  close (pidfd);
  if (r != FIREC_WAIT_EXITED)
    return -1;
  return status;
}

/* ------------------------------------------------------------------ tests */

static void
test_exit_statuses (void)
{
  firec_error_t err = NULL;
  const char *t[] = { "/bin/true", NULL };
  int st = spawn_and_wait (t, &err);
  tap_ok (st >= 0 && WIFEXITED (st) && WEXITSTATUS (st) == 0, "/bin/true exits 0");
  const char *f[] = { "/bin/false", NULL };
  st = spawn_and_wait (f, &err);
  tap_ok (st >= 0 && WIFEXITED (st) && WEXITSTATUS (st) == 1, "/bin/false exits 1");
  const char *code[] = { self_exe, "--sleep-ms", "0", "42", NULL };
  st = spawn_and_wait (code, &err);
  tap_ok (st >= 0 && WIFEXITED (st) && WEXITSTATUS (st) == 42, "helper exits 42");
  firec_error_release (&err);
}

static void
test_exec_failures (void)
{
  int fds_before = count_open_fds ();
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *missing[] = { "/nonexistent/firecracker", "--version", NULL };
  opts.argv = missing;
  pid_t pid = 0;
  int pidfd = 0;
  firec_error_t err = NULL;
  int r = firec_spawn (&opts, &pid, &pidfd, &err);
  tap_ok (r < 0 && pid == -1 && pidfd == -1, "missing binary: firec_spawn fails");
  TAP_STR_EQ (err ? err->message : NULL, "cannot execute /nonexistent/firecracker: No such file or directory",
              "missing binary: error text");
  tap_ok (err && err->errno_value == ENOENT, "missing binary: errno ENOENT");
  firec_error_release (&err);
  tap_ok (waitpid (-1, NULL, WNOHANG) < 0 && errno == ECHILD, "missing binary: the failed child was reaped");

  const char *relative[] = { "bin/true", NULL };
  opts.argv = relative;
  r = firec_spawn (&opts, &pid, NULL, &err);
  TAP_STR_EQ (err ? err->message : NULL, "cannot execute bin/true: not an absolute path",
              "relative argv[0] is refused");
  firec_error_release (&err);

  const char *noexec[] = { "/etc/passwd", NULL };
  opts.argv = noexec;
  r = firec_spawn (&opts, &pid, NULL, &err);
  TAP_STR_EQ (err ? err->message : NULL, "cannot execute /etc/passwd: Permission denied",
              "non-executable file: EACCES");
  firec_error_release (&err);

  const char *t[] = { "/bin/true", NULL };
  opts.argv = t;
  opts.cwd = "/nonexistent-dir";
  r = firec_spawn (&opts, &pid, NULL, &err);
  TAP_STR_EQ (err ? err->message : NULL,
              "cannot execute /bin/true: cannot change to directory /nonexistent-dir: No such file or directory",
              "chdir failure is reported");
  firec_error_release (&err);
  opts.cwd = NULL;

  int keep[] = { 250 };
  opts.keep_fds = keep;
  opts.n_keep_fds = 1;
  r = firec_spawn (&opts, &pid, NULL, &err);
  tap_ok (r < 0 && err && err->errno_value == EBADF, "a closed fd in the allow-list is refused: %s",
          err ? err->message : "");
  firec_error_release (&err);
  (void) r;
  tap_ok (count_open_fds () == fds_before, "no fd leaked by failed spawns (%d before, %d after)", fds_before,
          count_open_fds ());
}

static void
test_fd_allow_list (void)
{
  int devnull = open ("/dev/null", O_RDONLY | O_CLOEXEC);
  /* 20: inherited without CLOEXEC and not allowed; 30: CLOEXEC and allowed. */
  dup2 (devnull, 20);
  dup3 (devnull, 30, O_CLOEXEC);
  dup3 (devnull, 31, O_CLOEXEC);
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { self_exe, "--list-fds", NULL };
  opts.argv = argv;
  int keep[] = { 31, 30, 31 };
  opts.keep_fds = keep;
  opts.n_keep_fds = FIREC_N_ELEMENTS (keep);
  int status;
  cleanup_free char *out = spawn_capture (&opts, &status);
  TAP_STR_EQ (out, "0 1 2 30 31", "the child sees exactly stdio and the allowed fds");
  tap_ok (fcntl (30, F_GETFD) == FD_CLOEXEC, "the parent's kept fd is still CLOEXEC");

  opts.keep_fds = NULL;
  opts.n_keep_fds = 0;
  opts.stdin_fd = FIREC_SPAWN_FD_DEVNULL;
  opts.stderr_fd = FIREC_SPAWN_FD_DEVNULL;
  free (out);
  out = spawn_capture (&opts, &status);
  TAP_STR_EQ (out, "0 1 2", "no allow-list: only stdio");
  close (20);
  close (30);
  close (31);
  close (devnull);
}

static void
test_stdio_swap (void)
{
  /* stdout and stderr given crosswise as the parent's own 2 and 1: parking them before
     dup2 keeps one from clobbering the other. */
  int a[2], b[2];
  if (pipe2 (a, O_CLOEXEC) < 0 || pipe2 (b, O_CLOEXEC) < 0)
    abort ();
  int saved1 = fcntl (1, F_DUPFD_CLOEXEC, 3), saved2 = fcntl (2, F_DUPFD_CLOEXEC, 3);
  fflush (stdout);
  dup2 (a[1], 1);
  dup2 (b[1], 2);
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { self_exe, "--stdio", NULL };
  opts.argv = argv;
  opts.stdout_fd = 2;
  opts.stderr_fd = 1;
  pid_t pid;
  int pidfd;
  firec_error_t err = NULL;
  int r = firec_spawn (&opts, &pid, &pidfd, &err);
  dup2 (saved1, 1);
  dup2 (saved2, 2);
  close (saved1);
  close (saved2);
  close (a[1]);
  close (b[1]);
  int status = -1;
  if (r == 0)
    {
      firec_process_wait (pid, pidfd, -1, &status, &err);
      close (pidfd);
    }
  char got_a[8] = "", got_b[8] = "";
  ssize_t na = read (a[0], got_a, sizeof got_a - 1), nb = read (b[0], got_b, sizeof got_b - 1);
  got_a[na > 0 ? na : 0] = '\0';
  got_b[nb > 0 ? nb : 0] = '\0';
  tap_ok (r == 0 && status == 0, "stdio swap: spawned and exited 0");
  TAP_STR_EQ (got_a, "err", "stdio swap: stderr went to the parent's fd 1");
  TAP_STR_EQ (got_b, "out", "stdio swap: stdout went to the parent's fd 2");
  close (a[0]);
  close (b[0]);
  firec_error_release (&err);
}

static void
test_env (void)
{
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { self_exe, "--env", NULL };
  const char *envp[] = { "FOO=bar", "X=1", NULL };
  opts.argv = argv;
  opts.envp = envp;
  int status;
  cleanup_free char *out = spawn_capture (&opts, &status);
  TAP_STR_EQ (out, "FOO=bar;X=1;", "the child gets exactly the given environment");
  opts.envp = NULL;
  free (out);
  out = spawn_capture (&opts, &status);
  TAP_STR_EQ (out, "", "envp NULL: an empty environment");
}

static void
on_term (int sig)
{
  (void) sig;
}

static char *
status_field (const char *status_text, const char *name)
{
  const char *p = strstr (status_text, name);
  if (p == NULL)
    return firec_xstrdup ("(missing)");
  p += strlen (name);
  while (*p == '\t' || *p == ' ')
    p++;
  return firec_xstrndup (p, strcspn (p, "\n"));
}

static void
test_signals_reset (void)
{
  sigset_t block, saved;
  sigemptyset (&block);
  sigaddset (&block, SIGUSR1);
  sigaddset (&block, SIGTERM);
  sigprocmask (SIG_BLOCK, &block, &saved);
  struct sigaction ign = { .sa_handler = SIG_IGN }, handler = { .sa_handler = on_term }, old_usr2, old_term, old_pipe;
  sigaction (SIGUSR2, &ign, &old_usr2);
  sigaction (SIGPIPE, &ign, &old_pipe);
  sigaction (SIGTERM, &handler, &old_term);
#if defined(__x86_64__) || defined(__aarch64__)
  /* glibc's reserved signal 33 (SIGSETXID), ignored behind glibc's back: sigaction (2)
     cannot reset it, an ignored disposition survives execve. Kernel layout: handler,
     flags, restorer, mask. */
  unsigned long kign[4] = { (unsigned long) SIG_IGN, 0, 0, 0 }, kold[4] = { 0 };
  syscall (SYS_rt_sigaction, 33, kign, kold, (size_t) 8);
#endif

  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { "/bin/cat", "/proc/self/status", NULL };
  opts.argv = argv;
  int status;
  cleanup_free char *out = spawn_capture (&opts, &status);

  sigprocmask (SIG_SETMASK, &saved, NULL);
  sigaction (SIGUSR2, &old_usr2, NULL);
  sigaction (SIGPIPE, &old_pipe, NULL);
  sigaction (SIGTERM, &old_term, NULL);
#if defined(__x86_64__) || defined(__aarch64__)
  syscall (SYS_rt_sigaction, 33, kold, NULL, (size_t) 8);
#endif

  cleanup_free char *blk = status_field (out, "SigBlk:");
  cleanup_free char *ignored = status_field (out, "SigIgn:");
  TAP_STR_EQ (blk, "0000000000000000", "the child's signal mask is empty (parent blocked USR1, TERM)");
  TAP_STR_EQ (ignored, "0000000000000000", "the child ignores no signal (parent ignored USR2, PIPE, 33)");
}

/* Field 5 of /proc/PID/stat (pgrp), parsed after the last ')'. */
static long
stat_field (const char *stat_text, int field)
{
  const char *p = strrchr (stat_text, ')');
  if (p == NULL)
    return -1;
  p++;
  for (int i = 3; i < field; i++)
    {
      while (*p == ' ')
        p++;
      while (*p && *p != ' ')
        p++;
    }
  return strtol (p, NULL, 10);
}

static void
test_process_group (void)
{
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { "/bin/cat", "/proc/self/stat", NULL };
  opts.argv = argv;
  int status;
  cleanup_free char *out = spawn_capture (&opts, &status);
  long pid = strtol (out, NULL, 10);
  tap_ok (pid > 0 && stat_field (out, 5) == pid, "the child leads its own process group (pgrp %ld, pid %ld)",
          stat_field (out, 5), pid);
  opts.keep_process_group = true;
  free (out);
  out = spawn_capture (&opts, &status);
  tap_ok (stat_field (out, 5) == (long) getpgrp (), "keep_process_group: the child stays in ours");
}

static void
test_kill_and_reap (void)
{
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { "/bin/sleep", "1000", NULL };
  opts.argv = argv;
  pid_t pid;
  int pidfd;
  firec_error_t err = NULL;
  tap_ok (firec_spawn (&opts, &pid, &pidfd, &err) == 0 && pidfd >= 0, "spawned /bin/sleep with a pidfd");
  tap_ok (fcntl (pidfd, F_GETFD) == FD_CLOEXEC, "the pidfd is CLOEXEC");
  int status = 0;
  long long t0 = now_ms ();
  int r = firec_process_wait (pid, pidfd, 150, &status, &err);
  long long dt = now_ms () - t0;
  tap_ok (r == FIREC_WAIT_TIMEOUT && status == -1 && dt >= 140 && dt < 1000,
          "wait with a timeout on a running process: FIREC_WAIT_TIMEOUT after %lld ms", dt);
  tap_ok (firec_process_wait (pid, pidfd, 0, &status, &err) == FIREC_WAIT_TIMEOUT, "timeout 0 only checks");
  int peek_status;
  tap_ok (firec_process_peek_exit (pid, pidfd, &peek_status, &err) == 0, "peek: still running");
  tap_ok (firec_pidfd_send_signal (pidfd, SIGKILL, &err) == 0, "SIGKILL through the pidfd");
  r = firec_process_wait (pid, pidfd, -1, &status, &err);
  tap_ok (r == FIREC_WAIT_EXITED && WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL, "reaped: killed by SIGKILL");
  cleanup_free char *how = firec_describe_wait_status (status);
  TAP_STR_EQ (how, "was killed by signal 9 (SIGKILL)", "wait status described");
  tap_ok (firec_pidfd_send_signal (pidfd, SIGKILL, &err) == 1, "signal after the reap: 1 (gone)");
  tap_ok (waitpid (pid, NULL, WNOHANG) < 0 && errno == ECHILD, "nothing left to reap");
  tap_ok (err == NULL, "no error along the way%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  close (pidfd);
}

static void
test_wait_pid_only_and_peek (void)
{
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { self_exe, "--sleep-ms", "50", "7", NULL };
  opts.argv = argv;
  pid_t pid;
  firec_error_t err = NULL;
  firec_spawn (&opts, &pid, NULL, &err);
  int status = 0;
  int r = firec_process_wait (pid, -1, 5000, &status, &err);
  tap_ok (r == FIREC_WAIT_EXITED && WIFEXITED (status) && WEXITSTATUS (status) == 7,
          "wait by pid only (no pidfd given): exit 7");

  int pidfd;
  firec_spawn (&opts, &pid, &pidfd, &err);
  int peek = 0, peek_status = -1;
  long long t0 = now_ms ();
  while ((peek = firec_process_peek_exit (pid, pidfd, &peek_status, &err)) == 0 && now_ms () - t0 < 5000)
    {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      poll (&p, 1, 1000);
    }
  tap_ok (peek == 1 && WIFEXITED (peek_status) && WEXITSTATUS (peek_status) == 7, "peek sees exit 7");
  r = firec_process_wait (pid, pidfd, 1000, &status, &err);
  tap_ok (r == FIREC_WAIT_EXITED && WEXITSTATUS (status) == 7, "peek did not reap: wait still gets exit 7");
  close (pidfd);

  r = firec_process_wait (pid, -1, 0, &status, &err);
  tap_ok (r == FIREC_WAIT_GONE, "waiting again for a reaped pid: gone");
  tap_ok (err == NULL, "no error along the way%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
}

static void
test_non_child (void)
{
  /* A grandchild, reaped by its own parent (as firecracker is by nobody we know): we can
     only learn that it is gone. */
  int p[2], go[2];
  if (pipe2 (p, O_CLOEXEC) < 0 || pipe2 (go, O_CLOEXEC) < 0)
    abort ();
  pid_t mid = fork ();
  if (mid == 0)
    {
      close (go[1]);
      close (p[0]);
      pid_t g = fork ();
      if (g == 0)
        {
          char c;
          if (read (go[0], &c, 1) < 0)
            _exit (1);
          _exit (5);
        }
      if (write (p[1], &g, sizeof g) != sizeof g)
        _exit (1);
      int st;
      waitpid (g, &st, 0);
      _exit (0);
    }
  close (p[1]);
  close (go[0]);
  pid_t g = -1;
  if (read (p[0], &g, sizeof g) != sizeof g)
    g = -1;
  firec_error_t err = NULL;
  int pidfd = -1;
  tap_ok (firec_pidfd_open (g, &pidfd, &err) == 0, "pidfd for a process that is not our child");
  int status = 0;
  tap_ok (firec_process_wait (g, pidfd, 50, &status, &err) == FIREC_WAIT_TIMEOUT, "non-child still running");
  close (go[1]);
  int r = firec_process_wait (g, pidfd, 5000, &status, &err);
  tap_ok (r == FIREC_WAIT_GONE && status == -1, "non-child exit: FIREC_WAIT_GONE, status unknown");
  int st;
  waitpid (mid, &st, 0);
  tap_ok (WIFEXITED (st) && WEXITSTATUS (st) == 0, "its parent reaped it itself (exit 5 was not stolen)");
  tap_ok (err == NULL, "no error along the way%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  close (pidfd);
  close (p[0]);

  r = firec_pidfd_open (g, &pidfd, &err);
  tap_ok (r < 0 && err && err->errno_value == ESRCH && pidfd == -1, "pidfd_open of a gone pid: ESRCH");
  firec_error_release (&err);
}

static void
test_die_with_parent (void)
{
  int p[2], go[2];
  if (pipe2 (p, O_CLOEXEC) < 0 || pipe2 (go, O_CLOEXEC) < 0)
    abort ();
  pid_t mid = fork ();
  if (mid == 0)
    {
      close (go[1]);
      close (p[0]);
      struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
      const char *argv[] = { "/bin/sleep", "1000", NULL };
      opts.argv = argv;
      opts.die_with_parent = true;
      pid_t pid = -1;
      firec_error_t err = NULL;
      firec_spawn (&opts, &pid, NULL, &err);
      if (write (p[1], &pid, sizeof pid) != sizeof pid)
        _exit (1);
      char c;
      if (read (go[0], &c, 1) < 0)
        _exit (1);
      _exit (0); /* without reaping: the sleep's parent dies */
    }
  close (p[1]);
  close (go[0]);
  pid_t sleeper = -1;
  if (read (p[0], &sleeper, sizeof sleeper) != sizeof sleeper)
    sleeper = -1;
  close (p[0]);
  firec_error_t err = NULL;
  int pidfd = -1;
  firec_pidfd_open (sleeper, &pidfd, &err);
  close (go[1]);
  int st;
  waitpid (mid, &st, 0);
  int status;
  long long t0 = now_ms ();
  int r = firec_process_wait (sleeper, pidfd, 5000, &status, &err);
  long long dt = now_ms () - t0;
  tap_ok (sleeper > 0 && r == FIREC_WAIT_GONE && dt < 2000, "die_with_parent: the child died with its parent (%lld ms)",
          dt);
  tap_ok (err == NULL, "no error along the way%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  close (pidfd);
}

static int
open_tmp_subdir (const char *name, bool o_path)
{
  cleanup_free char *path = firec_xasprintf ("%s/%s", tmpdir, name);
  mkdir (path, 0755);
  return open (path, (o_path ? O_PATH : O_RDONLY) | O_DIRECTORY | O_CLOEXEC);
}

static void
test_pid_file (void)
{
  int dirfd = open_tmp_subdir ("pidfile", true);
  firec_error_t err = NULL;

  /* Created empty first (as with O_EXCL), the number written 150 ms later. */
  pid_t writer = fork ();
  if (writer == 0)
    {
      sleep_ms (100);
      int fd = openat (dirfd, "firecracker.pid", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      sleep_ms (150);
      if (fd < 0 || write (fd, "12345", 5) != 5)
        _exit (1);
      _exit (0);
    }
  pid_t pid = 0;
  long long t0 = now_ms ();
  int r = firec_read_pid_file (dirfd, "firecracker.pid", 5000, &pid, &err);
  long long dt = now_ms () - t0;
  tap_ok (r == 0 && pid == 12345, "pid file with a delayed, two-step writer: %d", (int) pid);
  tap_ok (dt >= 240 && dt < 2000, "... read once written (%lld ms)", dt);
  if (err)
    printf ("# %s\n", err->message);
  firec_error_release (&err);
  waitpid (writer, NULL, 0);

  t0 = now_ms ();
  r = firec_read_pid_file (dirfd, "missing.pid", 200, &pid, &err);
  dt = now_ms () - t0;
  tap_ok (r < 0 && pid == -1 && dt >= 190 && dt < 1500, "missing pid file: fails after the timeout (%lld ms)", dt);
  TAP_STR_EQ (err ? err->message : NULL, "pid file missing.pid did not appear within 200 ms", "... message");
  firec_error_release (&err);

  if (symlinkat ("firecracker.pid", dirfd, "link.pid") < 0)
    abort ();
  t0 = now_ms ();
  r = firec_read_pid_file (dirfd, "link.pid", 5000, &pid, &err);
  tap_ok (r < 0 && err && err->errno_value == ELOOP && now_ms () - t0 < 1000,
          "a symlinked pid file is refused at once: %s", err ? err->message : "");
  firec_error_release (&err);

  int fd = openat (dirfd, "garbage.pid", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || write (fd, "12ab", 4) != 4)
    abort ();
  close (fd);
  r = firec_read_pid_file (dirfd, "garbage.pid", 5000, &pid, &err);
  TAP_STR_EQ (err ? err->message : NULL, "pid file garbage.pid holds \"12ab\", not a pid", "garbage in the pid file");
  firec_error_release (&err);

  fd = openat (dirfd, "newline.pid", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || write (fd, "777\n", 4) != 4)
    abort ();
  close (fd);
  r = firec_read_pid_file (dirfd, "newline.pid", 0, &pid, &err);
  tap_ok (r == 0 && pid == 777, "a trailing newline is tolerated");
  firec_error_release (&err);

  /* A writer (the jailer) that fails: no need to wait for the timeout. */
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { self_exe, "--sleep-ms", "100", "1", NULL };
  opts.argv = argv;
  pid_t jailer;
  int jailer_pidfd;
  firec_spawn (&opts, &jailer, &jailer_pidfd, &err);
  t0 = now_ms ();
  r = firec_read_pid_file_watch (dirfd, "never.pid", 5000, jailer_pidfd, -1, &pid, &err);
  dt = now_ms () - t0;
  tap_ok (r < 0 && dt < 1500, "writer exits 1 without a pid file: fails fast (%lld ms)", dt);
  TAP_STR_EQ (err ? err->message : NULL, "the jailer exited with status 1 before writing its pid file never.pid",
              "... message");
  firec_error_release (&err);
  int status;
  firec_process_wait (jailer, jailer_pidfd, -1, &status, &err);
  tap_ok (WIFEXITED (status) && WEXITSTATUS (status) == 1, "... and the writer was left for us to reap");
  close (jailer_pidfd);

  /* A writer that exits 0 (a daemonizing jailer) before the file shows up is not a failure. */
  const char *argv0[] = { self_exe, "--sleep-ms", "0", "0", NULL };
  opts.argv = argv0;
  firec_spawn (&opts, &jailer, &jailer_pidfd, &err);
  pid_t late_writer = fork ();
  if (late_writer == 0)
    {
      sleep_ms (200);
      int wfd = openat (dirfd, "late.pid", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (wfd < 0 || write (wfd, "4242", 4) != 4)
        _exit (1);
      _exit (0);
    }
  r = firec_read_pid_file_watch (dirfd, "late.pid", 5000, jailer_pidfd, -1, &pid, &err);
  tap_ok (r == 0 && pid == 4242, "writer exited 0 first, the file came later: read it");
  firec_error_release (&err);
  waitpid (late_writer, NULL, 0);
  firec_process_wait (jailer, jailer_pidfd, -1, &status, &err);
  close (jailer_pidfd);
  firec_error_release (&err);
  close (dirfd);
}

static void
test_start_time (void)
{
  firec_error_t err = NULL;
  unsigned long long self = 0, again = 0, other = 0;
  int r = firec_process_start_time (getpid (), &self, &err);
  tap_ok (r == 0 && self > 0, "start time of self: %llu", self);
  firec_process_start_time (getpid (), &again, &err);
  tap_ok (again == self, "stable across reads");

  /* A command name with spaces and parentheses: parsing starts after the last ')'. */
  cleanup_free char *link = firec_xasprintf ("%s/a) b (c", tmpdir);
  if (symlink ("/bin/sleep", link) < 0)
    abort ();
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { link, "1000", NULL };
  opts.argv = argv;
  pid_t pid;
  int pidfd;
  tap_ok (firec_spawn (&opts, &pid, &pidfd, &err) == 0, "spawned sleep as \"a) b (c\"");
  char path[64];
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  cleanup_free char *stat_text = NULL;
  size_t len;
  firec_read_file (path, 4096, &stat_text, &len);
  r = firec_process_start_time (pid, &other, &err);
  tap_ok (r == 0 && other >= self && (long long) other == stat_field (stat_text, 22),
          "start time of another process: %llu >= %llu (comm \"a) b (c\")", other, self);
  firec_pidfd_send_signal (pidfd, SIGKILL, &err);
  int status;
  firec_process_wait (pid, pidfd, -1, &status, &err);
  close (pidfd);
  r = firec_process_start_time (pid, &other, &err);
  tap_ok (r < 0 && err && err->errno_value == ESRCH, "start time of a gone process: %s", err ? err->message : "");
  firec_error_release (&err);
}

static void
test_stderr_tail (void)
{
  firec_error_t err = NULL;
  int tee[2];
  if (pipe2 (tee, O_CLOEXEC | O_NONBLOCK) < 0)
    abort ();
  struct firec_stderr_tail *tail = NULL;
  int child_fd = -1;
  tap_ok (firec_stderr_tail_open (tee[1], &tail, &child_fd, &err) == 0 && child_fd >= 0, "stderr tail opened");

  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  const char *argv[] = { self_exe, "--spew", "100", "0", NULL };
  opts.argv = argv;
  opts.stderr_fd = child_fd;
  pid_t pid;
  int pidfd;
  firec_spawn (&opts, &pid, &pidfd, &err);
  close (child_fd);
  int eof = 0;
  long long t0 = now_ms ();
  while (eof == 0 && now_ms () - t0 < 5000)
    {
      struct pollfd p = { .fd = firec_stderr_tail_fd (tail), .events = POLLIN };
      poll (&p, 1, 1000);
      eof = firec_stderr_tail_drain (tail, &err);
    }
  tap_ok (eof == 1 && firec_stderr_tail_fd (tail) == -1, "drained to end of file");
  cleanup_free char *text = firec_stderr_tail_text (tail, 0);
  struct firec_buf want = { 0 };
  for (int i = 82; i <= 100; i++)
    firec_buf_printf (&want, "line %d\n", i);
  firec_buf_puts (&want, "tail-end");
  cleanup_free char *want_text = firec_buf_steal (&want);
  TAP_STR_EQ (text, want_text, "the last 20 lines, the unterminated one included");
  cleanup_free char *three = firec_stderr_tail_text (tail, 3);
  TAP_STR_EQ (three, "line 99\nline 100\ntail-end", "the last 3 lines");
  char teed[8192];
  ssize_t n = read (tee[0], teed, sizeof teed - 1);
  teed[n > 0 ? n : 0] = '\0';
  tap_ok (n > 0 && strncmp (teed, "line 1\nline 2\n", 14) == 0, "the stream was copied to the tee fd");

  firec_error_set (&err, 0, "firecracker exited with status 1 before its API socket appeared");
  firec_stderr_tail_annotate (tail, "firecracker", &err);
  tap_ok (err
              && strstr (err->message, "before its API socket appeared\nlast lines of firecracker's stderr:\n"
                                       "  line 81\n  line 82\n")
                     == NULL
              && strstr (err->message, "before its API socket appeared\nlast lines of firecracker's stderr:\n"
                                       "  line 82\n  line 83\n")
                     != NULL
              && strstr (err->message, "\n  line 100\n  tail-end") != NULL,
          "annotate quotes the last lines under the error");
  firec_error_release (&err);
  int status;
  firec_process_wait (pid, pidfd, -1, &status, &err);
  close (pidfd);
  firec_stderr_tail_free (tail);
  close (tee[0]);
  close (tee[1]);

  /* More than the ring holds: the cut line at its start is dropped. */
  cleanup_stderr_tail struct firec_stderr_tail *big = NULL;
  firec_stderr_tail_open (-1, &big, &child_fd, &err);
  const char *argv_big[] = { self_exe, "--spew", "2000", "50", NULL };
  opts.argv = argv_big;
  opts.stderr_fd = child_fd;
  firec_spawn (&opts, &pid, &pidfd, &err);
  close (child_fd);
  eof = 0;
  t0 = now_ms ();
  while (eof == 0 && now_ms () - t0 < 5000)
    {
      struct pollfd p = { .fd = firec_stderr_tail_fd (big), .events = POLLIN };
      poll (&p, 1, 1000);
      eof = firec_stderr_tail_drain (big, &err);
    }
  firec_process_wait (pid, pidfd, -1, &status, &err);
  close (pidfd);
  cleanup_free char *all = firec_stderr_tail_text (big, 1000);
  size_t lines = 1;
  for (const char *c = all; *c; c++)
    lines += *c == '\n';
  tap_ok (strlen (all) < FIREC_STDERR_TAIL_BYTES && strncmp (all, "line ", 5) == 0
              && strstr (all, "line 2000 ") != NULL,
          "a ring overflow keeps whole lines only (%zu bytes, %zu lines)", strlen (all), lines);

  cleanup_stderr_tail struct firec_stderr_tail *empty = NULL;
  firec_stderr_tail_open (-1, &empty, &child_fd, &err);
  close (child_fd);
  firec_stderr_tail_drain (empty, &err);
  cleanup_free char *none = firec_stderr_tail_text (empty, 0);
  TAP_STR_EQ (none, "", "nothing written: \"\"");
  firec_error_set (&err, 0, "boom");
  firec_stderr_tail_annotate (empty, "jailer", &err);
  TAP_STR_EQ (err ? err->message : NULL, "boom", "annotate adds nothing without lines");
  firec_error_release (&err);
}

static void
test_describe (void)
{
  cleanup_free char *a = firec_describe_wait_status (3 << 8);
  cleanup_free char *b = firec_describe_wait_status (SIGABRT | 0x80);
  cleanup_free char *c = firec_describe_wait_status (-1);
  TAP_STR_EQ (a, "exited with status 3", "describe: exit");
  TAP_STR_EQ (b, "was killed by signal 6 (SIGABRT), core dumped", "describe: signal with core");
  TAP_STR_EQ (c, "has exited", "describe: unknown status");
}

static void
remove_tree (const char *path)
{
  const char *argv[] = { "/bin/rm", "-rf", path, NULL };
  firec_error_t err = NULL;
  spawn_and_wait (argv, &err);
  firec_error_release (&err);
}

int
main (int argc, char **argv)
{
  if (argc > 1)
    return run_helper (argc, argv);

  ssize_t n = readlink ("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0)
    abort ();
  self_exe[n] = '\0';
  if (mkdtemp (tmpdir) == NULL)
    abort ();

  test_exit_statuses ();
  test_exec_failures ();
  test_fd_allow_list ();
  test_stdio_swap ();
  test_env ();
  test_signals_reset ();
  test_process_group ();
  test_kill_and_reap ();
  test_wait_pid_only_and_peek ();
  test_non_child ();
  test_die_with_parent ();
  test_pid_file ();
  test_start_time ();
  test_stderr_tail ();
  test_describe ();

  remove_tree (tmpdir);
  return tap_done ();
}
