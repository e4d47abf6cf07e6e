/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "curl-dl.h"
#include "fcapi.h"
#include "jailfs.h"
#include "process.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

/* libcurl, loaded only when Firecracker is spoken to.

   Linked normally, libcurl and the ~30 libraries it needs (TLS, LDAP, Kerberos,
   SSH, IDN, HTTP/2) are mapped and relocated by ld.so before main in every
   invocation, including validate, plan, render, import, schema and ps, which never
   send a request: `firec-run --version` went from 1.0 to 4.1 ms of CPU and from 90
   to 519 page faults, `validate` from 1.5 to 4.6 ms (perf stat, 100 runs, the
   development machine). So no binary links it: curl-dl.c dlopens the soname
   configure found (an ELF .note.dlopen names it for packagers) and resolves the
   functions used here once. Loading it costs ~4.3 ms of CPU whoever pays: 16M
   instructions in dlopen (14M of them symbol lookups for the relocations of the
   30 libraries, all BIND_NOW) and 2.3M in curl_global_init (OpenSSL's init,
   whatever the flags). `run` starts it on a helper thread first thing
   (firec_curl_preload), so that it overlaps validation, preflight, staging and
   Firecracker's own start on the other core: with the test doubles and with
   Firecracker 1.5.1 the first request found it loaded in 7 of 8 starts (it
   waited 1.2 ms once). What stays on the main thread: ~80k instructions per
   request and 0.7M at exit (OpenSSL's atexit handler), ~0.3 ms in all. A client
   in a separate process would pay an exec and the same loading on the critical
   path, and a hop per request. On two vCPUs the loading's CPU shows wherever it
   runs: started after preflight, after the jailer's spawn or on a SCHED_IDLE
   thread instead, the whole start stayed within +-1.5 ms of this (README,
   Performance): none was measurably better, so it stays where it is simplest,
   one call at the top of `run`, none inside the interpreter. firec-supervise
   and the post-boot commands (pause, snapshot ...) load it at their first
   request.

   What libcurl is asked to do, and why:
   - One easy handle on a multi handle of our own: curl_multi_poll waits on the
     connection and on the caller's cancel fd together, so a signal (the run's
     signalfd) ends a request at once (ECANCELED) without reading that fd.
   - A non-idempotent request (anything but GET) goes on a fresh connection that
     is closed after its answer (CURLOPT_FRESH_CONNECT, CURLOPT_FORBID_REUSE).
     libcurl re-sends a request once when a *reused* connection closes before
     any byte of the answer (Curl_retry_request requires conn->bits.reuse), which
     could apply a PUT twice; a fresh connection is never a reused one. A GET may
     be re-sent that way, harmlessly, and keeps one connection (MAXCONNECTS 1).
     The fresh connection costs ~35 us per request with Firecracker 1.5.1
     (PUT /machine-config: 100-118 us kept, 140-160 us fresh).
   - One request at a time: libcurl does not pipeline HTTP/1.1, and Firecracker
     may exit right after answering (a failed snapshot load): its answer must be
     read before anything else is sent (with a GET pipelined behind the load,
     real 1.5.1 lost its 400 in 3 of 8 tries).
   - Sockets CLOEXEC from birth (CURLOPT_OPENSOCKETFUNCTION), and the socketpair
     libcurl 7.88 makes inside a multi handle without it is marked afterwards.
   - No proxy (whatever the environment says), no Expect: 100-continue (micro_http
     never answers it), a Content-Length body (micro_http rejects chunked ones). */

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
  int cancel_fd;      /* readable: the request in progress fails with ECANCELED; -1: none */
  /* The inotify fd firec_fcapi_wait_ready watched with, its watch removed: closing
     one waits for an RCU grace period (15-20 ms here) unless its last watch went
     away that long before, so it is closed with the client, long after. */
  int inotify_fd;

  const struct firec_curl *curl; /* NULL until the first request */
  CURLM *multi;
  CURL *easy;
  struct curl_slist *headers_json;
  struct curl_slist *headers_plain;
  struct firec_buf answer;
  bool answer_too_big;
  bool deprecated;
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

