/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for fcapi.c against an in-test server (a forked child) that answers the
   way Firecracker's micro_http does: "HTTP/1.1 204 \r\n" with no reason phrase and no
   Content-Length, keep-alive always, {"fault_message": ...} and {"error": ...} bodies. */
#include "config.h"

#include "fcapi.h"
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
#include <strings.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static char tmpdir[] = "/tmp/firec-test-fcapi-XXXXXX";

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

/* ------------------------------------------------------------------ the fake server */

#define MAX_CONNS 16

struct conn
{
  int fd;
  bool hanging;
  size_t len;
  char buf[256 * 1024];
};

static int accepts;
static int drops; /* /drop requests received: a re-sent request would count twice */

static void
send_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
      if (n <= 0)
        return;
      data += n;
      len -= (size_t) n;
    }
}

static void
answer (int fd, int status, const char *extra_headers, const char *body)
{
  char head[512];
  int n;
  if (body)
    n = snprintf (head, sizeof head,
                  "HTTP/1.1 %d \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n%s"
                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                  status, extra_headers, strlen (body));
  else
    n = snprintf (head, sizeof head, "HTTP/1.1 %d \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n%s\r\n",
                  status, extra_headers);
  send_all (fd, head, (size_t) n);
  if (body)
    send_all (fd, body, strlen (body));
}

static const char *
header_value (const char *head, const char *name, char *ret, size_t out_size)
{
  size_t nl = strlen (name);
  for (const char *p = strstr (head, "\r\n"); p; p = strstr (p + 2, "\r\n"))
    if (strncasecmp (p + 2, name, nl) == 0 && p[2 + nl] == ':')
      {
        const char *v = p + 3 + nl;
        while (*v == ' ')
          v++;
        size_t len = strcspn (v, "\r");
        if (len >= out_size)
          len = out_size - 1;
        memcpy (ret, v, len);
        ret[len] = '\0';
        return ret;
      }
  return NULL;
}

