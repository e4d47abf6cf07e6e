#include "config.h"

#include "fcapi.h"
#include "process.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <http_parser.h>

/* Why not libcurl: Firecracker's API is HTTP/1.1 on a Unix socket, one request at a
   time, small bodies with a Content-Length, never TLS, proxies, redirects or chunked
   uploads. libcurl serves that well but links a TLS, LDAP, Kerberos and SSH stack
   (30 shared libraries) that costs every firec-run invocation ~12 ms of CPU and ~9 MiB
   of mappings before main, and it silently re-sends a request once when a reused
   connection dies, which could apply a PUT twice. So the request is written here
   (one line and four headers) and the answer is parsed by http-parser (Node's,
   packaged by Debian), which does the part that needs care. */

#define SUN_PATH_SIZE (sizeof (((struct sockaddr_un *) NULL)->sun_path))
/* Firecracker's answers are small; the biggest is GET /mmds, bounded by its store limit. */
#define FCAPI_MAX_ANSWER (16 * 1024 * 1024)
/* How much of a request body an error message quotes. */
#define FCAPI_QUOTE_BODY 1024

struct firec_fcapi
{
  char *socket_path;  /* as given, for messages */
  char *connect_path; /* what connect () uses: the path, or a /proc/self/fd/... alias */
  int path_fd;        /* O_PATH fd the alias goes through, or -1 */
  int fd;             /* the connection, -1 until the first request or after a failure */
  int cancel_fd;      /* readable: stop waiting (ECANCELED); -1: none */
  size_t in_flight;   /* requests sent whose answers are not read yet */
  /* The inotify fd firec_fcapi_wait_ready watched with, its watch removed: closing
     one waits for an RCU grace period (15-20 ms here) unless its last watch went
     away that long before, so it is closed with the client, long after. */
  int inotify_fd;
  struct firec_buf unread; /* received after the last answer read: the start of the next */
};

/* What the parser callbacks fill while one answer comes in. */
struct answer
{
  struct firec_buf body;
  struct firec_buf field; /* the header name being read (it may arrive in pieces) */
  bool in_value;
  bool deprecated;
  bool too_big;
  bool complete;
};

/* ------------------------------------------------------------------ answer parsing */

static struct answer *
answer_of (http_parser *p)
{
  return p->data;
}

static int
on_message_begin (http_parser *p)
{
  struct answer *a = answer_of (p);
  a->deprecated = false; /* a new message: an interim 100 Continue does not count */
  firec_buf_release (&a->body);
  return 0;
}

static int
on_header_field (http_parser *p, const char *at, size_t len)
{
  struct answer *a = answer_of (p);
  if (a->in_value)
    {
      a->field.len = 0;
      a->in_value = false;
    }
  if (a->field.len + len <= 64) /* only short names matter: Deprecation */
    firec_buf_append (&a->field, at, len);
  return 0;
}

static int
on_header_value (http_parser *p, const char *at, size_t len)
{
  (void) at;
  (void) len;
  struct answer *a = answer_of (p);
  if (!a->in_value && a->field.len == strlen ("Deprecation")
      && strncasecmp (a->field.data, "Deprecation", a->field.len) == 0)
    a->deprecated = true;
  a->in_value = true;
  return 0;
}

static int
on_headers_complete (http_parser *p)
{
  struct answer *a = answer_of (p);
  a->field.len = 0;
  a->in_value = false;
  return 0;
}

static int
on_body (http_parser *p, const char *at, size_t len)
{
  struct answer *a = answer_of (p);
  if (a->body.len + len > FCAPI_MAX_ANSWER)
    {
      a->too_big = true;
      return 1; /* stops the parser */
    }
  firec_buf_append (&a->body, at, len);
  return 0;
}

static int
on_message_complete (http_parser *p)
{
  /* A 1xx interim answer is not the answer: the parser goes on to the next message. */
  if (p->status_code >= 100 && p->status_code < 200)
    return 0;
  answer_of (p)->complete = true;
  http_parser_pause (p, 1); /* nothing after it belongs to this request */
  return 0;
}