static curl_socket_t
on_open_socket (void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
  (void) clientp;
  (void) purpose;
  int fd = socket (address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  return fd < 0 ? CURL_SOCKET_BAD : fd;
}

/* ------------------------------------------------------------------ CLOEXEC fix-up */

/* libcurl 7.88 makes a socketpair inside every multi handle (for
   curl_multi_wakeup) without SOCK_CLOEXEC, and no option reaches it: whatever
   inheritable fd curl_multi_init added is marked. Called with no other thread
   making fds (the loader thread is done by then). */
static size_t
list_inheritable_fds (int *fds, size_t max)
{
  size_t n = 0;
  DIR *d = opendir ("/proc/self/fd");
  if (d == NULL)
    return 0;
  struct dirent *e;
  while ((e = readdir (d)) != NULL && n < max)
    {
      if (e->d_name[0] < '0' || e->d_name[0] > '9')
        continue;
      int fd = atoi (e->d_name);
      int flags = fd == dirfd (d) ? -1 : fcntl (fd, F_GETFD);
      if (flags >= 0 && !(flags & FD_CLOEXEC))
        fds[n++] = fd;
    }
  closedir (d);
  return n;
}

static CURLM *
multi_init_cloexec (const struct firec_curl *curl)
{
  int before[64], after[64];
  size_t n_before = list_inheritable_fds (before, FIREC_N_ELEMENTS (before));
  CURLM *multi = curl->multi_init ();
  size_t n_after = list_inheritable_fds (after, FIREC_N_ELEMENTS (after));
  for (size_t i = 0; i < n_after; i++)
    {
      bool known = false;
      for (size_t j = 0; j < n_before && !known; j++)
        known = before[j] == after[i];
      if (!known)
        fcntl (after[i], F_SETFD, FD_CLOEXEC);
    }
  return multi;
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
  if (c->easy)
    c->curl->easy_cleanup (c->easy);
  if (c->multi)
    c->curl->multi_cleanup (c->multi);
  if (c->curl)
    {
      c->curl->slist_free_all (c->headers_json);
      c->curl->slist_free_all (c->headers_plain);
    }
  firec_buf_release (&c->answer);
  if (c->path_fd >= 0)
    close (c->path_fd);
  if (c->inotify_fd >= 0)
    close (c->inotify_fd);
  free (c->socket_path);
  free (c->connect_path);
  free (c);
}

/* sun_path holds 107 bytes and a NUL; libcurl refuses longer paths ("Unix socket
   path too long"). Reach a longer path through a short /proc/self/fd alias instead. */
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
firec_fcapi_open (const char *socket_path, struct firec_fcapi **ret, firec_error_t *err)
{
  *ret = NULL;
  if (socket_path == NULL || *socket_path == '\0')
    return firec_error_set_errno (err, EINVAL, "no API socket path");
  struct firec_fcapi *c = firec_xcalloc (1, sizeof *c);
  c->path_fd = -1;
  c->cancel_fd = -1;
  c->inotify_fd = -1;
  c->socket_path = firec_xstrdup (socket_path);
  if (resolve_connect_path (c, err) < 0)
    {
      firec_fcapi_close (c);
      return -1;
    }
  *ret = c;
  return 0;
}

int
firec_fcapi_open_beneath (const char *root, const char *socket_path, struct firec_fcapi **ret, firec_error_t *err)
{
  *ret = NULL;
  cleanup_close int root_fd = open (root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0)
    return firec_error_set (err, errno, "cannot open the VM root %s", root);
  cleanup_close int sock = -1;
  if (firec_jailfs_open_socket (root_fd, root, socket_path, &sock, err) < 0)
    return -1;
  cleanup_free char *alias = firec_jailfs_proc_path (sock);
  if (firec_fcapi_open (alias, ret, err) < 0)
    return -1;
  /* Messages name the socket; connections go through the fd the walker opened. */
  free ((*ret)->socket_path);
  (*ret)->socket_path = firec_xstrdup (socket_path);
  (*ret)->path_fd = steal_fd (&sock);
  return 0;
}

void
firec_fcapi_set_cancel_fd (struct firec_fcapi *c, int fd)
{
  c->cancel_fd = fd;
}

/* The headers of requests without and with a body. "Expect:" with no value: no
   Expect: 100-continue before a body. */
static int
build_headers (struct firec_fcapi *c)
{
  const struct firec_curl *curl = c->curl;
  static const char *const plain[] = { "Accept: application/json", "Expect:" };
  static const char *const json[] = { "Accept: application/json", "Expect:", "Content-Type: application/json" };
  struct curl_slist *p = NULL, *j = NULL;
  bool ok = true;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (plain) && ok; i++)
    {
      struct curl_slist *more = curl->slist_append (p, plain[i]);
      ok = more != NULL;
      p = more ? more : p;
    }
  for (size_t i = 0; i < FIREC_N_ELEMENTS (json) && ok; i++)
    {
      struct curl_slist *more = curl->slist_append (j, json[i]);
      ok = more != NULL;
      j = more ? more : j;
    }
  if (!ok)
    {
      curl->slist_free_all (p);
      curl->slist_free_all (j);
      return -1;
    }
  c->headers_plain = p;
  c->headers_json = j;
  return 0;
}

