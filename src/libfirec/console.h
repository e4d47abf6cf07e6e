/* SPDX-License-Identifier: Apache-2.0 */
/* The serial console of a VM, in every run mode: Firecracker's stdin, stdout
   and stderr (the guest's serial port, and Firecracker's own messages when no
   logger is set) are the slave side of a pseudo-terminal whose master a small
   process holds for the VM's whole life, the console keeper (firec-supervise
   --console, conmon's job for containers). It writes everything to a bounded
   log in the VM's state directory and serves one attacher at a time on a Unix
   socket there: an attached run, or `firec-run attach`.

   Why a pty and not pipes: a pipe whose reader is gone makes Firecracker's
   next write raise SIGPIPE, and the handler of older releases logs an error
   about it, to a log that may well be that same stdout: another SIGPIPE, on
   the thread that wrote (later releases stopped logging there for that
   reason). A pty whose master is gone only fails the writes (EIO), which
   Firecracker counts and drops, and ends its input (it detaches it). So a
   SIGKILLed keeper costs the console, never the VM. The slave is non-blocking for the same reason: a
   keeper that is stopped (SIGSTOP) or slow makes Firecracker's writes fail
   with EAGAIN instead of stalling the vCPU that makes them.

   The log: console.log, and console.log.1 before it. When console.log reaches
   FIREC_CONSOLE_LOG_MAX bytes it becomes console.log.1 (the older one goes)
   and a new console.log begins: at most 2 x FIREC_CONSOLE_LOG_MAX bytes, the
   last FIREC_CONSOLE_LOG_MAX at least. The bytes are as Firecracker wrote
   them (the guest's CR LF, escape sequences), nothing added. Both stay after
   the VM ends, until `rm` removes the state directory.

   The socket (console.sock): a client writes one request line and reads one
   answer line. "attach": "ok" and then the console both ways (what the client
   sends is the guest's input), or "busy PID" while PID is attached.
   "sync": "ok" once everything Firecracker wrote so far is in the log.

   The keeper ends when every holder of the slave is gone (the VM ended), once
   it has written what was left to the log: it removes the socket and closes
   its attacher's connection, so that `logs -f` and attachers end too. */
#ifndef FIREC_CONSOLE_H
#define FIREC_CONSOLE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <termios.h>

#include "error.h"
#include "pidref.h"

#define FIREC_CONSOLE_LOG "console.log"
#define FIREC_CONSOLE_LOG_OLD "console.log.1"
#define FIREC_CONSOLE_SOCKET "console.sock"
#define FIREC_CONSOLE_LOG_MAX (512 * 1024)

/* The escape an attacher types: Ctrl+] then a key. */
#define FIREC_CONSOLE_ESCAPE 0x1d
#define FIREC_CONSOLE_ESCAPE_HELP                                                                                      \
  "Ctrl+] q detaches (the VM runs on), Ctrl+] s stops the VM, Ctrl+] Ctrl+] sends Ctrl+]"

/* ------------------------------------------------------------------ a run */

/* Makes the pty (the slave raw, so that nothing is added to what the guest
   writes, and non-blocking) and the keeper's listening socket in the VM's
   state directory (dir_fd; shown_dir for messages). All CLOEXEC. */
int firec_console_open (int dir_fd, const char *shown_dir, int *master, int *slave, int *listen_fd, firec_error_t *err);

/* Starts the keeper (helper --console --state-dir STATE_DIR ...) with the
   master, the socket and the directory; *keeper is the process. It is not
   tied to the caller: it outlives a detached run. */
int firec_console_start_keeper (const char *helper, const char *state_dir, int dir_fd, int master, int listen_fd,
                                struct firec_pidref *keeper, firec_error_t *err);

/* Whether argv (NUL-separated, len bytes) is the keeper of state_dir: how
   the host finds one whose pid never made it into the record (discover.h). */
bool firec_console_is_keeper (const char *args, size_t len, const char *state_dir);

/* The keeper itself (firec-supervise --console): returns once the VM ended
   and the log has everything, or < 0 when it cannot go on. */
int firec_console_keep (int master, int listen_fd, int dir_fd, firec_error_t *err);
/* Its command line: returns 0 and the fds, or -1 when argv is not one. */
int firec_console_keeper_args (int argc, char **argv, int *master, int *listen_fd, int *dir_fd);

/* ------------------------------------------------------------------ clients */

/* Connects to the keeper of the VM whose state directory is dir_fd and makes
   request ("attach"). *fd is the connection once the keeper said "ok". A
   keeper that has an attacher: FIREC_ERR_LOCKED naming its pid (*busy_pid);
   no keeper listening: errno_value ECONNREFUSED or ENOENT. */
int firec_console_request (int dir_fd, const char *shown_dir, const char *request, int *fd, pid_t *busy_pid,
                           firec_error_t *err);
/* Waits (timeout_ms at most) until the keeper has logged everything
   Firecracker wrote so far. Nothing happens when there is no keeper. */
void firec_console_sync (int dir_fd, long timeout_ms);

/* The log as it is now (console.log.1 then console.log; "" when there is
   none). */
int firec_console_read_log (int dir_fd, const char *shown_dir, char **text, size_t *len, firec_error_t *err);
/* Where the last lines of text start (all of it: lines < 0). */
size_t firec_console_tail_start (const char *text, size_t len, long lines);
/* Writes the log to out_fd (its last lines only when lines >= 0); then, with
   keeper set and alive, what it adds (inotify), until the keeper has ended. */
int firec_console_copy_log (int dir_fd, const char *shown_dir, long lines, const struct firec_pidref *keeper,
                            int out_fd, firec_error_t *err);

/* ------------------------------------------------------------------ attaching */

/* A terminal (or any stdin) relayed to an attached keeper connection, with
   the escape: Ctrl+] q detach, Ctrl+] s stop, Ctrl+] Ctrl+] one Ctrl+]; any
   other key after Ctrl+] goes to the guest with it. */
struct firec_console_relay
{
  int sock;   /* the connection to the keeper; -1 once it closed */
  int in_fd;  /* what is typed; -1: nothing (no stdin, or it ended) */
  int out_fd; /* where the console goes */
  bool after_escape;
};

enum firec_console_event
{
  FIREC_CONSOLE_GO_ON,
  FIREC_CONSOLE_DETACH, /* Ctrl+] q */
  FIREC_CONSOLE_STOP,   /* Ctrl+] s */
  FIREC_CONSOLE_ENDED,  /* the keeper closed the connection: the VM ended (or the keeper died) */
};

/* The two fds to poll (fd -1: not now). */
void firec_console_relay_fds (const struct firec_console_relay *r, struct pollfd fds[2]);
/* Moves what poll said is ready. */
enum firec_console_event firec_console_relay_ready (struct firec_console_relay *r, const struct pollfd fds[2]);
/* After the VM ended: relays what the keeper still sends, until it closes
   the connection or timeout_ms passed. */
void firec_console_relay_finish (struct firec_console_relay *r, long timeout_ms);

/* Raw mode on the terminal fd whose settings are saved (restore them with
   tcsetattr, or firec_reclaim_terminal). */
int firec_console_raw (int fd, const struct termios *saved);

#endif