static const http_parser_settings answer_settings = {
  .on_message_begin = on_message_begin,
  .on_header_field = on_header_field,
  .on_header_value = on_header_value,
  .on_headers_complete = on_headers_complete,
  .on_body = on_body,
  .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------ client */

void
firec_fcapi_response_release (struct firec_fcapi_response *resp)
{
  if (resp == NULL)
    return;
  free (resp->body);
  resp->body = NULL;
  resp->status = 0;
  resp->deprecated = false;
}

static void
disconnect (struct firec_fcapi *c)
{
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  c->in_flight = 0;
  firec_buf_release (&c->unread);
}

void
firec_fcapi_close (struct firec_fcapi *c)
{
  if (c == NULL)
    return;
  disconnect (c);
  if (c->path_fd >= 0)
    close (c->path_fd);
  if (c->inotify_fd >= 0)
    close (c->inotify_fd);
  free (c->socket_path);
  free (c->connect_path);
  free (c);
}

/* sun_path holds 107 bytes and a NUL. Reach a longer path through a short
   /proc/self/fd alias instead. */
static int
resolve_connect_path (struct firec_fcapi *c, firec_error_t *err)
{
  const char *path = c->socket_path;
  if (strlen (path) < SUN_PATH_SIZE)
    {
      c->connect_path = firec_xstrdup (path);
      return 0;
    }
  const char *slash = strrchr (path, '/');
  const char *base = slash ? slash + 1 : path;
  if (*base == '\0')
    return firec_error_set_errno (err, EINVAL, "API socket path %s ends in '/'", path);
  if (slash)
    {
      cleanup_free char *dir = slash == path ? firec_xstrdup ("/") : firec_xstrndup (path, (size_t) (slash - path));
      int dirfd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (dirfd < 0)
        return firec_error_set (err, errno, "cannot open %s, the directory of API socket %s", dir, path);
      char *alias = firec_xasprintf ("/proc/self/fd/%d/%s", dirfd, base);
      if (strlen (alias) < SUN_PATH_SIZE)
        {
          c->path_fd = dirfd;
          c->connect_path = alias;
          return 0;
        }
      free (alias);
      close (dirfd);
    }
  /* Even the file name is too long: hold the socket itself, which must exist by now. */
  int fd = open (path, O_PATH | O_CLOEXEC);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot open API socket %s", path);
  c->path_fd = fd;
  c->connect_path = firec_xasprintf ("/proc/self/fd/%d", fd);
  return 0;
}

int
firec_fcapi_open (const char *socket_path, struct firec_fcapi **out, firec_error_t *err)
{
  *out = NULL;
  if (socket_path == NULL || *socket_path == '\0')
    return firec_error_set_errno (err, EINVAL, "no API socket path");
  struct firec_fcapi *c = firec_xcalloc (1, sizeof *c);
  c->cancel_fd = -1;
  c->path_fd = -1;
  c->fd = -1;
  c->inotify_fd = -1;
  c->socket_path = firec_xstrdup (socket_path);
  if (resolve_connect_path (c, err) < 0)
    {
      firec_fcapi_close (c);
      return -1;
    }
  *out = c;
  return 0;
}

static bool
valid_token (const char *s, bool path)
{
  if (s == NULL || *s == '\0' || (path && *s != '/'))
    return false;
  for (; *s; s++)
    {
      unsigned char ch = (unsigned char) *s;
      if (path ? (ch <= ' ' || ch == 0x7f) : (ch < 'A' || ch > 'Z'))
        return false;
    }
  return true;
}

/* A kept connection the server has closed (or written to unasked) since the last
   answer is not reused: reconnecting first is safe, re-sending after is not. */
static bool
connection_still_open (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
  return poll (&p, 1, 0) == 0;
}

static int
ensure_connected (struct firec_fcapi *c, firec_error_t *err)
{
  /* With answers pending, whatever is readable is theirs. */
  if (c->fd >= 0 && (c->in_flight > 0 || (c->unread.len == 0 && connection_still_open (c->fd))))
    return 0;
  disconnect (c);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  memcpy (addr.sun_path, c->connect_path, strlen (c->connect_path) + 1);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot create a socket");
  /* connect () on AF_UNIX completes at once or fails (EAGAIN: backlog full). */
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int e = errno;
      close (fd);
      return firec_error_set (err, e, "cannot connect");
    }
  c->fd = fd;
  return 0;
}