#define SETOPT(opt, val)                                                                                               \
  do                                                                                                                   \
    {                                                                                                                  \
      CURLcode setopt_rc_ = curl->easy_setopt (c->easy, opt, val);                                                     \
      if (setopt_rc_ != CURLE_OK)                                                                                      \
        return firec_error_set (err, 0, "libcurl refused option %s: %s", #opt, curl->easy_strerror (setopt_rc_));      \
    }                                                                                                                  \
  while (0)

static int configure_easy (struct firec_fcapi *c, firec_error_t *err);

/* The handles, made at the first request: libcurl is loaded (or its loading
   waited for) only then. */
static int
setup_handles (struct firec_fcapi *c, firec_error_t *err)
{
  if (c->easy)
    return 0;
  const struct firec_curl *curl = c->curl ? c->curl : firec_curl_get (err);
  if (curl == NULL)
    return -1;
  c->curl = curl;
  if (c->multi == NULL && (c->multi = multi_init_cloexec (curl)) == NULL)
    return firec_error_set (err, ENOMEM, "cannot initialize libcurl");
  /* One kept connection, for GETs: the others close after their answer. */
  curl->multi_setopt (c->multi, CURLMOPT_MAXCONNECTS, 1L);

  if (c->headers_json == NULL && build_headers (c) < 0)
    return firec_error_set (err, ENOMEM, "cannot build HTTP headers");

  if ((c->easy = curl->easy_init ()) == NULL)
    return firec_error_set (err, ENOMEM, "cannot initialize libcurl");
  if (configure_easy (c, err) < 0)
    {
      curl->easy_cleanup (steal_pointer (&c->easy)); /* the next request starts over */
      return -1;
    }
  return 0;
}

/* The options that stay the same for every request. */
static int
configure_easy (struct firec_fcapi *c, firec_error_t *err)
{
  const struct firec_curl *curl = c->curl;
  SETOPT (CURLOPT_UNIX_SOCKET_PATH, c->connect_path);
  SETOPT (CURLOPT_NOSIGNAL, 1L);
  SETOPT (CURLOPT_PROXY, "");
  SETOPT (CURLOPT_NOPROXY, "*");
  SETOPT (CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  SETOPT (CURLOPT_PATH_AS_IS, 1L);
  SETOPT (CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT (CURLOPT_TCP_NODELAY, 0L); /* a TCP option: meaningless on AF_UNIX */
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

/* This request's options: method, body, timeout, and for anything but a GET a
   connection of its own (see the comment at the top). */
static int
set_request (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
             firec_error_t *err)
{
  const struct firec_curl *curl = c->curl;
  bool get = strcmp (method, "GET") == 0;
  cleanup_free char *url = firec_xasprintf ("http://localhost%s", path);
  SETOPT (CURLOPT_URL, url);
  if (body)
    {
      /* A known length, never chunked. POSTFIELDS makes it a POST, renamed below. */
      SETOPT (CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen (body));
      SETOPT (CURLOPT_POSTFIELDS, body);
      SETOPT (CURLOPT_HTTPHEADER, c->headers_json);
    }
  else
    {
      SETOPT (CURLOPT_HTTPGET, 1L);
      SETOPT (CURLOPT_HTTPHEADER, c->headers_plain);
    }
  SETOPT (CURLOPT_CUSTOMREQUEST, get ? NULL : method);
  SETOPT (CURLOPT_FRESH_CONNECT, get ? 0L : 1L);
  SETOPT (CURLOPT_FORBID_REUSE, get ? 0L : 1L);
  SETOPT (CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
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

static bool
readable_now (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return fd >= 0 && poll (&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR));
}

/* Drives the transfer until it ends (0, its result in *result) or the cancel fd
   polls readable (-1, ECANCELED). */
static int
perform (struct firec_fcapi *c, CURLcode *result, firec_error_t *err)
{
  const struct firec_curl *curl = c->curl;
  for (;;)
    {
      int running = 0;
      CURLMcode mc = curl->multi_perform (c->multi, &running);
      if (mc != CURLM_OK)
        return firec_error_set (err, 0, "libcurl: %s", curl->multi_strerror (mc));
      if (running == 0)
        break;
      /* libcurl shortens the wait to its own timers (CURLOPT_TIMEOUT_MS). */
      struct curl_waitfd extra = { .fd = c->cancel_fd, .events = CURL_WAIT_POLLIN };
      mc = curl->multi_poll (c->multi, &extra, c->cancel_fd >= 0 ? 1 : 0, INT_MAX, NULL);
      if (mc != CURLM_OK)
        return firec_error_set (err, 0, "libcurl: %s", curl->multi_strerror (mc));
      /* revents only reports POLLIN: a hung-up pipe is seen by readable_now. */
      if (c->cancel_fd >= 0 && (extra.revents || readable_now (c->cancel_fd)))
        return firec_error_set_errno (err, ECANCELED, "cancelled");
    }
  int left;
  CURLMsg *msg;
  *result = CURLE_GOT_NOTHING;
  while ((msg = curl->multi_info_read (c->multi, &left)) != NULL)
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
      *result = msg->data.result;
  return 0;
}

static int
transport_error (struct firec_fcapi *c, CURLcode rc, const char *method, const char *path, long timeout_ms,
                 firec_error_t *err)
{
  long os_errno = 0;
  c->curl->easy_getinfo (c->easy, CURLINFO_OS_ERRNO, &os_errno);
  const char *who = c->socket_path;
  const char *detail = c->errbuf[0] ? c->errbuf : c->curl->easy_strerror (rc);
  /* An if chain, not a switch: -Wswitch-enum would want all of libcurl's codes. */
  if (rc == CURLE_COULDNT_CONNECT)
    {
      if (os_errno)
        return firec_error_set (err, (int) os_errno, "%s %s on API socket %s: cannot connect", method, path, who);
      return firec_error_set (err, 0, "%s %s on API socket %s: cannot connect (%s)", method, path, who, detail);
    }
  if (rc == CURLE_OPERATION_TIMEDOUT)
    return firec_error_set_errno (err, ETIMEDOUT, "%s %s on API socket %s: no answer within %ld ms", method, path, who,
                                  timeout_ms);
  if (rc == CURLE_GOT_NOTHING)
    return firec_error_set_errno (err, ECONNRESET, "%s %s on API socket %s: the connection closed without an answer",
                                  method, path, who);
  if (rc == CURLE_PARTIAL_FILE)
    return firec_error_set_errno (
        err, EPIPE, "%s %s on API socket %s: the connection closed in the middle of the answer", method, path, who);
  if (rc == CURLE_WRITE_ERROR && c->answer_too_big)
    return firec_error_set_errno (err, EFBIG, "%s %s on API socket %s: the answer is larger than %d bytes", method,
                                  path, who, FCAPI_MAX_ANSWER);
  if (rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_UNSUPPORTED_PROTOCOL)
    return firec_error_set_errno (err, EPROTO, "%s %s on API socket %s: malformed HTTP answer: %s", method, path, who,
                                  detail);
  if ((rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR) && os_errno)
    return firec_error_set (err, (int) os_errno, "%s %s on API socket %s: %s", method, path, who,
                            rc == CURLE_SEND_ERROR ? "cannot send" : "cannot receive");
  return firec_error_set_errno (err, (int) os_errno, "%s %s on API socket %s: %s", method, path, who, detail);
}

int
firec_fcapi_request (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
                     struct firec_fcapi_response *resp, firec_error_t *err)
{
  resp->status = 0;
  resp->body = NULL;
  resp->deprecated = false;
  if (!valid_token (method, false))
    return firec_error_set_errno (err, EINVAL, "invalid HTTP method \"%s\"", method ? method : "(null)");
  if (!valid_token (path, true))
    return firec_error_set_errno (err, EINVAL, "invalid API path \"%s\"", path ? path : "(null)");
  if (readable_now (c->cancel_fd))
    return firec_error_set_errno (err, ECANCELED, "%s %s on API socket %s: cancelled", method, path, c->socket_path);
  if (setup_handles (c, err) < 0 || set_request (c, method, path, body, timeout_ms, err) < 0)
    {
      firec_error_prefix (err, "%s %s on API socket %s", method, path, c->socket_path);
      return -1;
    }

  firec_buf_release (&c->answer);
  c->answer_too_big = false;
  c->deprecated = false;
  c->errbuf[0] = '\0';
  CURLMcode mc = c->curl->multi_add_handle (c->multi, c->easy);
  if (mc != CURLM_OK)
    return firec_error_set (err, 0, "%s %s on API socket %s: libcurl: %s", method, path, c->socket_path,
                            c->curl->multi_strerror (mc));
  CURLcode result = CURLE_OK;
  int rc = perform (c, &result, err);
  /* Also ends a transfer cut short, closing its connection. */
  c->curl->multi_remove_handle (c->multi, c->easy);
  if (rc < 0)
    {
      firec_buf_release (&c->answer);
      firec_error_prefix (err, "%s %s on API socket %s", method, path, c->socket_path);
      return -1;
    }
  if (result != CURLE_OK)
    {
      firec_buf_release (&c->answer);
      return transport_error (c, result, method, path, timeout_ms, err);
    }
  long status = 0;
  c->curl->easy_getinfo (c->easy, CURLINFO_RESPONSE_CODE, &status);
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
firec_fcapi_call (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
                  struct firec_fcapi_response *resp, firec_error_t *err)
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
  int ino; /* inotify fd, or -1 when inotify is not available */
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
  char events[4096] __attribute__ ((aligned (__alignof__(struct inotify_event))));
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

/* One connection attempt on the client's path: the connected fd, or -1 with errno. */
static int
connect_once (const struct firec_fcapi *c)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  memcpy (addr.sun_path, c->connect_path, strlen (c->connect_path) + 1);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  /* connect () on AF_UNIX completes at once or fails (EAGAIN: backlog full). */
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int e = errno;
      close (fd);
      errno = e;
      return -1;
    }
  return fd;
}

/* What sits at socket_path: through the walker below root (a name the jail's
   uid controls is never followed), or by path when root is NULL. */
static int
probe_socket (int root_fd, const char *root, const char *socket_path, struct stat *st)
{
  if (root_fd < 0)
    return stat (socket_path, st);
  size_t n = strlen (root);
  cleanup_error firec_error_t ignored = NULL;
  cleanup_close int fd = -1;
  if (strncmp (socket_path, root, n) != 0 || socket_path[n] != '/')
    {
      errno = EINVAL;
      return -1;
    }
  if (firec_jailfs_open (root_fd, socket_path + n, O_PATH, FIREC_JAILFS_NO_XDEV, st, &fd, &ignored) < 0)
    {
      errno = ignored && ignored->errno_value ? ignored->errno_value : ENOENT;
      return -1;
    }
  return 0;
}

static int
open_client (const char *root, const char *socket_path, struct firec_fcapi **client, firec_error_t *err)
{
  return root ? firec_fcapi_open_beneath (root, socket_path, client, err) : firec_fcapi_open (socket_path, client, err);
}

int
firec_fcapi_wait_ready (const char *root, const char *socket_path, pid_t pid_or_0, int pidfd_or_minus1, int cancel_fd,
                        long timeout_ms, struct firec_fcapi **ready_client, firec_error_t *err)
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

  cleanup_close int root_fd = root ? open (root, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
  if (root && root_fd < 0)
    return firec_error_set (err, errno, "cannot open the VM root %s", root);
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
      if (readable_now (cancel_fd))
        {
          firec_error_set_errno (err, ECANCELED, "waiting for Firecracker API socket %s: cancelled", socket_path);
          break;
        }
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
      int stat_rc = probe_socket (root_fd, root, socket_path, &st);
      if (stat_rc < 0 && errno == ELOOP)
        {
          firec_error_set (err, ELOOP, "Firecracker API socket %s is a symbolic link: refusing to follow it",
                           socket_path);
          break;
        }
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
          if (client == NULL && open_client (root, socket_path, &client, &attempt_err) < 0)
            client = NULL;
          int fd = client ? connect_once (client) : -1;
          if (fd >= 0)
            {
              /* Accepted: libcurl makes its own connection for the first request
                 (7.88 calls connect () even on a socket that
                 CURLOPT_SOCKOPTFUNCTION declares connected: EISCONN). */
              close (fd);
              rc = 0;
              if (ready_client)
                {
                  client->cancel_fd = cancel_fd;
                  client->inotify_fd = steal_fd (&ino);
                  *ready_client = steal_pointer (&client);
                }
              break;
            }
          if (client)
            firec_error_set (&attempt_err, errno, "cannot connect");
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
          last_problem
              = missing ? firec_xasprintf ("it does not exist, nor does %s", dir) : firec_xstrdup ("it does not exist");
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

      struct pollfd fds[3];
      nfds_t n = 0;
      if (cancel_fd >= 0)
        fds[n++] = (struct pollfd){ .fd = cancel_fd, .events = POLLIN };
      if (ino >= 0)
        fds[n++] = (struct pollfd){ .fd = ino, .events = POLLIN };
      if (pidfd >= 0)
        fds[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
      if (poll (fds, n, wait_ms) < 0 && errno != EINTR)
        {
          firec_error_set (err, errno, "cannot wait for API socket %s", socket_path);
          break;
        }
      if (cancel_fd >= 0 && fds[0].revents)
        {
          firec_error_set_errno (err, ECANCELED, "waiting for Firecracker API socket %s: cancelled", socket_path);
          break;
        }
      drain_inotify (ino);
    }
  free (watch.watched);
  return rc;
}
