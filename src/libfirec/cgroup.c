/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "cgroup.h"
#include "seam.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static const char *
hierarchy_root (void)
{
  const char *root = firec_seam_cgroup_root ();
  return root ? root : "/sys/fs/cgroup";
}

int
firec_cgroup_host_version (void)
{
  struct statfs s;
  return statfs (hierarchy_root (), &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
}

/* The model decides cgroup_version: auto (resolve.c); a model built by hand
   that did not is taken as the host's. */
static int
version_of (const struct firec_model *m)
{
  return m->cgroup_version ? m->cgroup_version : firec_cgroup_host_version ();
}

/* Where the jailer finds a controller, as it does: the cgroup2 mount (v2), or
   the v1 mount whose options name the controller. NULL when there is none. */
static char *
mount_for (int version, const char *controller)
{
  const char *seam = firec_seam_cgroup_root ();
  if (seam)
    return version == 2 ? firec_xstrdup (seam) : firec_xasprintf ("%s/%s", seam, controller);
  FILE *f = fopen ("/proc/self/mounts", "re");
  if (f == NULL)
    return NULL;
  char line[4096];
  char *found = NULL;
  while (found == NULL && fgets (line, sizeof line, f))
    {
      char *save = NULL;
      strtok_r (line, " ", &save);
      char *dir = strtok_r (NULL, " ", &save);
      char *type = strtok_r (NULL, " ", &save);
      char *options = strtok_r (NULL, " ", &save);
      if (dir == NULL || type == NULL || options == NULL)
        continue;
      if (version == 2 && strcmp (type, "cgroup2") == 0)
        found = firec_xstrdup (dir);
      else if (version == 1 && strcmp (type, "cgroup") == 0)
        {
          char *osave = NULL;
          for (char *o = strtok_r (options, ",", &osave); o && !found; o = strtok_r (NULL, ",", &osave))
            if (strcmp (o, controller) == 0)
              found = firec_xstrdup (dir);
        }
    }
  fclose (f);
  return found;
}

static bool
v2_offers (const char *mount, const char *controller, const char *list_path)
{
  cleanup_free char *list = NULL;
  size_t len;
  if (firec_read_file (list_path, 65536, &list, &len) < 0)
    return firec_seam_cgroup_root () != NULL; /* a test's fake hierarchy lists nothing */
  (void) mount;
  char *save = NULL;
  for (char *w = strtok_r (list, " \n", &save); w; w = strtok_r (NULL, " \n", &save))
    if (strcmp (w, controller) == 0)
      return true;
  return false;
}

static void
strv_push (char ***v, size_t *n, char *s)
{
  *v = firec_xrealloc (*v, (*n + 2) * sizeof **v);
  (*v)[(*n)++] = s;
  (*v)[*n] = NULL;
}

static bool
strv_has (char *const *v, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp (v[i], s) == 0)
      return true;
  return false;
}

char **
firec_cgroup_problems (const struct firec_model *m)
{
  char **out = firec_xcalloc (1, sizeof *out);
  size_t n = 0;
  int version = version_of (m);
  for (char **c = m->cgroups; *c; c++)
    {
      int key_len = (int) strcspn (*c, "=");
      cleanup_free char *controller = firec_xstrndup (*c, strcspn (*c, "."));
      cleanup_free char *mount = mount_for (version, controller);
      if (mount == NULL)
        {
          strv_push (&out, &n,
                     firec_xasprintf ("jailer.cgroups.%.*s: no cgroup v%d hierarchy here offers the %s controller",
                                      key_len, *c, version, controller));
          continue;
        }
      if (version != 2)
        continue;
      cleanup_free char *list_path = firec_xasprintf ("%s/cgroup.controllers", mount);
      if (!v2_offers (mount, controller, list_path))
        strv_push (&out, &n,
                   firec_xasprintf ("jailer.cgroups.%.*s: the cgroup v2 hierarchy at %s does not offer the %s "
                                    "controller (see %s)",
                                    key_len, *c, mount, controller, list_path));
    }
  return out;
}

void
firec_cgroup_dirs (const struct firec_model *m, char ***dirs, char ***new_parents)
{
  size_t nd = 0, np = 0;
  *dirs = firec_xcalloc (1, sizeof **dirs);
  *new_parents = firec_xcalloc (1, sizeof **new_parents);
  if (!m->jailer || m->cgroups[0] == NULL)
    return;
  int version = version_of (m);
  const char *parent = m->parent_cgroup ? m->parent_cgroup : m->exec_name;
  for (char **c = m->cgroups; *c; c++)
    {
      cleanup_free char *controller = firec_xstrndup (*c, strcspn (*c, "."));
      cleanup_free char *mount = mount_for (version, controller);
      if (mount == NULL)
        continue;
      char *dir = firec_xasprintf ("%s/%s/%s", mount, parent, m->name);
      if (strv_has (*dirs, nd, dir))
        {
          free (dir);
          continue;
        }
      strv_push (dirs, &nd, dir);
      /* Each parent below the mount that is missing now, deepest first. */
      cleanup_free char *p = firec_xasprintf ("%s/%s", mount, parent);
      for (size_t base = strlen (mount); strlen (p) > base;)
        {
          struct stat st;
          if (stat (p, &st) == 0)
            break;
          if (!strv_has (*new_parents, np, p))
            strv_push (new_parents, &np, firec_xstrdup (p));
          char *slash = strrchr (p, '/');
          if (slash == NULL)
            break;
          *slash = '\0';
        }
    }
}

