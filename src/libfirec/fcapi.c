#include "config.h"

#include "fcapi.h"
#include "process.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
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

#include <curl/curl.h>
#include <cjson/cJSON.h>

#define SUN_PATH_SIZE (sizeof (((struct sockaddr_un *) NULL)->sun_path))
/* Firecracker's answers are small; the biggest is GET /mmds, bounded by its store limit. */
#define FCAPI_MAX_ANSWER (16 * 1024 * 1024)
/* How much of a request body an error message quotes. */
#define FCAPI_QUOTE_BODY 1024

struct firec_fcapi
{
  CURL *curl;
  char *socket_path;  /* as given, for messages */
  char *connect_path; /* what libcurl connects to: the path, or a /proc/self/fd/... alias */
  int path_fd;        /* O_PATH fd the alias goes through, or -1 */
  struct curl_slist *headers_json;
  struct curl_slist *headers_plain;
  struct firec_buf answer;
  bool answer_too_big;
  bool deprecated;
  bool fds_checked;
  char errbuf[CURL_ERROR_SIZE];
};

/* ------------------------------------------------------------------ libcurl callbacks */

static size_t
on_body (char *data, size_t size, size_t nmemb, void *userdata)
{
  struct firec_fcapi *c = userdata;
  size_t n = size * nmemb;
  if (c->answer.len + n > FCAPI_MAX_ANSWER)
    {
      c->answer_too_big = true;
      return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
  firec_buf_append (&c->answer, data, n);
  return n;
}

static size_t
on_header (char *data, size_t size, size_t nitems, void *userdata)
{
  struct firec_fcapi *c = userdata;
  size_t n = size * nitems;
  static const char deprecation[] = "Deprecation:";
  if (n >= 5 && memcmp (data, "HTTP/", 5) == 0)
    c->deprecated = false; /* a new status line: an interim 100 does not count */
  else if (n >= sizeof deprecation - 1 && strncasecmp (data, deprecation, sizeof deprecation - 1) == 0)
    c->deprecated = true;
  return n;
}

/* libcurl 7.88 creates its sockets without SOCK_CLOEXEC; ours are CLOEXEC from birth. */
static curl_socket_t
on_open_socket (void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
  (void) clientp;
  (void) purpose;
  int fd = socket (address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* ------------------------------------------------------------------ CLOEXEC fix-up */

/* libcurl (7.88) makes a socketpair for curl_multi_wakeup in the multi handle behind an
   easy handle, at its first curl_easy_perform, without SOCK_CLOEXEC, and keeps it for the
   handle's life. No option reaches it, so we mark whatever inheritable fd appeared
   during that first transfer. */
struct fd_list
{
  int *fds;
  size_t n;
};

static void
list_inheritable_fds (struct fd_list *list)
{
  list->fds = NULL;
  list->n = 0;
  DIR *d = opendir ("/proc/self/fd");
  if (d == NULL)
    return;
  size_t cap = 0;
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    {
      if (e->d_name[0] < '0' || e->d_name[0] > '9')
        continue;
      int fd = atoi (e->d_name);
      int flags = fd == dirfd (d) ? -1 : fcntl (fd, F_GETFD);
      if (flags < 0 || (flags & FD_CLOEXEC))
        continue;
      if (list->n == cap)
        {
          cap = cap ? cap * 2 : 16;
          list->fds = firec_xrealloc (list->fds, cap * sizeof *list->fds);
        }
      list->fds[list->n++] = fd;
    }
  closedir (d);
}

static void
cloexec_new_fds (const struct fd_list *before)
{
  struct fd_list after;
  list_inheritable_fds (&after);
  for (size_t i = 0; i < after.n; i++)
    {
      bool known = false;
      for (size_t j = 0; j < before->n && !known; j++)
        known = before->fds[j] == after.fds[i];
      int flags;
      if (!known && (flags = fcntl (after.fds[i], F_GETFD)) >= 0)
        fcntl (after.fds[i], F_SETFD, flags | FD_CLOEXEC);
    }
  free (after.fds);
}

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

void
firec_fcapi_close (struct firec_fcapi *c)
{
  if (c == NULL)
    return;
  if (c->curl)
    curl_easy_cleanup (c->curl);
  curl_slist_free_all (c->headers_json);
  curl_slist_free_all (c->headers_plain);
  firec_buf_release (&c->answer);
  if (c->path_fd >= 0)
    close (c->path_fd);
  free (c->socket_path);
  free (c->connect_path);
  free (c);
}

/* sun_path holds 107 bytes and a NUL; libcurl refuses longer paths ("Unix socket path
   too long"). Reach the socket through a short /proc/self/fd alias instead. */
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

#define SETOPT(opt, val)                                                                                   \
  do                                                                                                       \
    {                                                                                                      \
      CURLcode setopt_rc_ = curl_easy_setopt (c->curl, opt, val);                                          \
      if (setopt_rc_ != CURLE_OK)                                                                          \
        return firec_error_set (err, 0, "libcurl refused option %s: %s", #opt,                             \
                                curl_easy_strerror (setopt_rc_));                                          \
    }                                                                                                      \
  while (0)

static int
setup_handle (struct firec_fcapi *c, firec_error_t *err)
{
  c->curl = curl_easy_init ();
  if (c->curl == NULL)
    return firec_error_set (err, 0, "cannot initialize libcurl");

  /* "Expect:" with no value stops libcurl from sending Expect: 100-continue and waiting
     for the interim answer (1 s) before bodies. */
  const char *common[] = { "Accept: application/json", "Expect:" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (common); i++)
    {
      c->headers_plain = curl_slist_append (c->headers_plain, common[i]);
      c->headers_json = curl_slist_append (c->headers_json, common[i]);
    }
  c->headers_json = curl_slist_append (c->headers_json, "Content-Type: application/json");
  if (c->headers_plain == NULL || c->headers_json == NULL)
    return firec_error_set (err, ENOMEM, "cannot build HTTP headers");

  SETOPT (CURLOPT_UNIX_SOCKET_PATH, c->connect_path);
  SETOPT (CURLOPT_NOSIGNAL, 1L);
  SETOPT (CURLOPT_PROXY, "");
  SETOPT (CURLOPT_NOPROXY, "*");
  SETOPT (CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  SETOPT (CURLOPT_PATH_AS_IS, 1L);
  SETOPT (CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT (CURLOPT_TCP_NODELAY, 0L); /* setsockopt (TCP_NODELAY) is meaningless on AF_UNIX */
  SETOPT (CURLOPT_MAXCONNECTS, 1L); /* one VM, one connection */
  SETOPT (CURLOPT_USERAGENT, "firec-run/" PACKAGE_VERSION);
  SETOPT (CURLOPT_ERRORBUFFER, c->errbuf);
  SETOPT (CURLOPT_WRITEFUNCTION, on_body);
  SETOPT (CURLOPT_WRITEDATA, c);
  SETOPT (CURLOPT_HEADERFUNCTION, on_header);
  SETOPT (CURLOPT_HEADERDATA, c);
  SETOPT (CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  SETOPT (CURLOPT_OPENSOCKETDATA, c);
  return 0;
}

int
firec_fcapi_open (const char *socket_path, struct firec_fcapi **out, firec_error_t *err)
{
  *out = NULL;
  if (socket_path == NULL || *socket_path == '\0')
    return firec_error_set_errno (err, EINVAL, "no API socket path");
  struct firec_fcapi *c = firec_xcalloc (1, sizeof *c);
  c->path_fd = -1;
  c->socket_path = firec_xstrdup (socket_path);
  if (resolve_connect_path (c, err) < 0 || setup_handle (c, err) < 0)
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

static int
transport_error (struct firec_fcapi *c, CURLcode rc, const char *method, const char *path, long timeout_ms,
                 firec_error_t *err)
{
  long os_errno = 0;
  curl_easy_getinfo (c->curl, CURLINFO_OS_ERRNO, &os_errno);
  const char *who = c->socket_path;
  /* An if chain, not a switch: -Wswitch-enum would want all of libcurl's codes. */
  if (rc == CURLE_COULDNT_CONNECT)
    {
      if (os_errno)
        return firec_error_set (err, (int) os_errno, "%s %s on API socket %s: cannot connect", method, path, who);
      return firec_error_set (err, 0, "%s %s on API socket %s: cannot connect (%s)", method, path, who, c->errbuf);
    }
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return firec_error_set_errno (err, ETIMEDOUT, "%s %s on API socket %s: no answer within %ld ms", method, path, who,
                             timeout_ms);
  if (rc == CURLE_GOT_NOTHING)
    return firec_error_set_errno (err, ECONNRESET, "%s %s on API socket %s: the connection closed without an answer",
                             method, path, who);
  if (rc == CURLE_WRITE_ERROR && c->answer_too_big)
    return firec_error_set_errno (err, EFBIG, "%s %s on API socket %s: the answer is larger than %d bytes", method, path,
                             who, FCAPI_MAX_ANSWER);
  if ((rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR) && os_errno)
    return firec_error_set (err, (int) os_errno, "%s %s on API socket %s: %s", method, path, who,
                            rc == CURLE_SEND_ERROR ? "cannot send" : "cannot receive");
  const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror (rc);
  return firec_error_set_errno (err, (int) os_errno, "%s %s on API socket %s: %s", method, path, who, detail);
}

int
firec_fcapi_request (struct firec_fcapi *c, const char *method, const char *path, const char *body,
                     long timeout_ms, struct firec_fcapi_response *resp, firec_error_t *err)
{
  resp->status = 0;
  resp->body = NULL;
  resp->deprecated = false;
  if (!valid_token (method, false))
    return firec_error_set_errno (err, EINVAL, "invalid HTTP method \"%s\"", method ? method : "(null)");
  if (!valid_token (path, true))
    return firec_error_set_errno (err, EINVAL, "invalid API path \"%s\"", path ? path : "(null)");

  cleanup_free char *url = firec_xasprintf ("http://localhost%s", path);
  firec_buf_release (&c->answer);
  c->answer_too_big = false;
  c->deprecated = false;
  c->errbuf[0] = '\0';

  CURLcode rc = curl_easy_setopt (c->curl, CURLOPT_URL, url);
  if (rc == CURLE_OK && body)
    {
      /* A known length: never chunked (micro_http rejects chunked uploads). */
      rc = curl_easy_setopt (c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (body));
      if (rc == CURLE_OK)
        rc = curl_easy_setopt (c->curl, CURLOPT_POSTFIELDS, body);
      if (rc == CURLE_OK)
        rc = curl_easy_setopt (c->curl, CURLOPT_CUSTOMREQUEST, strcmp (method, "POST") ? method : NULL);
      if (rc == CURLE_OK)
        rc = curl_easy_setopt (c->curl, CURLOPT_HTTPHEADER, c->headers_json);
    }
  else if (rc == CURLE_OK)
    {
      rc = curl_easy_setopt (c->curl, CURLOPT_HTTPGET, 1L);
      if (rc == CURLE_OK)
        rc = curl_easy_setopt (c->curl, CURLOPT_CUSTOMREQUEST, strcmp (method, "GET") ? method : NULL);
      if (rc == CURLE_OK)
        rc = curl_easy_setopt (c->curl, CURLOPT_HTTPHEADER, c->headers_plain);
    }
  if (rc == CURLE_OK)
    rc = curl_easy_setopt (c->curl, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
  if (rc != CURLE_OK)
    return firec_error_set (err, 0, "%s %s: libcurl refused the request: %s", method, path,
                            curl_easy_strerror (rc));

  struct fd_list before = { 0 };
  if (!c->fds_checked)
    list_inheritable_fds (&before);
  rc = curl_easy_perform (c->curl);
  if (!c->fds_checked)
    {
      cloexec_new_fds (&before);
      free (before.fds);
      c->fds_checked = true;
    }
  if (rc != CURLE_OK)
    {
      firec_buf_release (&c->answer);
      return transport_error (c, rc, method, path, timeout_ms, err);
    }
  long status = 0;
  curl_easy_getinfo (c->curl, CURLINFO_RESPONSE_CODE, &status);
  resp->status = status;
  resp->body = firec_buf_steal (&c->answer);
  resp->deprecated = c->deprecated;
  return 0;
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
firec_fcapi_call (struct firec_fcapi *c, const char *method, const char *path, const char *body,
                  long timeout_ms, struct firec_fcapi_response *resp, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response own = { 0 };
  struct firec_fcapi_response *r = resp ? resp : &own;
  if (firec_fcapi_request (c, method, path, body, timeout_ms, r, err) < 0)
    return -1;
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
  if (r->body[0] == '\0')
    firec_buf_printf (&msg, ": Firecracker answered %ld with no body", r->status);
  else
    {
      cleanup_free char *fault = firec_fcapi_fault_text (r->body);
      firec_buf_printf (&msg, ": Firecracker answered %ld: %s", r->status, fault);
    }
  cleanup_free char *text = firec_buf_steal (&msg);
  return firec_error_set (err, 0, "%s", text);
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

int
firec_fcapi_wait_ready (const char *socket_path, pid_t pid_or_0, int pidfd_or_minus1, long timeout_ms,
                        firec_error_t *err)
{
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
                               socket_seen ? "answered" : "appeared");
              break;
            }
        }

      int wait_ms;
      struct stat st;
      int stat_rc = stat (socket_path, &st);
      if (stat_rc == 0 && S_ISSOCK (st.st_mode))
        {
          socket_seen = true;
          firec_error_t attempt_err = NULL;
          if (client == NULL && firec_fcapi_open (socket_path, &client, &attempt_err) < 0)
            client = NULL;
          if (client)
            {
              long left = deadline < 0 ? 1000 : (long) (deadline - firec_now_ms ());
              long attempt_ms = left < 1 ? 1 : left > 1000 ? 1000 : left;
              cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
              if (firec_fcapi_request (client, "GET", "/", NULL, attempt_ms, &resp, &attempt_err) == 0)
                {
                  if (resp.status == 200)
                    {
                      rc = 0;
                      break;
                    }
                  free (last_problem);
                  last_problem = firec_xasprintf ("GET / answered %ld: %s", resp.status, resp.body);
                }
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

      struct pollfd fds[2];
      nfds_t n = 0;
      if (ino >= 0)
        fds[n++] = (struct pollfd){ .fd = ino, .events = POLLIN };
      if (pidfd >= 0)
        fds[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
      if (poll (fds, n, wait_ms) < 0 && errno != EINTR)
        {
          firec_error_set (err, errno, "cannot wait for API socket %s", socket_path);
          break;
        }
      drain_inotify (ino);
    }
  free (watch.watched);
  return rc;
}