/* Waits until fd is ready for events or the deadline (ms on firec_now_ms's clock,
   < 0: none) passes: 1 ready, 0 timed out, -1 error (ECANCELED: cancel_fd
   became readable). */
static int
wait_fd (int fd, short events, long long deadline, int cancel_fd)
{
  for (;;)
    {
      int ms = -1;
      if (deadline >= 0)
        {
          long long left = deadline - firec_now_ms ();
          if (left <= 0)
            return 0;
          ms = left > INT_MAX ? INT_MAX : (int) left;
        }
      struct pollfd p[2] = { { .fd = fd, .events = events }, { .fd = cancel_fd, .events = POLLIN } };
      int n = poll (p, 2, ms);
      if (n > 0 && p[1].revents)
        {
          errno = ECANCELED;
          return -1;
        }
      if (n > 0)
        return 1;
      if (n < 0 && errno != EINTR)
        return -1;
    }
}

/* Sends all of data before the deadline. */
static int
send_all (int fd, const char *data, size_t len, long long deadline, int cancel_fd, bool *timed_out)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
      if (n > 0)
        {
          data += n;
          len -= (size_t) n;
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno != EAGAIN)
        return -1;
      int ready = wait_fd (fd, POLLOUT, deadline, cancel_fd);
      if (ready <= 0)
        {
          *timed_out = ready == 0;
          return -1;
        }
    }
  return 0;
}

/* Feeds data to the parser; once the answer is complete, what follows it (the
   start of the next answer, when requests are pipelined) is kept in c->unread.
   1: complete, 0: more needed, -1: the parser stopped (error or too big). */
static int
parse_more (struct firec_fcapi *c, http_parser *parser, struct answer *a, const char *data, size_t len)
{
  size_t used = http_parser_execute (parser, &answer_settings, data, len);
  if (a->complete)
    {
      if (used < len)
        firec_buf_append (&c->unread, data + used, len - used);
      return 1;
    }
  return a->too_big || HTTP_PARSER_ERRNO (parser) != HPE_OK ? -1 : 0;
}

/* Reads and parses until the answer is complete. Returns 0, or -1 with *why set:
   ETIMEDOUT, ECONNRESET (closed before any of the answer came), EPIPE (closed in
   the middle of it), EFBIG, EPROTO, or the errno of recv. */
