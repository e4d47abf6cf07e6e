/* SPDX-License-Identifier: Apache-2.0 */
/* The console seen from a run and from clients: the pty and the socket a run
   makes, the keeper it starts, requests to the keeper, and the log read back
   (console.h). The keeper's loop is in console-keeper.c, the attacher's relay
   in console-relay.c. */
#include "config.h"

#include "console.h"
#include "process.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------ a run */

/* A socket in the state directory by a path that is short whatever the
   state root's length (sun_path holds 108 bytes): through the directory's fd. */
static void
socket_address (int dir_fd, struct sockaddr_un *sa)
{
  memset (sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  snprintf (sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", dir_fd, FIREC_CONSOLE_SOCKET);
}

/* The slave of master, opened without a path (TIOCGPTPEER: no race with
   someone else opening /dev/pts/N), never our controlling terminal. */
static int
open_slave (int master, firec_error_t *err)
{
  if (grantpt (master) < 0 || unlockpt (master) < 0)
    return firec_error_set (err, errno, "cannot unlock the console's pseudo-terminal");
  int slave = ioctl (master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
  if (slave < 0)
    return firec_error_set (err, errno, "cannot open the console's pseudo-terminal");
  struct termios t;
  if (tcgetattr (slave, &t) < 0)
    {
      close (slave);
      return firec_error_set (err, errno, "cannot read the console's terminal settings");
    }
  cfmakeraw (&t);
  if (tcsetattr (slave, TCSANOW, &t) < 0)
    {
      close (slave);
      return firec_error_set (err, errno, "cannot set the console's terminal to raw mode");
    }
  return slave;
}

static int
listen_socket (int dir_fd, const char *shown_dir, firec_error_t *err)
{
  struct sockaddr_un sa;
  socket_address (dir_fd, &sa);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot make the console's socket");
  unlinkat (dir_fd, FIREC_CONSOLE_SOCKET, 0);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (fd, 8) < 0)
    {
      int e = errno;
      close (fd);
      return firec_error_set (err, e, "cannot listen on %s/%s", shown_dir, FIREC_CONSOLE_SOCKET);
    }
  return fd;
}

int
firec_console_open (int dir_fd, const char *shown_dir, int *master, int *slave, int *listen_fd, firec_error_t *err)
{
  cleanup_close int m = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0)
    return firec_error_set (err, errno, "cannot make a pseudo-terminal for the console (/dev/ptmx)");
  if (fcntl (m, F_SETFL, fcntl (m, F_GETFL) | O_NONBLOCK) < 0)
    return firec_error_set (err, errno, "cannot make the console's pseudo-terminal non-blocking");
  cleanup_close int s = open_slave (m, err);
  if (s < 0)
    return -1;
  int l = listen_socket (dir_fd, shown_dir, err);
  if (l < 0)
    return -1;
  *master = steal_fd (&m);
  *slave = steal_fd (&s);
  *listen_fd = l;
  return 0;
}

int
firec_console_start_keeper (const char *helper, const char *state_dir, int dir_fd, int master, int listen_fd,
                            struct firec_pidref *keeper, firec_error_t *err)
{
  char master_text[16], socket_text[16], dir_text[16];
  snprintf (master_text, sizeof master_text, "%d", master);
  snprintf (socket_text, sizeof socket_text, "%d", listen_fd);
  snprintf (dir_text, sizeof dir_text, "%d", dir_fd);
  const char *argv[] = { helper,        "--console", "--state-dir", state_dir, "--master-fd", master_text,
                         "--socket-fd", socket_text, "--dir-fd",    dir_text,  NULL };
  const int keep[] = { master, listen_fd, dir_fd };
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  opts.argv = argv;
  opts.envp = (const char *const *) environ;
  opts.stdin_fd = opts.stdout_fd = opts.stderr_fd = FIREC_SPAWN_FD_DEVNULL;
  opts.keep_fds = keep;
  opts.n_keep_fds = FIREC_N_ELEMENTS (keep);
  /* Its own process group: the terminal's ^C is not for it. */
  pid_t pid;
  int pidfd = -1;
  if (firec_spawn (&opts, &pid, &pidfd, err) < 0)
    {
      firec_error_prefix (err, "cannot start the console keeper");
      return -1;
    }
  return firec_pidref_adopt (pid, pidfd, keeper, err);
}

/* The NUL-terminated word at *pos, or NULL past the end. */
static const char *
next_word (const char *args, size_t len, size_t *pos)
{
  if (*pos >= len)
    return NULL;
  const char *w = args + *pos;
  *pos += strnlen (w, len - *pos) + 1;
  return w;
}

bool
firec_console_is_keeper (const char *args, size_t len, const char *state_dir)
{
  size_t pos = 0;
  const char *words[4];
  for (size_t i = 0; i < FIREC_N_ELEMENTS (words); i++)
    if ((words[i] = next_word (args, len, &pos)) == NULL)
      return false;
  return strcmp (words[1], "--console") == 0 && strcmp (words[2], "--state-dir") == 0
         && strcmp (words[3], state_dir) == 0;
}

/* ------------------------------------------------------------------ clients */

/* Reads one answer line (timeout_ms at most). */
static int
read_line (int fd, char *line, size_t size, long timeout_ms)
{
  size_t n = 0;
  long long deadline = firec_now_ms () + timeout_ms;
  while (n + 1 < size)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      long left = (long) (deadline - firec_now_ms ());
      if (left <= 0 || poll (&p, 1, (int) left) <= 0)
        return -1;
      ssize_t r = read (fd, line + n, 1);
      if (r <= 0)
        return -1;
      if (line[n] == '\n')
        break;
      n++;
    }
  line[n] = '\0';
  return 0;
}

