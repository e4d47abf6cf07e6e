#include "config.h"

#include "caps.h"
#include "util.h"

#include <errno.h>
#include <sys/capability.h>

struct needed_cap
{
  cap_value_t cap;
  const char *name;
  const char *why;
  int when; /* 0 always, 1 with a netns, 2 with cgroups, 3 when raising rlimits */
};

static const struct needed_cap needed[] = {
  { CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "the jailer unshares a mount namespace, bind-mounts and pivots into the jail", 0 },
  { CAP_MKNOD, "CAP_MKNOD", "the jailer creates /dev/kvm and /dev/net/tun inside the jail", 0 },
  { CAP_SETUID, "CAP_SETUID", "the jailer drops to the VM's uid", 0 },
  { CAP_SETGID, "CAP_SETGID", "the jailer drops to the VM's gid", 0 },
  { CAP_CHOWN, "CAP_CHOWN", "the jailer and firec-run give the jail's files to the VM's uid", 0 },
  { CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE", "the jailer writes the chroot base and cgroup files", 0 },
  { CAP_FOWNER, "CAP_FOWNER", "firec-run hard-links files it does not own into the jail", 0 },
  /* Without it the stop policy's signals to Firecracker, which runs as the VM's
     uid, fail with EPERM, and nothing could stop the VM. */
  { CAP_KILL, "CAP_KILL", "firec-run signals Firecracker, which runs as the VM's uid, to stop it", 0 },
  { CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", "the jailer raises a resource limit above the current hard limit", 3 },
  { CAP_SYS_ADMIN, "CAP_SYS_ADMIN", "the jailer joins the network namespace (setns)", 1 },
  { CAP_DAC_OVERRIDE, "CAP_DAC_OVERRIDE", "the jailer writes cgroup control files", 2 },
};

int
firec_caps_check (bool netns, bool cgroups, bool raise_rlimits, char **missing, firec_error_t *err)
{
  cap_t caps = cap_get_proc ();
  if (caps == NULL)
    return firec_error_set (err, errno, "cannot read this process's capabilities");
  struct firec_buf buf = { 0 };
  int count = 0;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (needed); i++)
    {
      if ((needed[i].when == 1 && !netns) || (needed[i].when == 2 && !cgroups) || (needed[i].when == 3 && !raise_rlimits))
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
