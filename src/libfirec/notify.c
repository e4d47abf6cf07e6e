/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "notify.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int
firec_notify (const char *message)
{
  const char *path = getenv ("NOTIFY_SOCKET");
  if (path == NULL || path[0] == '\0')
    return 0;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  size_t len = strlen (path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path)
    {
      errno = EINVAL;
      return -1;
    }
  memcpy (addr.sun_path, path, len);
  if (path[0] == '@')
    addr.sun_path[0] = '\0'; /* an abstract socket */
  cleanup_close int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  socklen_t addr_len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len);
  if (sendto (fd, message, strlen (message), MSG_NOSIGNAL, (struct sockaddr *) &addr, addr_len) < 0)
    return -1;
  return 1;
}

int
firec_notifyf (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = firec_xvasprintf (fmt, ap);
  va_end (ap);
  return firec_notify (msg);
}