int
firec_console_request (int dir_fd, const char *shown_dir, const char *request, int *fd, pid_t *busy_pid,
                       firec_error_t *err)
{
  struct sockaddr_un sa;
  socket_address (dir_fd, &sa);
  cleanup_close int s = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return firec_error_set (err, errno, "cannot make a socket");
  if (connect (s, (struct sockaddr *) &sa, sizeof sa) < 0)
    return firec_error_set (err, errno, "cannot reach the console keeper at %s/%s", shown_dir, FIREC_CONSOLE_SOCKET);
  cleanup_free char *line = firec_xasprintf ("%s\n", request);
  char answer[64];
  if (send (s, line, strlen (line), MSG_NOSIGNAL) < 0 || read_line (s, answer, sizeof answer, 5000) < 0)
    return firec_error_set (err, errno ? errno : EPROTO, "the console keeper at %s/%s did not answer", shown_dir,
                            FIREC_CONSOLE_SOCKET);
  long pid;
  if (sscanf (answer, "busy %ld", &pid) == 1)
    {
      *busy_pid = (pid_t) pid;
      return firec_error_set_kind (err, FIREC_ERR_LOCKED, EBUSY, "the console is attached by pid %ld", pid);
    }
  if (strcmp (answer, "ok") != 0)
    return firec_error_set (err, EPROTO, "the console keeper answered \"%s\"", answer);
  *fd = steal_fd (&s);
  return 0;
}

void
firec_console_sync (int dir_fd, long timeout_ms)
{
  struct sockaddr_un sa;
  socket_address (dir_fd, &sa);
  cleanup_close int s = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char answer[16];
  if (s >= 0 && connect (s, (struct sockaddr *) &sa, sizeof sa) == 0 && send (s, "sync\n", 5, MSG_NOSIGNAL) == 5)
    read_line (s, answer, sizeof answer, timeout_ms);
}

/* ------------------------------------------------------------------ the log */

