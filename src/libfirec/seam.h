/* SPDX-License-Identifier: Apache-2.0 */
/* Test seams: the few places where the end-to-end tests need firec-run to do
   something a production binary must never do on request — fail a named step,
   signal itself at a step, or look for cgroups or huge pages in a fake tree. The
   production build links seam.c, whose answers are always "none"; the test build
   (tests/seam/firec-run, firec-supervise) links tests/seam/seam-env.c, which
   reads FIREC_TEST_FAULT, FIREC_CGROUP_ROOT and FIREC_SYSFS_ROOT. No environment variable changes
   what an installed firec-run does. */
#ifndef FIREC_SEAM_H
#define FIREC_SEAM_H

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* "fail:STEP", "SIGINT:STEP", "SIGTERM:STEP", "SIGKILL:STEP" or
   "SIGSTOP:STEP"; NULL: none. A signal may also aim at a point inside a step:
   "SIGKILL:net.tap.eth0/created" (the TAP is made, its ifindex not yet
   recorded). SIGSTOP holds the run there until a test has raced it (made the
   jail or the cgroup another run would make) and sent SIGCONT. */
const char *firec_seam_fault (void);

/* Sends this process the signal the fault aims at point (a step's id, or
   "STEP/POINT"), if any: SIGKILL, and firec-run dies right there (the crash
   tests); SIGSTOP, and it waits there for SIGCONT (the race tests). Inline:
   both firec-run and firec-supervise have points, and the production seam.o
   must stay the only other definition of the seams. */
static inline void
firec_seam_signal_at (const char *point)
{
  static const int signals[] = { SIGINT, SIGTERM, SIGKILL, SIGSTOP };
  const char *fault = firec_seam_fault ();
  const char *colon = fault ? strchr (fault, ':') : NULL;
  if (colon == NULL || strcmp (colon + 1, point) != 0 || strncmp (fault, "SIG", 3) != 0)
    return;
  size_t n = (size_t) (colon - fault) - 3;
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++)
    if (strlen (sigabbrev_np (signals[i])) == n && strncmp (fault + 3, sigabbrev_np (signals[i]), n) == 0)
      kill (getpid (), signals[i]);
}

/* Where the cgroup hierarchies are mounted instead of what /proc/self/mounts
   says (v2: the directory itself; v1: one subdirectory per controller); NULL:
   the host's. */
const char *firec_seam_cgroup_root (void);

/* Where sysfs is (huge page pools) instead of /sys; NULL: /sys. */
const char *firec_seam_sysfs_root (void);

#endif
