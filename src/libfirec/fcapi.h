/* Firecracker's HTTP API over its Unix socket: one client per VM, one persistent
   connection (Firecracker's micro_http always answers keep-alive), answers parsed by
   http-parser. A request is sent once: a connection that dies is never re-sent on. */
#ifndef FIREC_FCAPI_H
#define FIREC_FCAPI_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

struct firec_fcapi;

struct firec_fcapi_response
{
  long status;     /* HTTP status: 200, 204, 400 ... */
  char *body;      /* malloc'ed; "" when there is none (a 204) */
  bool deprecated; /* the answer carried a Deprecation header: deprecated input was accepted */
};

void firec_fcapi_response_release (struct firec_fcapi_response *resp);

static inline void
firec_fcapi_response_releasep (struct firec_fcapi_response *resp)
{
  firec_fcapi_response_release (resp);
}
#define cleanup_fcapi_response __attribute__ ((cleanup (firec_fcapi_response_releasep)))

/* Creates a client; nothing is connected until the first request. A socket path of 108
   bytes or more (too long for sun_path) is reached through /proc/self/fd/<dirfd>/<name>
   (or /proc/self/fd/<O_PATH fd of the socket> when even that is too long, and then the
   socket must already exist). */
int firec_fcapi_open (const char *socket_path, struct firec_fcapi **out, firec_error_t *err);
void firec_fcapi_close (struct firec_fcapi *c);

static inline void
firec_fcapi_closep (struct firec_fcapi **c)
{
  firec_fcapi_close (*c);
}
#define cleanup_fcapi __attribute__ ((cleanup (firec_fcapi_closep)))

/* Sends one request (method "GET", "PUT", "PATCH", "DELETE"; path "/drives/rootfs"; body
   JSON text or NULL for none) and fills *resp, which the caller releases. timeout_ms
   bounds the whole exchange (<= 0: no limit). Returns 0 whenever an HTTP answer came,
   whatever its status; < 0 only when none did (refused, no socket, timeout, reset), with
   an error naming method, path and socket and errno_value set when one is known
   (ECONNREFUSED, ENOENT, ETIMEDOUT, ECONNRESET ...). */
int firec_fcapi_request (struct firec_fcapi *c, const char *method, const char *path, const char *body,
                         long timeout_ms, struct firec_fcapi_response *resp, firec_error_t *err);

/* Pipelining (Firecracker answers requests on one connection in order): send
   queues a request, receive reads the oldest unanswered one's answer, with
   timeout_ms for that answer alone. method and path given to receive name the
   request in errors. A failed receive drops the connection and every answer
   still pending on it. firec_fcapi_request refuses (EBUSY) while answers are
   pending. */
int firec_fcapi_send (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
                      firec_error_t *err);
int firec_fcapi_receive (struct firec_fcapi *c, const char *method, const char *path, long timeout_ms,
                         struct firec_fcapi_response *resp, firec_error_t *err);

/* 0 for a 2xx answer, else the error firec_fcapi_call reports (body: the
   request's, quoted in the message). */
int firec_fcapi_check (const char *method, const char *path, const char *body, const struct firec_fcapi_response *r,
                       firec_error_t *err);

/* The same, and a non-2xx answer is an error too: "PUT /boot-source {...}: Firecracker
   answered 400: <fault_message or error text, else the raw body>". resp may be NULL;
   when given it is filled in both cases. */
int firec_fcapi_call (struct firec_fcapi *c, const char *method, const char *path, const char *body,
                      long timeout_ms, struct firec_fcapi_response *resp, firec_error_t *err);

/* The text to quote from an error answer: the string inside {"fault_message": ...} or
   {"error": ...}, else the body itself. Malloc'ed. */
char *firec_fcapi_fault_text (const char *body);

/* Waits until socket_path exists and accepts a connection, without fixed sleeps:
   inotify on its directory (or on the deepest ancestor that exists yet), a poll (2)
   on the pidfd so that a VMM that dies fails the wait at once ("firecracker exited
   with status 1 before its API socket appeared"; the process is not reaped), and a
   deadline. A socket that exists but does not accept yet is retried on a short
   backoff. Give pid_or_0 and/or pidfd_or_minus1 of the process that creates the
   socket: under --new-pid-ns (or HEAD's --daemonize) that is the firecracker from
   the pid file, not the jailer, which exits 0 early. With a pid only, a pidfd is
   opened here; with neither, only the deadline ends the wait. timeout_ms < 0: no
   deadline. With ready_client, the connected client is handed over
   (firec_fcapi_close it): its first request can go out with no further wait, and
   the caller's GET / (Firecracker answers it once its API thread runs) can have
   the configuration requests pipelined behind it. */
int firec_fcapi_wait_ready (const char *socket_path, pid_t pid_or_0, int pidfd_or_minus1, long timeout_ms,
                            int cancel_fd, struct firec_fcapi **ready_client, firec_error_t *err);

/* While cancel_fd (e.g. a signalfd; -1: none) polls readable, every wait of
   the client fails at once with errno_value ECANCELED; the fd is not read. */
void firec_fcapi_set_cancel_fd (struct firec_fcapi *c, int cancel_fd);

#endif