static int
receive_answer (struct firec_fcapi *c, http_parser *parser, struct answer *a, long long deadline, int *why)
{
  bool got_any = false;
  if (c->unread.len)
    {
      struct firec_buf carried = c->unread;
      c->unread = (struct firec_buf){ 0 };
      int r = parse_more (c, parser, a, carried.data, carried.len);
      firec_buf_release (&carried);
      if (r != 0)
        return r > 0 ? 0 : (*why = a->too_big ? EFBIG : EPROTO, -1);
      got_any = true;
    }
  char chunk[16 * 1024];
  for (;;)
    {
      ssize_t n = recv (c->fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        {
          int ready = wait_fd (c->fd, POLLIN, deadline, c->cancel_fd);
          if (ready <= 0)
            {
              *why = ready == 0 ? ETIMEDOUT : errno;
              return -1;
            }
          continue;
        }
      if (n < 0)
        {
          *why = errno;
          return -1;
        }
      /* n == 0 tells the parser that the stream ended: an answer without a length
         ends there. */
      int r = parse_more (c, parser, a, chunk, (size_t) n);
      if (r > 0)
        return 0;
      if (n == 0)
        *why = got_any ? EPIPE : ECONNRESET; /* the parser calls that an unexpected EOF */
      else if (r < 0)
        *why = a->too_big ? EFBIG : EPROTO;
      else
        {
          got_any = true;
          continue;
        }
      return -1;
    }
}

static long long
deadline_after (long timeout_ms)
{
  return timeout_ms > 0 ? firec_now_ms () + timeout_ms : -1;
}

static int
send_request (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
              long long deadline, firec_error_t *err)
{
  if (!valid_token (method, false))
    return firec_error_set_errno (err, EINVAL, "invalid HTTP method \"%s\"", method ? method : "(null)");
  if (!valid_token (path, true))
    return firec_error_set_errno (err, EINVAL, "invalid API path \"%s\"", path ? path : "(null)");
  const char *who = c->socket_path;

  cleanup_error firec_error_t connect_err = NULL;
  if (ensure_connected (c, &connect_err) < 0)
    return firec_error_set (err, connect_err->errno_value, "%s %s on API socket %s: %s", method, path, who,
                            "cannot connect");

  /* A known length, never chunked (micro_http rejects chunked uploads), and no
     Expect: 100-continue to wait for. */
  struct firec_buf req = { 0 };
  firec_buf_printf (&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: firec-run/" PACKAGE_VERSION
                          "\r\nAccept: application/json\r\n",
                    method, path);
  if (body)
    firec_buf_printf (&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen (body));
  firec_buf_puts (&req, "\r\n");
  if (body)
    firec_buf_puts (&req, body); /* one write: micro_http wakes once per request */
  bool timed_out = false;
  int sent = send_all (c->fd, req.data, req.len, deadline, c->cancel_fd, &timed_out);
  int send_errno = errno;
  firec_buf_release (&req);
  if (sent < 0)
    {
      /* Answers to earlier requests may still be waiting to be read. */
      if (c->in_flight == 0)
        disconnect (c);
      if (timed_out)
        return firec_error_set_errno (err, ETIMEDOUT, "%s %s on API socket %s: no answer within %ld ms", method,
                                      path, who, timeout_ms);
      return firec_error_set (err, send_errno, "%s %s on API socket %s: cannot send", method, path, who);
    }
  c->in_flight++;
  return 0;
}

static int
receive_response (struct firec_fcapi *c, const char *method, const char *path, long timeout_ms, long long deadline,
                  struct firec_fcapi_response *resp, firec_error_t *err)
{
  resp->status = 0;
  resp->body = NULL;
  resp->deprecated = false;
  const char *who = c->socket_path;
  if (c->in_flight == 0 || c->fd < 0)
    return firec_error_set_errno (err, EINVAL, "%s %s on API socket %s: no request is waiting for an answer",
                                  method, path, who);
  http_parser parser;
  http_parser_init (&parser, HTTP_RESPONSE);
  struct answer a = { 0 };
  parser.data = &a;
  int why = 0;
  int rc = receive_answer (c, &parser, &a, deadline, &why);
  firec_buf_release (&a.field);
  if (rc < 0)
    {
      disconnect (c);
      firec_buf_release (&a.body);
      switch (why)
        {
        case ETIMEDOUT:
          return firec_error_set_errno (err, ETIMEDOUT, "%s %s on API socket %s: no answer within %ld ms", method,
                                        path, who, timeout_ms);
        case ECONNRESET:
          return firec_error_set_errno (err, ECONNRESET,
                                        "%s %s on API socket %s: the connection closed without an answer", method,
                                        path, who);
        case EPIPE:
          return firec_error_set_errno (err, EPIPE,
                                        "%s %s on API socket %s: the connection closed in the middle of the answer",
                                        method, path, who);
        case EFBIG:
          return firec_error_set_errno (err, EFBIG, "%s %s on API socket %s: the answer is larger than %d bytes",
                                        method, path, who, FCAPI_MAX_ANSWER);
        case ECANCELED:
          return firec_error_set_errno (err, ECANCELED, "%s %s on API socket %s: interrupted", method, path, who);
        case EPROTO:
          return firec_error_set_errno (err, EPROTO, "%s %s on API socket %s: malformed HTTP answer: %s", method,
                                        path, who, http_errno_description (HTTP_PARSER_ERRNO (&parser)));
        default:
          return firec_error_set (err, why, "%s %s on API socket %s: cannot receive", method, path, who);
        }
    }
  c->in_flight--;
  if (!http_should_keep_alive (&parser))
    disconnect (c); /* answers still pending would be lost: the server said it closes */
  resp->status = parser.status_code;
  resp->body = firec_buf_steal (&a.body);
  resp->deprecated = a.deprecated;
  return 0;
}

int
firec_fcapi_send (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
                  firec_error_t *err)
{
  return send_request (c, method, path, body, timeout_ms, deadline_after (timeout_ms), err);
}

int
firec_fcapi_receive (struct firec_fcapi *c, const char *method, const char *path, long timeout_ms,
                     struct firec_fcapi_response *resp, firec_error_t *err)
{
  return receive_response (c, method, path, timeout_ms, deadline_after (timeout_ms), resp, err);
}

int
firec_fcapi_request (struct firec_fcapi *c, const char *method, const char *path, const char *body,
                     long timeout_ms, struct firec_fcapi_response *resp, firec_error_t *err)
{
  resp->status = 0;
  resp->body = NULL;
  resp->deprecated = false;
  if (c->in_flight > 0)
    return firec_error_set_errno (err, EBUSY, "%s %s on API socket %s: answers to earlier requests are pending",
                                  method ? method : "?", path ? path : "?", c->socket_path);
  long long deadline = deadline_after (timeout_ms);
  if (send_request (c, method, path, body, timeout_ms, deadline, err) < 0)
    return -1;
  return receive_response (c, method, path, timeout_ms, deadline, resp, err);
}

char *
firec_fcapi_fault_text (const char *body)
{
  if (body == NULL)
    return firec_xstrdup ("");
  cleanup_cjson cJSON *json = cJSON_Parse (body);
  if (cJSON_IsObject (json))
    {
      static const char *const keys[] = { "fault_message", "error" };
      for (size_t i = 0; i < FIREC_N_ELEMENTS (keys); i++)
        {
          const cJSON *item = cJSON_GetObjectItemCaseSensitive (json, keys[i]);
          if (cJSON_IsString (item) && cJSON_GetArraySize (json) == 1)
            return firec_xstrdup (item->valuestring);
        }
    }
  return firec_xstrdup (body);
}

int
firec_fcapi_check (const char *method, const char *path, const char *body, const struct firec_fcapi_response *r,
                   firec_error_t *err)
{
  if (r->status >= 200 && r->status < 300)
    return 0;
  struct firec_buf msg = { 0 };
  firec_buf_printf (&msg, "%s %s", method, path);
  if (body)
    {
      size_t len = strlen (body);
      firec_buf_puts (&msg, " ");
      if (len > FCAPI_QUOTE_BODY)
        {
          firec_buf_append (&msg, body, FCAPI_QUOTE_BODY);
          firec_buf_printf (&msg, "... (%zu bytes)", len);
        }
      else
        firec_buf_puts (&msg, body);
    }
  if (r->body == NULL || r->body[0] == '\0')
    firec_buf_printf (&msg, ": Firecracker answered %ld with no body", r->status);
  else
    {
      cleanup_free char *fault = firec_fcapi_fault_text (r->body);
      firec_buf_printf (&msg, ": Firecracker answered %ld: %s", r->status, fault);
    }
  cleanup_free char *text = firec_buf_steal (&msg);
  return firec_error_set (err, 0, "%s", text);
}

int
firec_fcapi_call (struct firec_fcapi *c, const char *method, const char *path, const char *body,
                  long timeout_ms, struct firec_fcapi_response *resp, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response own = { 0 };
  struct firec_fcapi_response *r = resp ? resp : &own;
  if (firec_fcapi_request (c, method, path, body, timeout_ms, r, err) < 0)
    return -1;
  return firec_fcapi_check (method, path, body, r, err);
}

/* ------------------------------------------------------------------ readiness */

struct dir_watch
{
  int ino;       /* inotify fd, or -1 when inotify is not available */
  int wd;
  char *watched; /* the directory under watch */
};

static char *
parent_dir (const char *path)
{
  const char *slash = strrchr (path, '/');
  if (slash == NULL)
    return firec_xstrdup (".");
  while (slash > path && slash[-1] == '/')
    slash--;
  if (slash == path)
    return firec_xstrdup ("/");
  return firec_xstrndup (path, (size_t) (slash - path));
}

/* The deepest directory of dir's chain that exists: the socket's own directory once it
   is there, else the ancestor in which the next missing component will appear. */
static char *
deepest_existing (const char *dir, int *missing_errno)
{
  char *p = firec_xstrdup (dir);
  *missing_errno = 0;
  struct stat st;
  while (stat (p, &st) < 0 && (errno == ENOENT || errno == ENOTDIR))
    {
      if (*missing_errno == 0)
        *missing_errno = errno;
      if (strcmp (p, "/") == 0 || strcmp (p, ".") == 0)
        break;
      char *up = parent_dir (p);
      free (p);
      p = up;
    }
  return p;
}

/* Watches the deepest existing directory on the way to the socket, moving the watch as
   directories appear. A watch is placed before the next look, so nothing created in
   between is missed. */
static int
update_watch (struct dir_watch *w, const char *dir, firec_error_t *err)
{
  if (w->ino < 0)
    return 0;
  for (;;)
    {
      int missing;
      cleanup_free char *target = deepest_existing (dir, &missing);
      if (w->watched && strcmp (w->watched, target) == 0)
        return 0;
      if (w->wd >= 0)
        inotify_rm_watch (w->ino, w->wd);
      free (w->watched);
      w->watched = NULL;
      w->wd = inotify_add_watch (w->ino, target, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
      if (w->wd < 0)
        {
          if (errno == ENOENT || errno == ENOTDIR)
            continue; /* removed meanwhile: look again */
          return firec_error_set (err, errno, "cannot watch %s for the API socket", target);
        }
      w->watched = steal_pointer (&target);
      /* Loop once more: what was missing may have been created before the watch. */
    }
}

static void
drain_inotify (int ino)
{
  char events[4096] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
  while (ino >= 0 && read (ino, events, sizeof events) > 0)
    ;
}

static bool
retryable_errno (int e)
{
  switch (e)
    {
    case 0:
    case ECONNREFUSED: /* bound, not listening yet */
    case ENOENT:       /* removed and about to be recreated */
    case EAGAIN:       /* backlog full */
    case ECONNRESET:
    case EPIPE:
    case ETIMEDOUT:
      return true;
    default:
      return false;
    }
}

void
firec_fcapi_set_cancel_fd (struct firec_fcapi *c, int cancel_fd)
{
  c->cancel_fd = cancel_fd;
}

int
firec_fcapi_wait_ready (const char *socket_path, pid_t pid_or_0, int pidfd_or_minus1, long timeout_ms, int cancel_fd,
                        struct firec_fcapi **ready_client, firec_error_t *err)
{
  if (ready_client)
    *ready_client = NULL;
  long long deadline = timeout_ms < 0 ? -1 : firec_now_ms () + timeout_ms;
  pid_t pid = pid_or_0;
  int pidfd = pidfd_or_minus1;
  bool watch_process = pid > 0 || pidfd >= 0;

  cleanup_close int own_pidfd = -1;
  if (pidfd < 0 && pid > 0)
    {
      firec_error_t ignored = NULL;
      if (firec_pidfd_open (pid, &own_pidfd, &ignored) == 0)
        pidfd = own_pidfd;
      firec_error_release (&ignored); /* no pidfd: checked on each wake-up instead */
    }

  cleanup_free char *dir = parent_dir (socket_path);
  cleanup_close int ino = inotify_init1 (IN_CLOEXEC | IN_NONBLOCK);
  struct dir_watch watch = { .ino = ino, .wd = -1 };
  cleanup_fcapi struct firec_fcapi *client = NULL;
  cleanup_free char *last_problem = NULL;
  bool socket_seen = false;
  long backoff_ms = 0;
  int rc = -1;

  for (;;)
    {
      if (watch_process)
        {
          int status;
          int exited = firec_process_peek_exit (pid, pidfd, &status, err);
          if (exited < 0)
            break;
          if (exited)
            {
              cleanup_free char *how = firec_describe_wait_status (status);
              firec_error_set (err, 0, "firecracker %s before its API socket %s", how,
                               socket_seen ? "accepted a connection" : "appeared");
              break;
            }
        }

      int wait_ms;
      struct stat st;
      int stat_rc = stat (socket_path, &st);
      if (stat_rc == 0 && S_ISSOCK (st.st_mode))
        {
          /* No more watching: the watch's removal starts the grace period that
             closing the inotify fd would otherwise wait for. */
          if (watch.wd >= 0)
            inotify_rm_watch (ino, watch.wd);
          watch.wd = -1;
          free (watch.watched);
          watch.watched = NULL;
          socket_seen = true;
          firec_error_t attempt_err = NULL;
          if (client == NULL && firec_fcapi_open (socket_path, &client, &attempt_err) < 0)
            client = NULL;
          if (client && ensure_connected (client, &attempt_err) == 0)
            {
              rc = 0;
              if (ready_client)
                {
                  client->inotify_fd = steal_fd (&ino);
                  *ready_client = steal_pointer (&client);
                }
              break;
            }
          if (attempt_err)
            {
              int e = attempt_err->errno_value;
              free (last_problem);
              last_problem = firec_xstrdup (attempt_err->message);
              if (!retryable_errno (e))
                {
                  firec_error_set (err, 0, "Firecracker API socket %s is not usable: %s", socket_path, last_problem);
                  firec_error_release (&attempt_err);
                  break;
                }
              firec_error_release (&attempt_err);
            }
          backoff_ms = backoff_ms == 0 ? 1 : backoff_ms >= 32 ? 50 : backoff_ms * 2;
          wait_ms = (int) backoff_ms;
        }
      else if (stat_rc == 0)
        {
          /* Something else sits there; Firecracker would fail to bind and exit. */
          free (last_problem);
          last_problem = firec_xstrdup ("it exists but is not a socket");
          backoff_ms = backoff_ms == 0 ? 1 : backoff_ms >= 32 ? 50 : backoff_ms * 2;
          wait_ms = (int) backoff_ms;
        }
      else
        {
          backoff_ms = 0;
          if (update_watch (&watch, dir, err) < 0)
            break;
          /* Looked again after the watch is in place: no creation can slip by. */
          if (access (socket_path, F_OK) == 0)
            continue;
          free (last_problem);
          int missing;
          free (deepest_existing (dir, &missing));
          last_problem = missing ? firec_xasprintf ("it does not exist, nor does %s", dir)
                                 : firec_xstrdup ("it does not exist");
          /* Without inotify or a pidfd, look again on a short cadence. */
          wait_ms = (ino < 0 || (watch_process && pidfd < 0)) ? 50 : -1;
        }

      if (deadline >= 0)
        {
          long long left = deadline - firec_now_ms ();
          if (left <= 0)
            {
              firec_error_set_errno (err, ETIMEDOUT, "Firecracker API socket %s not ready within %ld ms: %s",
                                socket_path, timeout_ms, last_problem);
              break;
            }
          if (wait_ms < 0 || left < wait_ms)
            wait_ms = left > INT_MAX ? INT_MAX : (int) left;
        }

      struct pollfd fds[3] = {
        { .fd = ino, .events = POLLIN },
        { .fd = pidfd, .events = POLLIN },
        { .fd = cancel_fd, .events = POLLIN },
      };
      if (poll (fds, 3, wait_ms) < 0 && errno != EINTR)
        {
          firec_error_set (err, errno, "cannot wait for API socket %s", socket_path);
          break;
        }
      if (fds[2].revents)
        {
          firec_error_set_errno (err, ECANCELED, "interrupted while waiting for API socket %s", socket_path);
          break;
        }
      drain_inotify (ino);
    }
  free (watch.watched);
  return rc;
}