/* Appends what fd has from its offset on. */
static int
append_fd (int fd, struct firec_buf *buf)
{
  char chunk[65536];
  ssize_t n;
  while ((n = read (fd, chunk, sizeof chunk)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      firec_buf_append (buf, chunk, (size_t) n);
    }
  return 0;
}

static int
open_log (int dir_fd, const char *shown_dir, const char *file, int *fd, firec_error_t *err)
{
  return firec_state_open_file (dir_fd, shown_dir, file, fd, err);
}

static bool
same_file (int a, int b)
{
  struct stat sa, sb;
  return a >= 0 && b >= 0 && fstat (a, &sa) == 0 && fstat (b, &sb) == 0 && sa.st_dev == sb.st_dev
         && sa.st_ino == sb.st_ino;
}

/* Reads both files; *current stays open at the end of console.log (-1 when
   there is none) for following it. */
static int
read_both (int dir_fd, const char *shown_dir, struct firec_buf *buf, int *current, firec_error_t *err)
{
  for (int attempt = 0; attempt < 10; attempt++)
    {
      cleanup_close int cur = -1, old = -1;
      if (open_log (dir_fd, shown_dir, FIREC_CONSOLE_LOG, &cur, err) < 0
          || open_log (dir_fd, shown_dir, FIREC_CONSOLE_LOG_OLD, &old, err) < 0)
        return -1;
      /* The keeper rotated between the two opens: what we took for the
         current file is the old one now. Look again. */
      if (same_file (cur, old))
        continue;
      buf->len = 0;
      if ((old >= 0 && append_fd (old, buf) < 0) || (cur >= 0 && append_fd (cur, buf) < 0))
        return firec_error_set (err, errno, "cannot read the console log in %s", shown_dir);
      *current = steal_fd (&cur);
      return 0;
    }
  return firec_error_set (err, EAGAIN, "the console log in %s keeps changing", shown_dir);
}

int
firec_console_read_log (int dir_fd, const char *shown_dir, char **text, size_t *len, firec_error_t *err)
{
  struct firec_buf buf = { 0 };
  cleanup_close int cur = -1;
  if (read_both (dir_fd, shown_dir, &buf, &cur, err) < 0)
    {
      firec_buf_release (&buf);
      return -1;
    }
  *len = buf.len;
  *text = firec_buf_steal (&buf);
  return 0;
}

size_t
firec_console_tail_start (const char *text, size_t len, long lines)
{
  if (lines < 0)
    return 0;
  size_t end = len;
  /* The last line's own newline does not start another line. */
  if (end > 0 && text[end - 1] == '\n')
    end--;
  long seen = 0;
  while (end > 0)
    {
      if (text[end - 1] == '\n' && ++seen == lines)
        return end;
      end--;
    }
  return lines == 0 ? len : 0;
}

/* Writes out what fd has from its offset on. */
static int
copy_rest (int fd, const char *shown_dir, int out_fd, firec_error_t *err)
{
  struct firec_buf buf = { 0 };
  if (append_fd (fd, &buf) < 0)
    {
      firec_buf_release (&buf);
      return firec_error_set (err, errno, "cannot read the console log in %s", shown_dir);
    }
  int rc = buf.len ? firec_write_all (out_fd, buf.data, buf.len) : 0;
  firec_buf_release (&buf);
  return rc < 0 ? firec_error_set (err, errno, "cannot write the console log out") : 0;
}

/* Copies what was added to the log since *current's offset, across
   rotations: the keeper writes to a rotated file no more, so once it is read
   to its end the next one follows, console.log.1 first when the keeper has
   rotated twice meanwhile (it is not the file we read then). */
static int
copy_new (int dir_fd, const char *shown_dir, int *current, int out_fd, firec_error_t *err)
{
  for (;;)
    {
      if (*current >= 0 && copy_rest (*current, shown_dir, out_fd, err) < 0)
        return -1;
      cleanup_close int now = -1, old = -1;
      if (open_log (dir_fd, shown_dir, FIREC_CONSOLE_LOG, &now, err) < 0)
        return -1;
      if (now < 0 || same_file (now, *current))
        return 0;
      if (*current >= 0 && open_log (dir_fd, shown_dir, FIREC_CONSOLE_LOG_OLD, &old, err) < 0)
        return -1;
      if (old >= 0 && !same_file (old, *current) && !same_file (old, now)
          && copy_rest (old, shown_dir, out_fd, err) < 0)
        return -1;
      if (*current >= 0)
        close (*current);
      *current = steal_fd (&now);
    }
}

static int
follow (int dir_fd, const char *shown_dir, const struct firec_pidref *keeper, int inotify_fd, int *current, int out_fd,
        firec_error_t *err)
{
  for (;;)
    {
      struct pollfd fds[2] = { { .fd = inotify_fd, .events = POLLIN }, { .fd = keeper->fd, .events = POLLIN } };
      if (poll (fds, 2, -1) < 0 && errno != EINTR)
        return firec_error_set (err, errno, "poll");
      char events[4096];
      while (fds[0].revents && read (inotify_fd, events, sizeof events) > 0)
        ;
      if (copy_new (dir_fd, shown_dir, current, out_fd, err) < 0)
        return -1;
      /* The keeper ends after the log has everything: one more look, done. */
      if (fds[1].revents)
        return copy_new (dir_fd, shown_dir, current, out_fd, err);
    }
}

int
firec_console_copy_log (int dir_fd, const char *shown_dir, long lines, const struct firec_pidref *keeper, int out_fd,
                        firec_error_t *err)
{
  bool following = keeper && firec_pidref_is_set (keeper) && keeper->fd >= 0;
  cleanup_close int inotify_fd = -1;
  if (following)
    {
      /* Watching before the first read: nothing written after it is missed. */
      inotify_fd = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
      char dir[64];
      snprintf (dir, sizeof dir, "/proc/self/fd/%d", dir_fd);
      if (inotify_fd < 0 || inotify_add_watch (inotify_fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0)
        return firec_error_set (err, errno, "cannot watch %s", shown_dir);
    }
  struct firec_buf buf = { 0 };
  cleanup_close int current = -1;
  if (read_both (dir_fd, shown_dir, &buf, &current, err) < 0)
    {
      firec_buf_release (&buf);
      return -1;
    }
  size_t start = buf.len ? firec_console_tail_start (buf.data, buf.len, lines) : 0;
  int rc = buf.len ? firec_write_all (out_fd, buf.data + start, buf.len - start) : 0;
  firec_buf_release (&buf);
  if (rc < 0)
    return firec_error_set (err, errno, "cannot write the console log out");
  if (!following)
    return 0;
  return follow (dir_fd, shown_dir, keeper, inotify_fd, &current, out_fd, err);
}
