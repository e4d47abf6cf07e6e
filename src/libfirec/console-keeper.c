/* SPDX-License-Identifier: Apache-2.0 */
/* The console keeper's loop (console.h): one poll over the pty's master, the
   listening socket, the attacher and the clients that have not said what they
   want yet. Nothing in it ever blocks: a VM's output is read as it comes,
   whoever is attached or not. */
#include "config.h"

#include "console.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_WAITING 4 /* connections whose request line has not come yet */
#define REQUEST_MAX 32

struct waiting
{
  int fd; /* -1: free */
  char line[REQUEST_MAX];
  size_t len;
};

struct keeper
{
  int master, listen_fd, dir_fd;
  int log_fd;
  size_t log_size;
  int attacher; /* -1: none */
  pid_t attacher_pid;
  unsigned long long dropped; /* output the attacher could not take, not told yet */
  char input[4096];           /* from the attacher, for the guest */
  size_t input_len, input_off;
  struct waiting waiting[MAX_WAITING];
  bool ended;
};

/* ------------------------------------------------------------------ the log */

static void
open_log (struct keeper *k)
{
  k->log_fd = openat (k->dir_fd, FIREC_CONSOLE_LOG, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  struct stat st;
  k->log_size = k->log_fd >= 0 && fstat (k->log_fd, &st) == 0 ? (size_t) st.st_size : 0;
}

/* console.log becomes console.log.1, the older one goes. */
static void
rotate (struct keeper *k)
{
  if (k->log_fd >= 0)
    close (k->log_fd);
  renameat (k->dir_fd, FIREC_CONSOLE_LOG, k->dir_fd, FIREC_CONSOLE_LOG_OLD);
  open_log (k);
}

/* What cannot be written (a full disk) is lost: the VM must go on. */
static void
log_write (struct keeper *k, const char *data, size_t len)
{
  while (len > 0)
    {
      if (k->log_fd < 0 || k->log_size >= FIREC_CONSOLE_LOG_MAX)
        rotate (k);
      if (k->log_fd < 0)
        return;
      size_t room = FIREC_CONSOLE_LOG_MAX - k->log_size;
      ssize_t n = write (k->log_fd, data, len < room ? len : room);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      k->log_size += (size_t) n;
      data += n;
      len -= (size_t) n;
    }
}

/* ------------------------------------------------------------------ the attacher */

static void
drop_attacher (struct keeper *k)
{
  if (k->attacher >= 0)
    close (k->attacher);
  k->attacher = -1;
  k->attacher_pid = 0;
  k->dropped = 0;
  k->input_len = k->input_off = 0;
}

/* Sends without waiting; what the attacher cannot take now is lost for it
   (not for the log), and it is told so before what comes next. */
static void
attacher_send (struct keeper *k, const char *data, size_t len)
{
  if (k->attacher < 0)
    return;
  if (k->dropped)
    {
      char note[160];
      int n = snprintf (note, sizeof note,
                        "\r\n[firec-run: %llu bytes of console output did not reach this terminal; "
                        "the console log has them]\r\n",
                        k->dropped);
      if (send (k->attacher, note, (size_t) n, MSG_DONTWAIT | MSG_NOSIGNAL) != n)
        {
          if (errno != EAGAIN)
            drop_attacher (k);
          else
            k->dropped += len;
          return;
        }
      k->dropped = 0;
    }
  ssize_t n = send (k->attacher, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n < 0 && errno != EAGAIN)
    drop_attacher (k);
  else
    k->dropped += len - (size_t) (n < 0 ? 0 : n);
}

/* What the attacher typed, kept until the guest's input takes it. */
static void
attacher_read (struct keeper *k)
{
  ssize_t n = read (k->attacher, k->input, sizeof k->input);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      drop_attacher (k);
      return;
    }
  k->input_len = (size_t) n;
  k->input_off = 0;
}

static void
input_write (struct keeper *k)
{
  ssize_t n = write (k->master, k->input + k->input_off, k->input_len - k->input_off);
  if (n < 0 && errno != EAGAIN && errno != EINTR)
    k->input_len = k->input_off = 0; /* the guest's input is gone */
  else if (n > 0 && (k->input_off += (size_t) n) == k->input_len)
    k->input_len = k->input_off = 0;
}

/* ------------------------------------------------------------------ the master */

/* Reads everything there is. EIO (or end of file) once the last holder of
   the slave has gone and its output has been read: the VM has ended. */
static void
master_drain (struct keeper *k)
{
  char buf[65536];
  for (;;)
    {
      ssize_t n = read (k->master, buf, sizeof buf);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        {
          k->ended = true;
          return;
        }
      log_write (k, buf, (size_t) n);
      attacher_send (k, buf, (size_t) n);
    }
}

/* ------------------------------------------------------------------ requests */