/* One line of /proc/PID/cgroup, "ID:CONTROLLERS:PATH" (v2: "0::PATH"): the
   directory on the host, when its last component is leaf. */
static char *
cgroup_line_dir (char *line, const char *leaf)
{
  char *first = strchr (line, ':');
  char *second = first ? strchr (first + 1, ':') : NULL;
  if (second == NULL || second[1] != '/')
    return NULL;
  const char *path = second + 1;
  const char *last = strrchr (path, '/') + 1;
  if (strcmp (last, leaf) != 0)
    return NULL;
  *second = '\0';
  const char *controllers = first + 1;
  /* A v1 hierarchy named by its first controller ("cpu,cpuacct"); "name=..." ones are not the jailer's. */
  cleanup_free char *controller = firec_xstrndup (controllers, strcspn (controllers, ","));
  cleanup_free char *mount = mount_for (*controllers ? 1 : 2, controller);
  struct stat st;
  char *dir = mount ? firec_xasprintf ("%s%s", mount, path) : NULL;
  if (dir && (stat (dir, &st) < 0 || !S_ISDIR (st.st_mode)))
    {
      free (dir);
      return NULL;
    }
  return dir;
}

char **
firec_cgroup_of_process (pid_t pid, const char *leaf)
{
  char **dirs = firec_xcalloc (1, sizeof *dirs);
  size_t n = 0;
  cleanup_free char *path = firec_xasprintf ("/proc/%ld/cgroup", (long) pid);
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_file (path, 1 << 16, &text, &len) < 0)
    return dirs;
  char *save = NULL;
  for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    {
      char *dir = cgroup_line_dir (line, leaf);
      if (dir && !strv_has (dirs, n, dir))
        strv_push (&dirs, &n, dir);
      else
        free (dir);
    }
  return dirs;
}

void
firec_cgroup_pids (const char *dir, pid_t **pids, size_t *count)
{
  cleanup_free char *path = firec_xasprintf ("%s/cgroup.procs", dir);
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_file (path, 1 << 20, &text, &len) < 0)
    return;
  char *save = NULL;
  for (char *w = strtok_r (text, "\n", &save); w; w = strtok_r (NULL, "\n", &save))
    {
      char *end;
      long pid = strtol (w, &end, 10);
      if (*end || pid <= 0)
        continue;
      *pids = firec_xrealloc (*pids, (*count + 1) * sizeof **pids);
      (*pids)[(*count)++] = (pid_t) pid;
    }
}

char *
firec_cgroup_describe (const char *dir)
{
  pid_t *pids = NULL;
  size_t n = 0;
  firec_cgroup_pids (dir, &pids, &n);
  struct firec_buf b = { 0 };
  for (size_t i = 0; i < n; i++)
    {
      cleanup_free char *path = firec_xasprintf ("/proc/%ld/comm", (long) pids[i]);
      cleanup_free char *comm = NULL;
      size_t len;
      if (firec_read_file (path, 64, &comm, &len) == 0)
        comm[strcspn (comm, "\n")] = '\0';
      firec_buf_printf (&b, "%sprocess %ld (%s)", i ? ", " : "", (long) pids[i], comm ? comm : "gone");
    }
  free (pids);
  return n ? firec_buf_steal (&b) : firec_xstrdup ("no process");
}

int
firec_cgroup_make (const char *dir, firec_error_t *err)
{
  if (mkdir (dir, 0755) == 0)
    return 0;
  if (errno != EEXIST)
    return firec_error_set (err, errno, "cannot create the cgroup %s", dir);
  cleanup_free char *what = firec_cgroup_describe (dir);
  firec_error_set_errno (err, EEXIST,
                         "the cgroup %s exists already (%s): another run or tool made it since preflight, and it is "
                         "not this run's to put the VM in, nor to empty or remove",
                         dir, what);
  firec_error_reclassify (err, FIREC_ERR_PRECONDITION);
  return -1;
}

/* A fake hierarchy (the test seam) is a plain directory with real files; on
   cgroupfs the control files vanish with the directory. */
static bool
plain_directory_emptied (const char *dir)
{
  struct statfs fs;
  if (statfs (dir, &fs) < 0 || fs.f_type == CGROUP2_SUPER_MAGIC || fs.f_type == CGROUP_SUPER_MAGIC)
    return false;
  DIR *d = opendir (dir);
  if (d == NULL)
    return false;
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    if (e->d_type == DT_REG)
      unlinkat (dirfd (d), e->d_name, 0);
  closedir (d);
  return true;
}

static int
remove_one (const char *dir, bool if_empty, firec_error_t *err)
{
  /* A cgroup is busy until the kernel has finished with its last task, a few
     milliseconds after the reap: retry briefly. */
  long long start = firec_now_ms ();
  bool emptied = false;
  while (rmdir (dir) < 0)
    {
      if (errno == ENOENT)
        return 0;
      if (errno == ENOTEMPTY && !emptied && (emptied = plain_directory_emptied (dir)))
        continue;
      if (if_empty && (errno == ENOTEMPTY || errno == EBUSY))
        return 0; /* another VM's cgroups are still in it */
      if (errno != EBUSY || firec_now_ms () - start > 2000)
        return firec_error_set (err, errno, "cannot remove the cgroup %s", dir);
      poll (NULL, 0, 10);
    }
  return 0;
}

int
firec_cgroup_remove (char *const *dirs, bool if_empty, firec_error_t *err)
{
  int rc = 0;
  for (size_t i = 0; dirs && dirs[i]; i++)
    if (remove_one (dirs[i], if_empty, err) < 0)
      rc = -1;
  return rc;
}
