/* SPDX-License-Identifier: Apache-2.0 */
/* Errors, crun style: a function that can fail returns int (< 0 on failure) and
   takes firec_error_t *err last. The first error set wins, so rollback code can
   keep the original cause while it runs undos that fail too. */
#ifndef FIREC_ERROR_H
#define FIREC_ERROR_H

#include <stdarg.h>

/* What kind of failure: main maps it onto the documented exit codes. */
enum firec_error_kind
{
  FIREC_ERR_RUNTIME = 1,      /* a step failed; rolled back cleanly */
  FIREC_ERR_INVALID = 2,      /* invalid manifest or usage */
  FIREC_ERR_PRECONDITION = 3, /* host precondition failed */
  FIREC_ERR_LOCKED = 4,       /* held by another run */
  FIREC_ERR_LEFTOVERS = 5,    /* rollback incomplete */
};

/* What the user can do about an error (or a VM's state) when that is a
   firec-run command: the library names the kind and its argument, the CLI
   phrases it and reports it in JSON, so that no library message spells a
   command line. */
enum firec_remedy
{
  FIREC_REMEDY_NONE,
  FIREC_REMEDY_REMOVE,       /* what is left goes with `rm ARG` (a name or a manifest) */
  FIREC_REMEDY_FORCE_REMOVE, /* what still runs is stopped and removed by `rm -f ARG` */
  FIREC_REMEDY_STOP,         /* it runs: `stop ARG` stops it, `apply` keeps or replaces it */
  FIREC_REMEDY_ATTACH,       /* it runs on, detached: `attach ARG` is its console, `stop ARG` stops it */
  FIREC_REMEDY_RESTART,      /* what it runs as is unknown: `stop ARG`, then `apply` starts it anew */
};

struct firec_error
{
  enum firec_error_kind kind;
  int errno_value; /* 0 when the cause is not a system call */
  char *message;
  enum firec_remedy remedy;
  char *remedy_arg;
};

typedef struct firec_error *firec_error_t;

/* Sets *err (unless one is already set) and returns -1. When errno_value is not 0
   its strerror text is appended after ": ". */
int firec_error_set (firec_error_t *err, int errno_value, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
int firec_error_set_kind (firec_error_t *err, enum firec_error_kind kind, int errno_value, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
int firec_error_setv (firec_error_t *err, enum firec_error_kind kind, int errno_value, const char *fmt, va_list ap)
    __attribute__ ((format (printf, 4, 0)));
/* Like firec_error_set, but the message already says what errno_value means:
   it is only recorded (callers test it, e.g. ECONNREFUSED), not appended. */
int firec_error_set_errno (firec_error_t *err, int errno_value, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/* Prepends context ("while X: ") to an error that is set. */
void firec_error_prefix (firec_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Appends text to an error that is set (more lines: a tail of stderr, what a
   rollback left). */
void firec_error_append (firec_error_t *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Changes the kind of an error that is set (a rollback that left something
   makes any failure FIREC_ERR_LEFTOVERS). */
void firec_error_reclassify (firec_error_t *err, enum firec_error_kind kind);
/* Says what fixes an error that is set (arg: the VM's name or its manifest). */
void firec_error_set_remedy (firec_error_t *err, enum firec_remedy remedy, const char *arg);
void firec_error_release (firec_error_t *err);

static inline void
firec_error_releasep (firec_error_t *err)
{
  firec_error_release (err);
}
#define cleanup_error __attribute__ ((cleanup (firec_error_releasep)))

#endif