static void
answer (int fd, const char *text)
{
  if (send (fd, text, strlen (text), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
    {
      /* A client that went away meanwhile: nothing to tell it. */
    }
}

static pid_t
peer_pid (int fd)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  return getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
}

/* A whole request line came: act on it. The connection is the attacher's
   now, or closed. */
static void
handle_request (struct keeper *k, int fd, const char *request)
{
  if (strcmp (request, "attach") == 0 && k->attacher < 0)
    {
      answer (fd, "ok\n");
      k->attacher = fd;
      k->attacher_pid = peer_pid (fd);
      /* Room for a burst while the attacher's terminal is slow. */
      int size = 1 << 20;
      setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
      return;
    }
  if (strcmp (request, "attach") == 0)
    {
      char busy[48];
      snprintf (busy, sizeof busy, "busy %ld\n", (long) k->attacher_pid);
      answer (fd, busy);
    }
  else if (strcmp (request, "sync") == 0)
    {
      master_drain (k);
      answer (fd, "ok\n");
    }
  else
    answer (fd, "error unknown request\n");
  close (fd);
}

static void
waiting_read (struct keeper *k, struct waiting *w)
{
  ssize_t n = read (w->fd, w->line + w->len, sizeof w->line - 1 - w->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  char *nl = n > 0 ? memchr (w->line + w->len, '\n', (size_t) n) : NULL;
  if (n > 0)
    w->len += (size_t) n;
  if (nl == NULL && n > 0 && w->len < sizeof w->line - 1)
    return;
  int fd = w->fd;
  w->fd = -1;
  w->len = 0;
  if (nl == NULL)
    {
      close (fd); /* gone, or a line too long for any request */
      return;
    }
  *nl = '\0';
  handle_request (k, fd, w->line);
}

static void
accept_one (struct keeper *k)
{
  for (size_t i = 0; i < MAX_WAITING; i++)
    if (k->waiting[i].fd < 0)
      {
        k->waiting[i].fd = accept4 (k->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        return;
      }
}

/* ------------------------------------------------------------------ the loop */

enum
{
  P_MASTER,
  P_LISTEN,
  P_ATTACHER,
  P_WAITING,
  P_COUNT = P_WAITING + MAX_WAITING,
};

static void
fill_pollfds (const struct keeper *k, struct pollfd *fds)
{
  bool typed = k->input_len > 0;
  bool room = false;
  for (size_t i = 0; i < MAX_WAITING; i++)
    {
      room = room || k->waiting[i].fd < 0;
      fds[P_WAITING + i] = (struct pollfd){ .fd = k->waiting[i].fd, .events = POLLIN };
    }
  fds[P_MASTER] = (struct pollfd){ .fd = k->master, .events = POLLIN | (typed ? POLLOUT : 0) };
  fds[P_LISTEN] = (struct pollfd){ .fd = room ? k->listen_fd : -1, .events = POLLIN };
  /* The attacher's input waits while the guest has not taken the last. */
  fds[P_ATTACHER] = (struct pollfd){ .fd = typed ? -1 : k->attacher, .events = POLLIN };
}

static void
finish (struct keeper *k)
{
  drop_attacher (k);
  for (size_t i = 0; i < MAX_WAITING; i++)
    if (k->waiting[i].fd >= 0)
      close (k->waiting[i].fd);
  /* No more clients: they find no socket, and know the console ended. */
  unlinkat (k->dir_fd, FIREC_CONSOLE_SOCKET, 0);
  close (k->listen_fd);
  if (k->log_fd >= 0)
    close (k->log_fd);
  close (k->master);
}

int
firec_console_keep (int master, int listen_fd, int dir_fd, firec_error_t *err)
{
  struct keeper k = { .master = master, .listen_fd = listen_fd, .dir_fd = dir_fd, .attacher = -1 };
  for (size_t i = 0; i < MAX_WAITING; i++)
    k.waiting[i].fd = -1;
  open_log (&k);
  while (!k.ended)
    {
      struct pollfd fds[P_COUNT];
      fill_pollfds (&k, fds);
      if (poll (fds, P_COUNT, -1) < 0 && errno != EINTR)
        {
          finish (&k);
          return firec_error_set (err, errno, "poll");
        }
      /* The attacher first: one that left frees its place for the next. */
      if (fds[P_ATTACHER].revents)
        attacher_read (&k);
      for (size_t i = 0; i < MAX_WAITING; i++)
        if (fds[P_WAITING + i].revents)
          waiting_read (&k, &k.waiting[i]);
      if (fds[P_MASTER].revents & POLLOUT)
        input_write (&k);
      if (fds[P_MASTER].revents & ~POLLOUT)
        master_drain (&k);
      /* The slave's last holder is gone and everything was read (a kernel
         that says so without EIO must not make this loop spin). */
      if (fds[P_MASTER].revents & POLLHUP)
        k.ended = true;
      if (fds[P_LISTEN].revents)
        accept_one (&k);
    }
  finish (&k);
  return 0;
}

/* ------------------------------------------------------------------ its arguments */

static int
parse_fd (const char *s, int *fd)
{
  char *end;
  long v = strtol (s, &end, 10);
  if (*end || v < 0 || v > INT_MAX)
    return -1;
  *fd = (int) v;
  return fcntl (*fd, F_SETFD, FD_CLOEXEC); /* ours alone */
}

int
firec_console_keeper_args (int argc, char **argv, int *master, int *listen_fd, int *dir_fd)
{
  /* --console --state-dir DIR --master-fd N --socket-fd N --dir-fd N */
  if (argc != 10 || strcmp (argv[1], "--console") != 0 || strcmp (argv[2], "--state-dir") != 0
      || strcmp (argv[4], "--master-fd") != 0 || strcmp (argv[6], "--socket-fd") != 0
      || strcmp (argv[8], "--dir-fd") != 0)
    return -1;
  if (parse_fd (argv[5], master) < 0 || parse_fd (argv[7], listen_fd) < 0 || parse_fd (argv[9], dir_fd) < 0)
    return -1;
  return 0;
}
