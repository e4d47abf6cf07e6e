/* Capability preflight (libcap): which effective capabilities the jailer path
   needs and which of them this process lacks, each with the reason. */
#ifndef FIREC_CAPS_H
#define FIREC_CAPS_H

#include <stdbool.h>

#include "error.h"

/* raise_rlimits: a resource limit above this process's hard limit is asked for,
   so the jailer needs CAP_SYS_RESOURCE (below it, setrlimit needs nothing).
   Appends one line per missing capability to *missing ("CAP_MKNOD (the jailer
   creates /dev/kvm and /dev/net/tun in the jail)"), joined by "\n". Returns the
   number missing, or < 0 when the capabilities cannot be read. */
int firec_caps_check (bool netns, bool cgroups, bool raise_rlimits, char **missing, firec_error_t *err);

#endif
