/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "caps.h"
#include "util.h"

#include <errno.h>
#include <sys/capability.h>

enum need
{
  NEED_JAILER,
  NEED_NETNS,
  NEED_CGROUPS,
  NEED_RAISE_RLIMITS,
  NEED_CREATE_TAPS,
  NEED_TAPS_IN_NETNS,
};

struct needed_cap
{
  cap_value_t cap;
  const char *name;
  const char *why;
  enum need when;
};

static const struct needed_cap needed[] = {
  { CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "the jailer unshares a mount namespace, bind-mounts and pivots into the jail",
    NEED_JAILER },
  { CAP_MKNOD, "CAP_MKNOD", "the jailer creates /dev/kvm and /dev/net/tun inside the jail", NEED_JAILER },
  { CAP_SETUID, "CAP_SETUID", "the jailer drops to the VM's uid", NEED_JAILER },
  { CAP_SETGID, "CAP_SETGID", "the jailer drops to the VM's gid", NEED_JAILER },
  { CAP_CHOWN, "CAP_CHOWN", "the jailer and firec-run give the jail's files to the VM's uid", NEED_JAILER },
  { CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE", "the jailer writes the chroot base and cgroup files", NEED_JAILER },
  { CAP_FOWNER, "CAP_FOWNER", "firec-run hard-links files it does not own into the jail", NEED_JAILER },
  /* Without it the stop policy's signals to Firecracker, which runs as the VM's
     uid, fail with EPERM, and nothing could stop the VM. */
  { CAP_KILL, "CAP_KILL", "firec-run signals Firecracker, which runs as the VM's uid, to stop it", NEED_JAILER },
  { CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "the jailer raises a resource limit above the current hard limit",
    NEED_RAISE_RLIMITS },
  { CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "the jailer joins the network namespace (setns)", NEED_NETNS },
  { CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE", "the jailer writes cgroup control files", NEED_CGROUPS },
  { CAP_NET_ADMIN, "CAP_NET_ADMIN", "firec-run creates the missing TAP devices, sets them up and removes them",
    NEED_CREATE_TAPS },
  { CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "firec-run enters jailer.netns to create the TAP devices there (setns)",
    NEED_TAPS_IN_NETNS },
};

static bool
is_needed (const struct firec_caps_needs *needs, enum need when)
{
  switch (when)
    {
    case NEED_JAILER:
      return needs->jailer;
    case NEED_NETNS:
      return needs->netns;
    case NEED_CGROUPS:
      return needs->cgroups;
    case NEED_RAISE_RLIMITS:
      return needs->raise_rlimits;
    case NEED_CREATE_TAPS:
      return needs->create_taps;
    case NEED_TAPS_IN_NETNS:
      return needs->taps_in_netns;
    }
  return false;
}

int
firec_caps_check (const struct firec_caps_needs *needs, char **missing, firec_error_t *err)
{
  cap_t caps = cap_get_proc ();
  if (caps == NULL)
    return firec_error_set (err, errno, "cannot read this process's capabilities");
  struct firec_buf buf = { 0 };
  int count = 0;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (needed); i++)
    {
      if (!is_needed (needs, needed[i].when))
        continue;
      cap_flag_value_t value = CAP_CLEAR;
      if (cap_get_flag (caps, needed[i].cap, CAP_EFFECTIVE, &value) < 0)
        {
          int saved = errno;
          cap_free (caps);
          firec_buf_release (&buf);
          return firec_error_set (err, saved, "cannot read capability %s", needed[i].name);
        }
      if (value == CAP_SET)
        continue;
      firec_buf_printf (&buf, "%s%s (%s)", count ? "\n" : "", needed[i].name, needed[i].why);
      count++;
    }
  cap_free (caps);
  *missing = firec_buf_steal (&buf);
  return count;
}