/* Returns false when the connection is to be closed. */
static bool
serve_requests (struct conn *k)
{
  for (;;)
    {
      if (k->hanging)
        return true;
      char *end = memmem (k->buf, k->len, "\r\n\r\n", 4);
      if (end == NULL)
        return true;
      size_t head_len = (size_t) (end - k->buf) + 4;
      cleanup_free char *head = firec_xstrndup (k->buf, head_len);
      char value[64];
      size_t body_len = header_value (head, "Content-Length", value, sizeof value) ? strtoul (value, NULL, 10) : 0;
      bool chunked = header_value (head, "Transfer-Encoding", value, sizeof value) != NULL;
      if (!chunked && k->len < head_len + body_len)
        return true;
      char method[16] = "", path[256] = "";
      sscanf (head, "%15s %255s", method, path);
      cleanup_free char *body = firec_xstrndup (k->buf + head_len, chunked ? 0 : body_len);
      size_t consumed = chunked ? k->len : head_len + body_len;
      memmove (k->buf, k->buf + consumed, k->len - consumed);
      k->len -= consumed;

      if (chunked)
        answer (k->fd, 400, "",
                "{ \"error\": \"Invalid request.\\nAll previous unanswered requests will be dropped.\" }");
      else if (strcmp (path, "/") == 0 && strcmp (method, "GET") == 0)
        answer (k->fd, 200, "",
                "{\"id\":\"anonymous-instance\",\"state\":\"Not started\",\"vmm_version\":\"1.5.1\","
                "\"app_name\":\"Firecracker\"}");
      else if (strcmp (path, "/boot-source") == 0)
        {
          if (body_len == 0)
            answer (k->fd, 400, "", "{\"fault_message\":\"Empty PUT request.\"}");
          else
            answer (k->fd, 204, "", NULL);
        }
      else if (strcmp (path, "/machine-config") == 0)
        answer (k->fd, 204, "Deprecation: true\r\n", NULL);
      else if (strcmp (path, "/drives/root-fs") == 0)
        answer (k->fd, 400, "",
                "{\"fault_message\":\"API Resource IDs can only contain alphanumeric characters and underscores.\"}");
      else if (strcmp (path, "/transport") == 0)
        answer (k->fd, 400, "",
                "{ \"error\": \"Invalid request.\\nAll previous unanswered requests will be dropped.\" }");
      else if (strcmp (path, "/raw") == 0)
        {
          const char *text = "oops, not json";
          char resp[256];
          int n = snprintf (resp, sizeof resp,
                            "HTTP/1.1 500 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
                            "Content-Length: %zu\r\n\r\n%s",
                            strlen (text), text);
          send_all (k->fd, resp, (size_t) n);
        }
      else if (strcmp (path, "/echo") == 0)
        {
          cJSON *o = cJSON_CreateObject ();
          cJSON_AddStringToObject (o, "head", head);
          cJSON_AddStringToObject (o, "body", body);
          char *text = cJSON_PrintUnformatted (o);
          answer (k->fd, 200, "", text);
          free (text);
          cJSON_Delete (o);
        }
      else if (strcmp (path, "/_accepts") == 0)
        {
          char text[32];
          snprintf (text, sizeof text, "%d", accepts);
          answer (k->fd, 200, "", text);
        }
      else if (strcmp (path, "/hang") == 0)
        k->hanging = true;
      else if (strcmp (path, "/drop") == 0)
        {
          drops++;
          return false;
        }
      else if (strcmp (path, "/_drops") == 0)
        {
          char text[32];
          snprintf (text, sizeof text, "%d", drops);
          answer (k->fd, 200, "", text);
        }
      else if (strcmp (path, "/answer-then-close") == 0)
        {
          answer (k->fd, 204, "", NULL);
          return false;
        }
      else if (strcmp (path, "/half") == 0)
        {
          static const char half[] = "HTTP/1.1 200 \r\nContent-Length: 10\r\n\r\nabc";
          send_all (k->fd, half, sizeof half - 1);
          return false;
        }
      else if (strcmp (path, "/garbage") == 0)
        {
          static const char garbage[] = "SPDY/9 what\r\n\r\n";
          send_all (k->fd, garbage, sizeof garbage - 1);
          return false;
        }
      else if (strcmp (path, "/interim") == 0)
        {
          static const char two[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 \r\nDeprecation: true\r\n\r\n";
          send_all (k->fd, two, sizeof two - 1);
        }
      else if (strcmp (path, "/trickle") == 0)
        {
          /* One byte per write: header names and the body arrive in pieces. */
          static const char slow[] = "HTTP/1.1 400 \r\nServer: Firecracker API\r\nDEPRECATION: true\r\n"
                                     "Content-Length: 27\r\n\r\n{\"fault_message\":\"trickle\"}";
          for (size_t i = 0; i < sizeof slow - 1; i++)
            {
              send_all (k->fd, slow + i, 1);
              sleep_ms (i % 16 == 0);
            }
        }
      else
        {
          char text[512];
          snprintf (text, sizeof text, "{\"fault_message\":\"Invalid request method and/or path: %s %s.\"}", method,
                    path + 1);
          answer (k->fd, 400, "", text);
        }
    }
}

__attribute__ ((noreturn)) static void
serve (int lfd)
{
  static struct conn conns[MAX_CONNS];
  for (int i = 0; i < MAX_CONNS; i++)
    conns[i].fd = -1;
  for (;;)
    {
      struct pollfd fds[MAX_CONNS + 1];
      int idx[MAX_CONNS + 1];
      nfds_t n = 0;
      fds[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
      for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
          {
            idx[n] = i;
            fds[n++] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
          }
      if (poll (fds, n, -1) < 0)
        continue;
      if (fds[0].revents & POLLIN)
        {
          int fd = accept4 (lfd, NULL, NULL, SOCK_CLOEXEC);
          if (fd >= 0)
            {
              accepts++;
              int slot = -1;
              for (int i = 0; i < MAX_CONNS && slot < 0; i++)
                if (conns[i].fd < 0)
                  slot = i;
              if (slot < 0)
                close (fd);
              else
                {
                  conns[slot].fd = fd;
                  conns[slot].len = 0;
                  conns[slot].hanging = false;
                }
            }
        }
      for (nfds_t j = 1; j < n; j++)
        {
          if (!(fds[j].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
          struct conn *k = &conns[idx[j]];
          ssize_t r = read (k->fd, k->buf + k->len, sizeof k->buf - k->len);
          if (r <= 0 || !serve_requests ((k->len += (size_t) r, k)))
            {
              close (k->fd);
              k->fd = -1;
            }
        }
    }
}

struct server_opts
{
  const char *path;
  long delay_ms;        /* before anything */
  bool mkdirs;          /* create the socket's missing directories (after delay_ms) */
  long mkdir_delay_ms;  /* then wait this long before binding */
  bool via_rename;      /* bind to <path>.tmp, then rename: IN_MOVED_TO, not IN_CREATE */
  long listen_delay_ms; /* bound, not listening, this long */
  int exit_code;        /* >= 0: exit with it instead of serving (after delay_ms) */
};

static void
mkdir_p (const char *dir)
{
  char *p = firec_xstrdup (dir);
  for (char *s = p + 1; *s; s++)
    if (*s == '/')
      {
        *s = '\0';
        mkdir (p, 0755);
        *s = '/';
      }
  mkdir (p, 0755);
  free (p);
}

/* Binds in the socket's directory (chdir + relative name): the path may be too long for
   sun_path, which is the point of some tests. */
static int
bind_socket (const char *path)
{
  cleanup_free char *dir = firec_xstrdup (path);
  char *slash = strrchr (dir, '/');
  *slash = '\0';
  if (chdir (dir) < 0)
    return -1;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", slash + 1);
  unlink (sa.sun_path);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    return -1;
  return fd;
}

static pid_t
start_server (const struct server_opts *o)
{
  int ready[2];
  if (pipe2 (ready, O_CLOEXEC) < 0)
    abort ();
  fflush (stdout);
  pid_t pid = fork ();
  if (pid == 0)
    {
      prctl (PR_SET_PDEATHSIG, SIGKILL);
      close (ready[0]);
      signal (SIGPIPE, SIG_IGN);
      bool wait_ready = o->delay_ms == 0 && o->listen_delay_ms == 0 && !o->mkdirs;
      if (!wait_ready && write (ready[1], "r", 1) != 1)
        _exit (1);
      sleep_ms (o->delay_ms);
      if (o->exit_code >= 0)
        _exit (o->exit_code);
      if (o->mkdirs)
        {
          cleanup_free char *dir = firec_xstrdup (o->path);
          *strrchr (dir, '/') = '\0';
          mkdir_p (dir);
          sleep_ms (o->mkdir_delay_ms);
        }
      /* A short temporary name: a file name too long for sun_path can only be renamed to. */
      cleanup_free char *dir = firec_xstrdup (o->path);
      *strrchr (dir, '/') = '\0';
      cleanup_free char *tmp = firec_xasprintf ("%s/.tmp-%d", dir, (int) getpid ());
      int lfd = bind_socket (o->via_rename ? tmp : o->path);
      if (lfd < 0)
        _exit (2);
      sleep_ms (o->listen_delay_ms);
      if (listen (lfd, 16) < 0)
        _exit (3);
      if (o->via_rename && rename (tmp, o->path) < 0)
        _exit (4);
      if (wait_ready && write (ready[1], "r", 1) != 1)
        _exit (1);
      close (ready[1]);
      serve (lfd);
    }
  close (ready[1]);
  char c;
  if (read (ready[0], &c, 1) != 1)
    {
      printf ("# server failed to start\n");
    }
  close (ready[0]);
  return pid;
}

static void
stop_server (pid_t pid)
{
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
}

/* A path of exactly len bytes under tmpdir, ending in /<name>. */
static char *
path_of_length (size_t len, const char *name)
{
  size_t fixed = strlen (tmpdir) + 1 + 1 + strlen (name);
  if (len <= fixed)
    abort ();
  size_t pad = len - fixed;
  char *dir = firec_xmalloc (pad + 1);
  memset (dir, 'd', pad);
  dir[pad] = '\0';
  char *p = firec_xasprintf ("%s/%s/%s", tmpdir, dir, name);
  free (dir);
  return p;
}

/* ------------------------------------------------------------------ tests */

static long
server_accepts (struct firec_fcapi *c)
{
  struct firec_fcapi_response r = { 0 };
  firec_error_t err = NULL;
  long n = -1;
  if (firec_fcapi_request (c, "GET", "/_accepts", NULL, 2000, &r, &err) == 0)
    n = strtol (r.body, NULL, 10);
  firec_error_release (&err);
  firec_fcapi_response_release (&r);
  return n;
}

static long
server_drops (struct firec_fcapi *c)
{
  struct firec_fcapi_response r = { 0 };
  firec_error_t err = NULL;
  long n = -1;
  if (firec_fcapi_request (c, "GET", "/_drops", NULL, 2000, &r, &err) == 0)
    n = strtol (r.body, NULL, 10);
  firec_error_release (&err);
  firec_fcapi_response_release (&r);
  return n;
}

static cJSON *
echo (struct firec_fcapi *c, const char *method, const char *body, long long *elapsed)
{
  struct firec_fcapi_response r = { 0 };
  firec_error_t err = NULL;
  long long t0 = now_ms ();
  cJSON *json = NULL;
  if (firec_fcapi_request (c, method, "/echo", body, 5000, &r, &err) == 0)
    json = cJSON_Parse (r.body);
  else
    printf ("# echo: %s\n", err->message);
  *elapsed = now_ms () - t0;
  firec_error_release (&err);
  firec_fcapi_response_release (&r);
  return json;
}

static const char *
jstr (const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive (o, key);
  return cJSON_IsString (v) ? v->valuestring : "";
}

static bool
all_sockets_cloexec (void)
{
  DIR *d = opendir ("/proc/self/fd");
  bool ok = true;
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    {
      if (e->d_name[0] == '.')
        continue;
      int fd = atoi (e->d_name);
      struct stat st;
      if (fd != dirfd (d) && fstat (fd, &st) == 0 && S_ISSOCK (st.st_mode) && !(fcntl (fd, F_GETFD) & FD_CLOEXEC))
        {
          printf ("# socket fd %d is not CLOEXEC\n", fd);
          ok = false;
        }
    }
  closedir (d);
  return ok;
}

static void
test_requests (void)
{
  cleanup_free char *path = firec_xasprintf ("%s/firecracker.socket", tmpdir);
  struct server_opts so = { .path = path, .exit_code = -1 };
  pid_t server = start_server (&so);
  firec_error_t err = NULL;
  cleanup_fcapi struct firec_fcapi *c = NULL;
  tap_ok (firec_fcapi_open (path, &c, &err) == 0, "client opened");

  cleanup_fcapi_response struct firec_fcapi_response r = { 0 };
  int rc = firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 200, "GET /: 200");
  cleanup_cjson cJSON *info = cJSON_Parse (r.body ? r.body : "");
  TAP_STR_EQ (jstr (info, "state"), "Not started", "GET /: JSON body read whole");
  firec_fcapi_response_release (&r);

  rc = firec_fcapi_request (c, "PUT", "/boot-source", "{\"kernel_image_path\":\"/vmlinux\"}", 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 204 && r.body && r.body[0] == '\0' && !r.deprecated,
          "PUT: 204 with no Content-Length and \"HTTP/1.1 204 \\r\\n\": body \"\"");
  firec_fcapi_response_release (&r);

  rc = firec_fcapi_request (c, "PUT", "/machine-config", "{\"vcpu_count\":2,\"cpu_template\":\"T2\"}", 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 204 && r.deprecated, "a Deprecation header is reported");
  firec_fcapi_response_release (&r);
  rc = firec_fcapi_request (c, "PUT", "/boot-source", "{}", 2000, &r, &err);
  tap_ok (rc == 0 && !r.deprecated, "... and not carried over to the next answer");
  firec_fcapi_response_release (&r);

  rc = firec_fcapi_request (c, "PUT", "/drives/root-fs", "{\"drive_id\":\"root-fs\"}", 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 400 && strstr (r.body, "fault_message"),
          "a 400 is an answer, not a transport error (rc 0, status 400)");
  firec_fcapi_response_release (&r);

  rc = firec_fcapi_call (c, "PUT", "/drives/root-fs", "{\"drive_id\":\"root-fs\"}", 2000, &r, &err);
  TAP_STR_EQ (err ? err->message : NULL,
              "PUT /drives/root-fs {\"drive_id\":\"root-fs\"}: Firecracker answered 400: API Resource IDs can only "
              "contain alphanumeric characters and underscores.",
              "call: a fault_message answer becomes the error text");
  tap_ok (rc < 0 && r.status == 400, "call: fails, resp still filled");
  firec_error_release (&err);
  firec_fcapi_response_release (&r);

  rc = firec_fcapi_call (c, "PUT", "/transport", "{}", 2000, NULL, &err);
  TAP_STR_EQ (err ? err->message : NULL,
              "PUT /transport {}: Firecracker answered 400: Invalid request.\nAll previous unanswered requests will "
              "be dropped.",
              "call: an {\"error\": ...} answer");
  firec_error_release (&err);

  rc = firec_fcapi_call (c, "GET", "/raw", NULL, 2000, NULL, &err);
  TAP_STR_EQ (err ? err->message : NULL, "GET /raw: Firecracker answered 500: oops, not json",
              "call: a body that is not JSON is quoted raw");
  firec_error_release (&err);

  rc = firec_fcapi_call (c, "PUT", "/boot-source", "{\"kernel_image_path\":\"/vmlinux\"}", 2000, &r, &err);
  tap_ok (rc == 0 && err == NULL && r.status == 204, "call: 204 is success");
  firec_fcapi_response_release (&r);
  rc = firec_fcapi_call (c, "PUT", "/boot-source", NULL, 2000, NULL, &err);
  TAP_STR_EQ (err ? err->message : NULL, "PUT /boot-source: Firecracker answered 400: Empty PUT request.",
              "call: PUT without a body");
  firec_error_release (&err);

  /* What went over the wire: a 4 KiB body (HTTP clients tend to send Expect:
     100-continue above 1 KiB, which micro_http does not answer). */
  char *big = firec_xmalloc (4096 + 1);
  memset (big, ' ', 4096);
  memcpy (big, "{\"a\":1}", 7);
  big[4096] = '\0';
  long long dt;
  cleanup_cjson cJSON *e1 = echo (c, "PUT", big, &dt);
  const char *head = jstr (e1, "head");
  tap_ok (strncmp (head, "PUT /echo HTTP/1.1\r\n", 20) == 0, "PUT request line");
  tap_ok (strcasestr (head, "\r\nContent-Length: 4096\r\n") != NULL, "Content-Length set, no chunked upload");
  tap_ok (strcasestr (head, "Transfer-Encoding") == NULL, "no Transfer-Encoding");
  tap_ok (strcasestr (head, "\r\nExpect:") == NULL && dt < 500, "no Expect: 100-continue, no wait (%lld ms)", dt);
  tap_ok (strcasestr (head, "\r\nContent-Type: application/json\r\n") != NULL, "Content-Type: application/json");
  tap_ok (strcmp (jstr (e1, "body"), big) == 0, "the body arrived whole");
  free (big);

  cleanup_cjson cJSON *e2 = echo (c, "PATCH", "{\"state\":\"Paused\"}", &dt);
  head = jstr (e2, "head");
  tap_ok (strncmp (head, "PATCH /echo HTTP/1.1\r\n", 22) == 0
              && strcmp (jstr (e2, "body"), "{\"state\":\"Paused\"}") == 0,
          "PATCH with a body");
  cleanup_cjson cJSON *e3 = echo (c, "GET", NULL, &dt);
  head = jstr (e3, "head");
  tap_ok (strncmp (head, "GET /echo HTTP/1.1\r\n", 20) == 0 && strcasestr (head, "Content-Length") == NULL
              && strcasestr (head, "Content-Type") == NULL,
          "GET after a PATCH on the same handle: no body, no Content-Type");
  cleanup_cjson cJSON *e4 = echo (c, "DELETE", NULL, &dt);
  tap_ok (strncmp (jstr (e4, "head"), "DELETE /echo HTTP/1.1\r\n", 23) == 0, "DELETE without a body");

  tap_ok (all_sockets_cloexec (), "every socket is CLOEXEC (libcurl's own socketpair too)");

  rc = firec_fcapi_request (c, "get", "/", NULL, 2000, &r, &err);
  tap_ok (rc < 0 && err && err->errno_value == EINVAL, "a lowercase method is refused: %s", err ? err->message : "");
  firec_error_release (&err);
  rc = firec_fcapi_request (c, "GET", "/a b", NULL, 2000, &r, &err);
  tap_ok (rc < 0 && err && err->errno_value == EINVAL, "a path with a space is refused: %s", err ? err->message : "");
  firec_error_release (&err);

  /* GETs keep one connection; anything else gets a connection of its own. */
  long before = server_accepts (c);
  long same = server_accepts (c);
  firec_fcapi_request (c, "PUT", "/boot-source", "{\"kernel_image_path\":\"/k\"}", 2000, &r, &err);
  firec_fcapi_response_release (&r);
  long after_put = server_accepts (c);
  firec_fcapi_request (c, "PATCH", "/boot-source", "{}", 2000, &r, &err);
  firec_fcapi_response_release (&r);
  long after_patch = server_accepts (c);
  tap_ok (before > 0 && same == before && after_put == before + 1 && after_patch == before + 2,
          "GETs reuse their connection, a PUT and a PATCH each open one (%ld %ld %ld %ld)", before, same, after_put,
          after_patch);
  firec_error_release (&err);

  /* A server that never answers. */
  long long t0 = now_ms ();
  rc = firec_fcapi_request (c, "GET", "/hang", NULL, 300, &r, &err);
  dt = now_ms () - t0;
  tap_ok (rc < 0 && dt >= 290 && dt < 1300, "no answer: fails after the timeout (%lld ms)", dt);
  cleanup_free char *want = firec_xasprintf ("GET /hang on API socket %s: no answer within 300 ms", path);
  TAP_STR_EQ (err ? err->message : NULL, want, "... naming method, path and socket");
  tap_ok (err && err->errno_value == ETIMEDOUT, "... errno ETIMEDOUT");
  firec_error_release (&err);
  rc = firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 200, "after a timeout the next request reconnects");
  firec_fcapi_response_release (&r);
  tap_ok (server_accepts (c) == after_patch + 1, "... on a new connection");

  /* A server that reads a request and closes without answering, on a kept
     connection: libcurl re-sends a GET once on a fresh one (harmless), and
     must never re-send a PUT or a PATCH. */
  long drops0 = server_drops (c);
  rc = firec_fcapi_request (c, "GET", "/drop", NULL, 2000, &r, &err);
  tap_ok (rc < 0 && err && err->errno_value == ECONNRESET && strstr (err->message, "closed without an answer"),
          "closed without an answer: %s", err ? err->message : "");
  firec_error_release (&err);
  long drops1 = server_drops (c);
  printf ("# a GET on a reused connection arrived %ld time(s)\n", drops1 - drops0);
  tap_ok (drops1 - drops0 >= 1 && drops1 - drops0 <= 2, "... a GET arrives once or twice, never more");
  static const char *const unsafe[] = { "PUT", "PATCH" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (unsafe); i++)
    {
      long kept = server_accepts (c); /* a kept connection is there to be (wrongly) reused */
      long d0 = server_drops (c);
      rc = firec_fcapi_request (c, unsafe[i], "/drop", "{\"action_type\":\"InstanceStart\"}", 2000, &r, &err);
      tap_ok (rc < 0 && err && err->errno_value == ECONNRESET, "%s dropped: %s", unsafe[i], err ? err->message : "");
      firec_error_release (&err);
      long d1 = server_drops (c);
      tap_ok (kept > 0 && d1 - d0 == 1, "... the %s arrived exactly once (%ld)", unsafe[i], d1 - d0);
    }

  /* A kept connection that the server closed after answering is not reused. */
  rc = firec_fcapi_request (c, "GET", "/answer-then-close", NULL, 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 204, "answer, then the server closes");
  firec_fcapi_response_release (&r);
  sleep_ms (20);
  rc = firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 200, "... the next request goes on a new connection%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_fcapi_response_release (&r);
  firec_error_release (&err);

  rc = firec_fcapi_request (c, "GET", "/half", NULL, 2000, &r, &err);
  tap_ok (rc < 0 && err && err->errno_value == EPIPE && strstr (err->message, "in the middle of the answer"),
          "closed in the middle of an answer: %s", err ? err->message : "");
  firec_error_release (&err);
  rc = firec_fcapi_request (c, "GET", "/garbage", NULL, 2000, &r, &err);
  tap_ok (rc < 0 && err && err->errno_value == EPROTO && strstr (err->message, "malformed HTTP answer"), "not HTTP: %s",
          err ? err->message : "");
  firec_error_release (&err);
  rc = firec_fcapi_request (c, "GET", "/interim", NULL, 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 204 && r.deprecated, "an interim 100 is skipped: the answer is the 204 after it");
  firec_fcapi_response_release (&r);
  rc = firec_fcapi_request (c, "GET", "/trickle", NULL, 5000, &r, &err);
  tap_ok (rc == 0 && r.status == 400 && r.deprecated && strcmp (r.body, "{\"fault_message\":\"trickle\"}") == 0,
          "an answer arriving a byte at a time: status, header (any case) and body whole");
  firec_fcapi_response_release (&r);
  firec_error_release (&err);

  stop_server (server);
  rc = firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err);
  want = (free (want), firec_xasprintf ("GET / on API socket %s: cannot connect: Connection refused", path));
  /* The socket file stays after its server is killed: ECONNREFUSED, as with a dead Firecracker. */
  TAP_STR_EQ (err ? err->message : NULL, want, "server gone: connection refused");
  firec_error_release (&err);
  unlink (path);
  rc = firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err);
  want = (free (want), firec_xasprintf ("GET / on API socket %s: cannot connect: No such file or directory", path));
  TAP_STR_EQ (err ? err->message : NULL, want, "no socket: ENOENT");
  tap_ok (err && err->errno_value == ENOENT, "... errno ENOENT");
  firec_error_release (&err);
}

