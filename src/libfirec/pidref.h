/* SPDX-License-Identifier: Apache-2.0 */
/* A process handle that cannot name the wrong process: the pid, a pidfd opened
   while the process was known to be the one meant, and its start time (systemd's
   PidRef is the model). Signals go through the pidfd; a pid that was reused by
   another process never matches. */
#ifndef FIREC_PIDREF_H
#define FIREC_PIDREF_H

#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

struct firec_pidref
{
  pid_t pid;                     /* 0: none */
  int fd;                        /* pidfd, -1: none */
  unsigned long long start_time; /* clock ticks since boot (/proc/PID/stat field 22) */
};

#define FIREC_PIDREF_NULL                                                                                              \
  {                                                                                                                    \
    .pid = 0, .fd = -1, .start_time = 0                                                                                \
  }

/* Opens pid when it is alive (not a zombie) and, when start_time is not 0,
   started then. Returns 1 with *ret set, 0 when there is no such process (or it
   is another one now), < 0 on errors. */
int firec_pidref_open (pid_t pid, unsigned long long start_time, struct firec_pidref *ret, firec_error_t *err);
/* Takes over a pidfd we already hold (e.g. from spawning). */
int firec_pidref_adopt (pid_t pid, int pidfd, struct firec_pidref *ret, firec_error_t *err);
void firec_pidref_done (struct firec_pidref *p);

static inline bool
firec_pidref_is_set (const struct firec_pidref *p)
{
  return p->pid > 0;
}

/* 0 sent, 1 the process has already exited, < 0 error. */
int firec_pidref_kill (const struct firec_pidref *p, int sig, firec_error_t *err);
/* The same with a value, as sigqueue (2) sends it (si_code SI_QUEUE). */
int firec_pidref_queue (const struct firec_pidref *p, int sig, int value, firec_error_t *err);

/* Waits up to timeout_ms (-1 forever) for the process to end and reaps it when
   it is our child. Returns an enum firec_wait_result (process.h) or < 0. */
int firec_pidref_wait (const struct firec_pidref *p, long timeout_ms, int *wait_status, firec_error_t *err);

/* Whether pid is a zombie or gone (a VMM whose parent died and that init has
   not collected yet is not running). */
bool firec_pid_is_dead (pid_t pid);

#endif
