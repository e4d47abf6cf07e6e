/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal TAP producer for the unit tests (automake's tap-driver reads it). */
#ifndef FIREC_TAP_H
#define FIREC_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count;
static int tap_failed;

__attribute__ ((format (printf, 2, 3))) static void
tap_ok (int ok, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  printf ("%s %d - ", ok ? "ok" : "not ok", ++tap_count);
  vprintf (fmt, ap);
  printf ("\n");
  va_end (ap);
  if (!ok)
    tap_failed++;
  fflush (stdout);
}

#define TAP_STR_EQ(got, want, ...)                                                                                     \
  do                                                                                                                   \
    {                                                                                                                  \
      const char *tap_g_ = (got), *tap_w_ = (want);                                                                    \
      int tap_eq_ = (tap_g_ && tap_w_) ? strcmp (tap_g_, tap_w_) == 0 : tap_g_ == tap_w_;                              \
      tap_ok (tap_eq_, __VA_ARGS__);                                                                                   \
      if (!tap_eq_)                                                                                                    \
        printf ("#   got:  %s\n#   want: %s\n", tap_g_ ? tap_g_ : "(null)", tap_w_ ? tap_w_ : "(null)");               \
    }                                                                                                                  \
  while (0)

static int
tap_done (void)
{
  printf ("1..%d\n", tap_count);
  return 0; /* failures are reported per test line; the driver counts them */
}

#endif