static void
test_long_paths (void)
{
  firec_error_t err = NULL;
  cleanup_free char *path = path_of_length (150, "firecracker.socket");
  tap_ok (strlen (path) == 150, "socket path of %zu bytes", strlen (path));
  cleanup_free char *dir = firec_xstrdup (path);
  *strrchr (dir, '/') = '\0';
  mkdir_p (dir);
  struct server_opts so = { .path = path, .exit_code = -1 };
  pid_t server = start_server (&so);
  cleanup_fcapi struct firec_fcapi *c = NULL;
  firec_fcapi_open (path, &c, &err);
  int ok = 0;
  for (int i = 0; i < 5; i++)
    {
      struct firec_fcapi_response r = { 0 };
      if (firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err) == 0 && r.status == 200)
        ok++;
      firec_fcapi_response_release (&r);
    }
  tap_ok (ok == 5, "150-byte path: 5 requests answered%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (server_accepts (c) == 1, "150-byte path: one connection");
  firec_fcapi_close (steal_pointer (&c));
  stop_server (server);

  /* A file name so long that even /proc/self/fd/N/<name> exceeds sun_path. */
  char name[120];
  memset (name, 'n', sizeof name - 1);
  name[sizeof name - 1] = '\0';
  cleanup_free char *path2 = firec_xasprintf ("%s/%s", tmpdir, name);
  so.path = path2;
  so.via_rename = true;
  server = start_server (&so);
  struct firec_fcapi_response r = { 0 };
  int rc = firec_fcapi_open (path2, &c, &err);
  if (rc == 0)
    rc = firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 200, "%zu-byte path with a 119-byte file name: answered%s%s", strlen (path2),
          err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  firec_fcapi_response_release (&r);
  firec_fcapi_close (steal_pointer (&c));
  stop_server (server);

  rc = firec_fcapi_open (path2, &c, &err);
  tap_ok (rc == 0, "long path, server gone: open still works (the socket file stays)");
  firec_error_release (&err);
  firec_fcapi_close (steal_pointer (&c));
  unlink (path2);
  rc = firec_fcapi_open (path2, &c, &err);
  tap_ok (rc < 0 && err && err->errno_value == ENOENT, "very long name, no socket: open fails: %s",
          err ? err->message : "");
  firec_error_release (&err);

  cleanup_free char *missing = path_of_length (150, "nope.socket");
  rc = firec_fcapi_open (missing, &c, &err);
  tap_ok (rc < 0 && err && err->errno_value == ENOENT, "long path in a missing directory: %s", err ? err->message : "");
  firec_error_release (&err);
}

