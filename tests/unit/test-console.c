/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the console (console.h): where the last lines of a log
   start, and the keeper's loop on a real pty in a child process: the log and
   its cap, sync, one attacher at a time both ways, an attacher that does not
   read, and the end once the slave's last holder is gone. */
#include "config.h"

#include "console.h"
#include "util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_tail_start (void)
{
  static const struct
  {
    const char *text;
    long lines;
    const char *want;
  } cases[] = {
    { "a\nb\nc\n", 1, "c\n" },       { "a\nb\nc\n", 2, "b\nc\n" },
    { "a\nb\nc\n", 3, "a\nb\nc\n" }, { "a\nb\nc\n", 9, "a\nb\nc\n" },
    { "a\nb\nc", 1, "c" },           { "a\nb\nc", 2, "b\nc" },
    { "a\nb\nc\n", 0, "" },          { "a\nb\nc\n", -1, "a\nb\nc\n" },
    { "a\r\nb\r\n", 1, "b\r\n" },    { "\n\n", 1, "\n" },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (cases); i++)
    {
      size_t len = strlen (cases[i].text);
      size_t start = firec_console_tail_start (cases[i].text, len, cases[i].lines);
      TAP_STR_EQ (cases[i].text + start, cases[i].want, "tail_start (%ld) of a %zu-byte log", cases[i].lines, len);
    }
}

/* ------------------------------------------------------------------ the keeper */

static char tmpdir[] = "/tmp/firec-test-console-XXXXXX";
static int dir_fd = -1;

/* Writes everything to the non-blocking slave, waiting while the pty is full
   (the keeper reads it). */
static void
slave_write (int slave, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (slave, data, len);
      if (n < 0 && errno == EAGAIN)
        {
          struct pollfd p = { .fd = slave, .events = POLLOUT };
          poll (&p, 1, 1000);
          continue;
        }
      if (n < 0)
        abort ();
      data += n;
      len -= (size_t) n;
    }
}

static char *
log_text (size_t *len)
{
  char *text = NULL;
  firec_error_t err = NULL;
  if (firec_console_read_log (dir_fd, tmpdir, &text, len, &err) < 0)
    abort ();
  return text;
}

static off_t
file_size (const char *name)
{
  struct stat st;
  return fstatat (dir_fd, name, &st, 0) == 0 ? st.st_size : -1;
}

/* What arrives on fd within timeout_ms, up to want bytes. */
static char *
receive (int fd, size_t want, long timeout_ms)
{
  char *buf = firec_xcalloc (1, want + 1);
  size_t n = 0;
  long long deadline = firec_now_ms () + timeout_ms;
  while (n < want && firec_now_ms () < deadline)
    {
      struct pollfd p = { .fd = fd, .events = POLLIN };
      if (poll (&p, 1, 50) <= 0)
        continue;
      ssize_t r = read (fd, buf + n, want - n);
      if (r <= 0)
        break;
      n += (size_t) r;
    }
  return buf;
}

static int
attach (pid_t *busy)
{
  int fd = -1;
  firec_error_t err = NULL;
  *busy = 0;
  if (firec_console_request (dir_fd, tmpdir, "attach", &fd, busy, &err) < 0)
    firec_error_release (&err);
  return fd;
}

