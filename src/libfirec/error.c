/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "error.h"
#include "util.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int
firec_error_setv (firec_error_t *err, enum firec_error_kind kind, int errno_value, const char *fmt, va_list ap)
{
  if (err == NULL || *err != NULL)
    return -1;
  cleanup_free char *msg = firec_xvasprintf (fmt, ap);
  struct firec_error *e = firec_xcalloc (1, sizeof *e);
  e->kind = kind;
  e->errno_value = errno_value;
  e->message = errno_value ? firec_xasprintf ("%s: %s", msg, strerror (errno_value)) : steal_pointer (&msg);
  *err = e;
  return -1;
}

int
firec_error_set (firec_error_t *err, int errno_value, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  firec_error_setv (err, FIREC_ERR_RUNTIME, errno_value, fmt, ap);
  va_end (ap);
  return -1;
}

int
firec_error_set_kind (firec_error_t *err, enum firec_error_kind kind, int errno_value, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  firec_error_setv (err, kind, errno_value, fmt, ap);
  va_end (ap);
  return -1;
}

int
firec_error_set_errno (firec_error_t *err, int errno_value, const char *fmt, ...)
{
  bool was_set = err == NULL || *err != NULL;
  va_list ap;
  va_start (ap, fmt);
  firec_error_setv (err, FIREC_ERR_RUNTIME, 0, fmt, ap);
  va_end (ap);
  if (!was_set)
    (*err)->errno_value = errno_value;
  return -1;
}

void
firec_error_prefix (firec_error_t *err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return;
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *prefix = firec_xvasprintf (fmt, ap);
  va_end (ap);
  char *msg = firec_xasprintf ("%s: %s", prefix, (*err)->message);
  free ((*err)->message);
  (*err)->message = msg;
}

void
firec_error_append (firec_error_t *err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return;
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *more = firec_xvasprintf (fmt, ap);
  va_end (ap);
  char *msg = firec_xasprintf ("%s%s", (*err)->message, more);
  free ((*err)->message);
  (*err)->message = msg;
}

void
firec_error_reclassify (firec_error_t *err, enum firec_error_kind kind)
{
  if (err && *err)
    (*err)->kind = kind;
}

void
firec_error_set_remedy (firec_error_t *err, enum firec_remedy remedy, const char *arg)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->remedy_arg);
  (*err)->remedy = remedy;
  (*err)->remedy_arg = arg ? firec_xstrdup (arg) : NULL;
}

void
firec_error_release (firec_error_t *err)
{
  if (err == NULL || *err == NULL)
    return;
  free ((*err)->remedy_arg);
  free ((*err)->message);
  free (*err);
  *err = NULL;
}