static void
test_wait_ready (void)
{
  firec_error_t err = NULL;

  /* Created late, through rename (IN_MOVED_TO). */
  cleanup_free char *path = firec_xasprintf ("%s/late.socket", tmpdir);
  struct server_opts so = { .path = path, .delay_ms = 200, .via_rename = true, .exit_code = -1 };
  long long t0 = now_ms ();
  pid_t server = start_server (&so);
  int pidfd = -1;
  firec_pidfd_open (server, &pidfd, &err);
  int rc = firec_fcapi_wait_ready (NULL, path, server, pidfd, -1, 5000, NULL, &err);
  long long dt = now_ms () - t0;
  tap_ok (rc == 0 && dt >= 190 && dt < 1000, "socket renamed into place after 200 ms: ready after %lld ms%s%s", dt,
          err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  close (pidfd);
  stop_server (server);

  /* Missing directories, created late, socket bound in place (IN_CREATE at each level). */
  cleanup_free char *nested = firec_xasprintf ("%s/jail/vm1/root/run/firecracker.socket", tmpdir);
  so = (struct server_opts){ .path = nested, .delay_ms = 100, .mkdirs = true, .mkdir_delay_ms = 100, .exit_code = -1 };
  t0 = now_ms ();
  server = start_server (&so);
  rc = firec_fcapi_wait_ready (NULL, nested, server, -1, -1, 5000, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc == 0 && dt >= 190 && dt < 1000, "directories and socket created late: ready after %lld ms%s%s", dt,
          err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  stop_server (server);

  /* Bound but not listening for 200 ms: refused connections are retried. */
  cleanup_free char *slow = firec_xasprintf ("%s/slow.socket", tmpdir);
  so = (struct server_opts){ .path = slow, .listen_delay_ms = 200, .exit_code = -1 };
  t0 = now_ms ();
  server = start_server (&so);
  rc = firec_fcapi_wait_ready (NULL, slow, server, -1, -1, 5000, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc == 0 && dt >= 190 && dt < 1000, "bound, listening after 200 ms: ready after %lld ms%s%s", dt,
          err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  stop_server (server);

  /* Long path, created late. */
  cleanup_free char *longp = path_of_length (150, "firecracker.socket");
  unlink (longp);
  so = (struct server_opts){ .path = longp, .delay_ms = 100, .via_rename = true, .exit_code = -1 };
  server = start_server (&so);
  rc = firec_fcapi_wait_ready (NULL, longp, server, -1, -1, 5000, NULL, &err);
  tap_ok (rc == 0, "150-byte path created late: ready%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  stop_server (server);

  /* The process exits before it creates its socket: fail at once, with its status. */
  cleanup_free char *never = firec_xasprintf ("%s/never.socket", tmpdir);
  so = (struct server_opts){ .path = never, .delay_ms = 100, .exit_code = 3 };
  t0 = now_ms ();
  server = start_server (&so);
  firec_pidfd_open (server, &pidfd, &err);
  rc = firec_fcapi_wait_ready (NULL, never, server, pidfd, -1, 10000, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc < 0 && dt < 1000, "process exits after 100 ms: the wait fails after %lld ms, not 10 s", dt);
  TAP_STR_EQ (err ? err->message : NULL, "firecracker exited with status 3 before its API socket appeared",
              "... message with the exit status");
  firec_error_release (&err);
  int status = -1;
  tap_ok (firec_process_wait (server, pidfd, 1000, &status, &err) == FIREC_WAIT_EXITED && WIFEXITED (status)
              && WEXITSTATUS (status) == 3,
          "... and the process is left for the caller to reap");
  close (pidfd);

  so = (struct server_opts){ .path = never, .delay_ms = 100, .exit_code = 1 };
  t0 = now_ms ();
  server = start_server (&so);
  rc = firec_fcapi_wait_ready (NULL, never, server, -1, -1, 10000, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc < 0 && dt < 1000, "pid only (no pidfd given): fails after %lld ms", dt);
  TAP_STR_EQ (err ? err->message : NULL, "firecracker exited with status 1 before its API socket appeared",
              "... message");
  firec_error_release (&err);
  waitpid (server, NULL, 0);

  /* Nothing ever comes. */
  t0 = now_ms ();
  rc = firec_fcapi_wait_ready (NULL, never, 0, -1, -1, 300, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc < 0 && dt >= 290 && dt < 1300, "no process, no socket: times out after %lld ms", dt);
  cleanup_free char *want
      = firec_xasprintf ("Firecracker API socket %s not ready within 300 ms: it does not exist", never);
  TAP_STR_EQ (err ? err->message : NULL, want, "... message");
  tap_ok (err && err->errno_value == ETIMEDOUT, "... errno ETIMEDOUT");
  firec_error_release (&err);

  cleanup_free char *nodir = firec_xasprintf ("%s/no/such/dir/firecracker.socket", tmpdir);
  rc = firec_fcapi_wait_ready (NULL, nodir, 0, -1, -1, 200, NULL, &err);
  want = (free (want), firec_xasprintf ("Firecracker API socket %s not ready within 200 ms: it does not exist, nor "
                                        "does %s/no/such/dir",
                                        nodir, tmpdir));
  TAP_STR_EQ (err ? err->message : NULL, want, "missing directory: says so");
  firec_error_release (&err);

  /* A stale socket: bound, never listening. */
  cleanup_free char *stale = firec_xasprintf ("%s/stale.socket", tmpdir);
  int sfd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", stale);
  if (bind (sfd, (struct sockaddr *) &sa, sizeof sa) < 0)
    abort ();
  t0 = now_ms ();
  rc = firec_fcapi_wait_ready (NULL, stale, 0, -1, -1, 300, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc < 0 && dt >= 290 && dt < 1300 && err && strstr (err->message, "Connection refused"),
          "stale socket: retried until the timeout (%lld ms): %s", dt, err ? err->message : "");
  firec_error_release (&err);
  close (sfd);

  /* Not a socket at all. */
  cleanup_free char *regular = firec_xasprintf ("%s/regular.socket", tmpdir);
  close (open (regular, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  rc = firec_fcapi_wait_ready (NULL, regular, 0, -1, -1, 200, NULL, &err);
  tap_ok (rc < 0 && err && strstr (err->message, "not ready within 200 ms: it exists but is not a socket"),
          "a regular file in its place: %s", err ? err->message : "");
  firec_error_release (&err);

  /* Already up: no delay. */
  so = (struct server_opts){ .path = path, .exit_code = -1 };
  server = start_server (&so);
  t0 = now_ms ();
  rc = firec_fcapi_wait_ready (NULL, path, server, -1, -1, 5000, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc == 0 && dt < 200, "already listening: ready in %lld ms", dt);
  firec_error_release (&err);

  /* The client that saw the answer is handed over, still connected. */
  struct firec_fcapi *ready = NULL;
  rc = firec_fcapi_wait_ready (NULL, path, server, -1, -1, 5000, &ready, &err);
  long accepted = ready ? server_accepts (ready) : -1;
  long again = ready ? server_accepts (ready) : -1;
  tap_ok (rc == 0 && ready && accepted > 0 && again == accepted,
          "ready_client: handed over, its GETs share one connection (%ld, %ld)", accepted, again);
  t0 = now_ms ();
  firec_fcapi_close (ready);
  dt = now_ms () - t0;
  printf ("# closing it (and its inotify fd) took %lld ms\n", dt);
  firec_error_release (&err);
  stop_server (server);
}

/* A timerfd that polls readable after ms: the "signal" a cancel fd stands for. */
static int
readable_after (long ms)
{
  int fd = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC);
  struct itimerspec its = { .it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L + (ms ? 0 : 1) } };
  timerfd_settime (fd, 0, &its, NULL);
  return fd;
}

static bool
still_readable (int fd)
{
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll (&p, 1, 0) == 1;
}

static void
test_cancel (void)
{
  cleanup_free char *path = firec_xasprintf ("%s/cancel.socket", tmpdir);
  struct server_opts so = { .path = path, .exit_code = -1 };
  pid_t server = start_server (&so);
  firec_error_t err = NULL;
  cleanup_fcapi struct firec_fcapi *c = NULL;
  firec_fcapi_open (path, &c, &err);
  struct firec_fcapi_response r = { 0 };

  /* Readable before the request: nothing is sent. */
  long drops0 = server_drops (c);
  int fd = readable_after (0);
  sleep_ms (5);
  firec_fcapi_set_cancel_fd (c, fd);
  int rc = firec_fcapi_request (c, "PUT", "/drop", "{}", 2000, &r, &err);
  tap_ok (rc < 0 && err && err->errno_value == ECANCELED, "cancel fd readable first: the request fails: %s",
          err ? err->message : "");
  cleanup_free char *want = firec_xasprintf ("PUT /drop on API socket %s: cancelled", path);
  TAP_STR_EQ (err ? err->message : NULL, want, "... naming method, path and socket");
  firec_error_release (&err);
  firec_fcapi_set_cancel_fd (c, -1);
  tap_ok (server_drops (c) == drops0, "... and was never sent");
  tap_ok (still_readable (fd), "... the cancel fd was not read");
  close (fd);

  /* Readable while the request waits for an answer that never comes. */
  fd = readable_after (100);
  firec_fcapi_set_cancel_fd (c, fd);
  long long t0 = now_ms ();
  rc = firec_fcapi_request (c, "GET", "/hang", NULL, 5000, &r, &err);
  long long dt = now_ms () - t0;
  tap_ok (rc < 0 && err && err->errno_value == ECANCELED && dt >= 90 && dt < 1000,
          "cancel fd readable after 100 ms: the request ends after %lld ms, not 5 s: %s", dt, err ? err->message : "");
  firec_error_release (&err);
  tap_ok (still_readable (fd), "... the cancel fd was not read");
  firec_fcapi_set_cancel_fd (c, -1);
  close (fd);
  rc = firec_fcapi_request (c, "GET", "/", NULL, 2000, &r, &err);
  tap_ok (rc == 0 && r.status == 200, "the client works again after a cancel%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_fcapi_response_release (&r);
  firec_error_release (&err);
  tap_ok (all_sockets_cloexec (), "every socket is CLOEXEC after a cancel");
  stop_server (server);

  /* The readiness wait: the socket never appears. */
  cleanup_free char *never = firec_xasprintf ("%s/cancel-never.socket", tmpdir);
  fd = readable_after (100);
  t0 = now_ms ();
  rc = firec_fcapi_wait_ready (NULL, never, 0, -1, fd, 5000, NULL, &err);
  dt = now_ms () - t0;
  tap_ok (rc < 0 && err && err->errno_value == ECANCELED && dt >= 90 && dt < 1000,
          "wait_ready: cancelled after %lld ms, not 5 s: %s", dt, err ? err->message : "");
  want = (free (want), firec_xasprintf ("waiting for Firecracker API socket %s: cancelled", never));
  TAP_STR_EQ (err ? err->message : NULL, want, "... message");
  firec_error_release (&err);
  tap_ok (still_readable (fd), "... the cancel fd was not read");

  /* Readable already, socket ready: cancelled all the same, and the handed-over
     client would carry the fd. */
  server = start_server (&so);
  struct firec_fcapi *ready = NULL;
  rc = firec_fcapi_wait_ready (NULL, path, server, -1, fd, 5000, &ready, &err);
  tap_ok (rc < 0 && ready == NULL && err && err->errno_value == ECANCELED,
          "wait_ready with the cancel fd readable already: cancelled");
  firec_error_release (&err);
  close (fd);
  fd = readable_after (100);
  rc = firec_fcapi_wait_ready (NULL, path, server, -1, fd, 5000, &ready, &err);
  tap_ok (rc == 0 && ready, "wait_ready: ready before the cancel fd fires%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  t0 = now_ms ();
  rc = ready ? firec_fcapi_request (ready, "GET", "/hang", NULL, 5000, &r, &err) : -1;
  dt = now_ms () - t0;
  tap_ok (rc < 0 && err && err->errno_value == ECANCELED && dt < 1000,
          "... the handed-over client takes the wait's cancel fd (%lld ms)", dt);
  firec_error_release (&err);
  firec_fcapi_close (ready);
  close (fd);
  stop_server (server);
}

static void
remove_tree (const char *path)
{
  const char *argv[] = { "/bin/rm", "-rf", path, NULL };
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  opts.argv = argv;
  pid_t pid;
  firec_error_t err = NULL;
  int status;
  if (firec_spawn (&opts, &pid, NULL, &err) == 0)
    firec_process_wait (pid, -1, 10000, &status, &err);
  firec_error_release (&err);
}

static void
test_fault_text (void)
{
  cleanup_free char *a = firec_fcapi_fault_text ("{\"fault_message\":\"bad\"}");
  cleanup_free char *b = firec_fcapi_fault_text ("{\"error\":\"worse\"}");
  cleanup_free char *c = firec_fcapi_fault_text ("{\"fault_message\":\"x\",\"other\":1}");
  cleanup_free char *d = firec_fcapi_fault_text ("[1,2]");
  TAP_STR_EQ (a, "bad", "fault text: fault_message");
  TAP_STR_EQ (b, "worse", "fault text: error");
  TAP_STR_EQ (c, "{\"fault_message\":\"x\",\"other\":1}", "fault text: another shape is quoted raw");
  TAP_STR_EQ (d, "[1,2]", "fault text: not an object");
}

int
main (void)
{
  /* Proxies from the environment must not apply to a Unix socket client. */
  setenv ("http_proxy", "http://127.0.0.1:9", 1);
  setenv ("HTTP_PROXY", "http://127.0.0.1:9", 1);
  setenv ("ALL_PROXY", "http://127.0.0.1:9", 1);
  signal (SIGPIPE, SIG_DFL);
  if (mkdtemp (tmpdir) == NULL)
    abort ();

  test_fault_text ();
  test_requests ();
  test_long_paths ();
  test_wait_ready ();
  test_cancel ();

  remove_tree (tmpdir);
  return tap_done ();
}
