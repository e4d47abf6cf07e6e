/* SPDX-License-Identifier: Apache-2.0 */
/* Capability preflight (libcap): which effective capabilities a run needs and
   which of them this process lacks, each with the reason. */
#ifndef FIREC_CAPS_H
#define FIREC_CAPS_H

#include <stdbool.h>

#include "error.h"

/* What the run will do that needs a capability. */
struct firec_caps_needs
{
  bool jailer;        /* the jailer's own (mount namespace, mknod, setuid ...) */
  bool netns;         /* the jailer joins jailer.netns */
  bool cgroups;       /* the jailer writes cgroup control files */
  bool raise_rlimits; /* a resource limit above this process's hard limit */
  bool create_taps;   /* firec-run creates a TAP device (only when one is missing) */
  bool taps_in_netns; /* ... and enters jailer.netns to do so */
};

/* Appends one line per missing capability to *missing ("CAP_MKNOD (the jailer
   creates /dev/kvm and /dev/net/tun in the jail)"), joined by "\n". Returns
   the number missing, or < 0 when the capabilities cannot be read. */
int firec_caps_check (const struct firec_caps_needs *needs, char **missing, firec_error_t *err);

#endif
