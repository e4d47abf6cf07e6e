/* SPDX-License-Identifier: Apache-2.0 */
/* Firecracker's HTTP API over its Unix socket, through libcurl (loaded on the first
   request: see curl-dl.h). One request at a time; a non-idempotent one (anything but
   GET) is sent exactly once, on a connection of its own. */
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

/* Creates a client; nothing is connected (nor libcurl loaded) until the first
   request. A socket path of 108 bytes or more (too long for sun_path) is reached
   through /proc/self/fd/<dirfd>/<name> (or /proc/self/fd/<O_PATH fd of the socket>
   when even that is too long, and then the socket must already exist). */
int firec_fcapi_open (const char *socket_path, struct firec_fcapi **ret, firec_error_t *err);
void firec_fcapi_close (struct firec_fcapi *c);

static inline void
firec_fcapi_closep (struct firec_fcapi **c)
{
  firec_fcapi_close (*c);
}
#define cleanup_fcapi __attribute__ ((cleanup (firec_fcapi_closep)))

/* From now on, whenever fd polls readable (a signalfd with a signal pending, the
   read end of a pipe ...), a request fails at once, or is not sent, with
   errno_value ECANCELED; fd is never read. -1: none (the default). */
/* A client for a socket below root (the VM's root, which the jail's uid
   owns): the socket is opened through the jail walker (jailfs.h), never by a
   name the jail uid could swap for a symlink, and connected to through that
   open file. */
int firec_fcapi_open_beneath (const char *root, const char *socket_path, struct firec_fcapi **ret, firec_error_t *err);

void firec_fcapi_set_cancel_fd (struct firec_fcapi *c, int fd);

/* Sends one request (method "GET", "PUT", "PATCH", "DELETE"; path "/drives/rootfs"; body
   JSON text or NULL for none) and fills *resp, which the caller releases. timeout_ms
   bounds the whole exchange (<= 0: no limit). Returns 0 whenever an HTTP answer came,
   whatever its status; < 0 only when none did (refused, no socket, timeout, reset), with
   an error naming method, path and socket and errno_value set when one is known
   (ECONNREFUSED, ENOENT, ETIMEDOUT, ECONNRESET, ECANCELED ...). */
int firec_fcapi_request (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
                         struct firec_fcapi_response *resp, firec_error_t *err);

/* 0 for a 2xx answer, else the error firec_fcapi_call reports (body: the
   request's, quoted in the message). */
int firec_fcapi_check (const char *method, const char *path, const char *body, const struct firec_fcapi_response *r,
                       firec_error_t *err);

/* Like firec_fcapi_request, and a non-2xx answer is an error too: "PUT /boot-source {...}: Firecracker
   answered 400: <fault_message or error text, else the raw body>". resp may be NULL;
   when given it is filled in both cases. */
int firec_fcapi_call (struct firec_fcapi *c, const char *method, const char *path, const char *body, long timeout_ms,
                      struct firec_fcapi_response *resp, firec_error_t *err);

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
   deadline. cancel_fd (-1: none): when it polls readable the wait fails at once
   with errno_value ECANCELED, without reading it. Needs no libcurl. With
   ready_client, the client is handed over (firec_fcapi_close it) with that
   cancel fd set. With root (the VM's root; NULL: none), the socket is looked at
   and connected to through the jail walker, as firec_fcapi_open_beneath does;
   a symbolic link there fails the wait. */
int firec_fcapi_wait_ready (const char *root, const char *socket_path, pid_t pid_or_0, int pidfd_or_minus1,
                            int cancel_fd, long timeout_ms, struct firec_fcapi **ready_client, firec_error_t *err);

#endif