static void
test_keeper (void)
{
  if (mkdtemp (tmpdir) == NULL)
    abort ();
  dir_fd = open (tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int master, slave, listen_fd;
  firec_error_t err = NULL;
  if (firec_console_open (dir_fd, tmpdir, &master, &slave, &listen_fd, &err) < 0)
    {
      tap_ok (0, "firec_console_open: %s", err->message);
      return;
    }
  pid_t keeper = fork ();
  if (keeper == 0)
    {
      close (slave);
      signal (SIGPIPE, SIG_IGN);
      _exit (firec_console_keep (master, listen_fd, dir_fd, &err) < 0 ? 1 : 0);
    }
  close (master);
  close (listen_fd);

  slave_write (slave, "hello\r\n", 7);
  firec_console_sync (dir_fd, 2000);
  size_t len;
  cleanup_free char *text = log_text (&len);
  TAP_STR_EQ (text, "hello\r\n", "what Firecracker writes is in the log once sync returns, as it was written");

  pid_t busy;
  int first = attach (&busy);
  tap_ok (first >= 0, "an attacher is taken");
  int second = attach (&busy);
  tap_ok (second < 0 && busy == getpid (), "a second one is refused, naming the first one's pid (%ld)", (long) busy);
  slave_write (slave, "world\r\n", 7);
  cleanup_free char *got = receive (first, 7, 2000);
  TAP_STR_EQ (got, "world\r\n", "the attacher gets the console from then on");
  if (send (first, "typed\r", 6, MSG_NOSIGNAL) != 6)
    abort ();
  cleanup_free char *typed = receive (slave, 6, 2000);
  TAP_STR_EQ (typed, "typed\r", "what the attacher sends is the guest's input");

  /* An attacher that reads nothing while the guest writes far more than any
     buffer holds (the keeper asks for 1 MiB on its side of the socket, the
     kernel doubles that): the keeper goes on logging. */
  size_t total = 8 * FIREC_CONSOLE_LOG_MAX + 12345;
  cleanup_free char *lots = firec_xmalloc (total);
  for (size_t i = 0; i < total; i++)
    lots[i] = (char) ('a' + i % 26);
  memcpy (lots + total - 5, "end\r\n", 5);
  slave_write (slave, lots, total);
  firec_console_sync (dir_fd, 2000);
  tap_ok (file_size (FIREC_CONSOLE_LOG) <= FIREC_CONSOLE_LOG_MAX
              && file_size (FIREC_CONSOLE_LOG_OLD) == FIREC_CONSOLE_LOG_MAX,
          "the log is capped: %lld + %lld bytes (at most %d each)", (long long) file_size (FIREC_CONSOLE_LOG_OLD),
          (long long) file_size (FIREC_CONSOLE_LOG), FIREC_CONSOLE_LOG_MAX);
  free (text);
  text = log_text (&len);
  tap_ok (len >= FIREC_CONSOLE_LOG_MAX && memcmp (text + len - 5, "end\r\n", 5) == 0
              && memcmp (text, lots + total - len, len) == 0,
          "it holds the last %zu bytes written, unchanged", len);
  tap_ok (strstr (text, "hello") == NULL, "and the first ones are gone");

  /* The attacher that did not read is told what it missed. */
  int size = 4096;
  setsockopt (first, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  free (receive (first, 8 << 20, 1000)); /* what it kept */
  slave_write (slave, "after\r\n", 7);
  cleanup_free char *after = receive (first, 200, 2000);
  tap_ok (strstr (after, "bytes of console output did not reach this terminal") != NULL
              && strstr (after, "after\r\n") != NULL,
          "an attacher that could not take everything is told, then gets what comes");

  close (first);
  int third = -1;
  for (int i = 0; i < 50 && third < 0; i++)
    if ((third = attach (&busy)) < 0)
      usleep (20000);
  tap_ok (third >= 0, "once it has gone, the next attacher is taken");

  /* The slave's last holder goes: the VM ended. */
  close (slave);
  int status = -1;
  waitpid (keeper, &status, 0);
  tap_ok (WIFEXITED (status) && WEXITSTATUS (status) == 0, "the keeper ends with the console's last holder");
  cleanup_free char *eof = receive (third, 100, 1000);
  tap_ok (eof[0] == '\0' && recv (third, eof, 1, MSG_DONTWAIT) == 0, "its attacher gets the end of file");
  struct stat st;
  tap_ok (fstatat (dir_fd, FIREC_CONSOLE_SOCKET, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT,
          "its socket is gone");
  tap_ok (file_size (FIREC_CONSOLE_LOG) > 0, "the log stays");
  close (third);
  if (second >= 0)
    close (second);
  unlinkat (dir_fd, FIREC_CONSOLE_LOG, 0);
  unlinkat (dir_fd, FIREC_CONSOLE_LOG_OLD, 0);
  close (dir_fd);
  rmdir (tmpdir);
}

int
main (void)
{
  test_tail_start ();
  test_keeper ();
  return tap_done ();
}
