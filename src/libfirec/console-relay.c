/* SPDX-License-Identifier: Apache-2.0 */
/* An attacher's side of the console (console.h): the terminal relayed to the
   keeper's connection, and the escape read from what is typed. */
#include "config.h"

#include "console.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
send_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      data += n;
      len -= (size_t) n;
    }
  return 0;
}

void
firec_console_relay_fds (const struct firec_console_relay *r, struct pollfd fds[2])
{
  fds[0] = (struct pollfd){ .fd = r->in_fd, .events = POLLIN };
  fds[1] = (struct pollfd){ .fd = r->sock, .events = POLLIN };
}

/* What was typed, without the escapes, to the guest; an escape that ends
   the attachment is returned. */
static enum firec_console_event
typed (struct firec_console_relay *r, const char *keys, size_t n)
{
  char out[2 * 1024];
  size_t len = 0;
  enum firec_console_event event = FIREC_CONSOLE_GO_ON;
  for (size_t i = 0; i < n && event == FIREC_CONSOLE_GO_ON; i++)
    {
      char c = keys[i];
      if (!r->after_escape && c == FIREC_CONSOLE_ESCAPE)
        {
          r->after_escape = true;
          continue;
        }
      if (r->after_escape)
        {
          r->after_escape = false;
          if (c == 'q')
            {
              event = FIREC_CONSOLE_DETACH;
              break;
            }
          if (c == 's')
            {
              event = FIREC_CONSOLE_STOP;
              break;
            }
          if (c != FIREC_CONSOLE_ESCAPE)
            out[len++] = FIREC_CONSOLE_ESCAPE;
        }
      out[len++] = c;
    }
  if (len && send_all (r->sock, out, len) < 0)
    return FIREC_CONSOLE_ENDED;
  return event;
}

enum firec_console_event
firec_console_relay_ready (struct firec_console_relay *r, const struct pollfd fds[2])
{
  if (fds[1].revents)
    {
      char buf[65536];
      ssize_t n = recv (r->sock, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        {
          close (r->sock);
          r->sock = -1;
          return FIREC_CONSOLE_ENDED;
        }
      /* A terminal that went away: the console goes on without it. */
      if (n > 0 && r->out_fd >= 0 && firec_write_all (r->out_fd, buf, (size_t) n) < 0)
        r->out_fd = -1;
    }
  if (fds[0].revents)
    {
      char keys[1024];
      ssize_t n = read (r->in_fd, keys, sizeof keys);
      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return FIREC_CONSOLE_GO_ON;
      if (n <= 0)
        {
          r->in_fd = -1; /* nothing more will be typed: the console is still shown */
          return FIREC_CONSOLE_GO_ON;
        }
      return typed (r, keys, (size_t) n);
    }
  return FIREC_CONSOLE_GO_ON;
}

void
firec_console_relay_finish (struct firec_console_relay *r, long timeout_ms)
{
  long long deadline = firec_now_ms () + timeout_ms;
  while (r->sock >= 0)
    {
      long left = (long) (deadline - firec_now_ms ());
      struct pollfd fds[2] = { { .fd = -1 }, { .fd = r->sock, .events = POLLIN } };
      if (left <= 0 || poll (fds, 2, (int) left) <= 0)
        return;
      firec_console_relay_ready (r, fds);
    }
}

int
firec_console_raw (int fd, const struct termios *saved)
{
  struct termios raw = *saved;
  cfmakeraw (&raw);
  return tcsetattr (fd, TCSADRAIN, &raw);
}
