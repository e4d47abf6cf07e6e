#include "config.h"

#include "cgroup.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

static int
empty_plain_directory (const char *dir, firec_error_t *err)
{
  DIR *d = opendir (dir);
  if (d == NULL)
    return firec_error_set (err, errno, "cannot open %s", dir);
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    if (e->d_type == DT_REG)
      unlinkat (dirfd (d), e->d_name, 0);
  closedir (d);
  return 0;
}

int
firec_remove_cgroup_dirs (const cJSON *dirs, firec_error_t *err)
{
  int rc = 0;
  for (const cJSON *d = dirs ? dirs->child : NULL; d; d = d->next)
    {
      const char *dir = d->valuestring;
      /* A cgroup is busy until the kernel has finished with its last task, a few
         milliseconds after the reap; retry briefly. */
      long long start = firec_now_ms ();
      while (rmdir (dir) < 0)
        {
          if (errno == ENOENT)
            break;
          /* On cgroupfs the control files vanish with the directory; a cgroup root
             that is a plain directory (FIREC_CGROUP_ROOT in tests) holds real files. */
          struct statfs fs;
          if (errno == ENOTEMPTY && statfs (dir, &fs) == 0 && fs.f_type != CGROUP2_SUPER_MAGIC
              && fs.f_type != CGROUP_SUPER_MAGIC)
            {
              cleanup_error firec_error_t ignored = NULL;
              if (empty_plain_directory (dir, &ignored) == 0)
                continue;
            }
          if (errno != EBUSY || (firec_now_ms () - start) > 2000)
            {
              rc = firec_error_set (err, errno, "cannot remove the cgroup %s", dir);
              break;
            }
          poll (NULL, 0, 10);
        }
    }
  return rc;
}


/* FIREC_CGROUP_ROOT names where the hierarchy is mounted when it is not
   /sys/fs/cgroup (and lets the tests use a fake one). */
int
firec_cgroup_host_version (void)
{
  const char *root = getenv ("FIREC_CGROUP_ROOT");
  struct statfs s;
  return statfs (root && *root ? root : "/sys/fs/cgroup", &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
}
