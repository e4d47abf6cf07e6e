/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "discover.h"
#include "cgroup.h"
#include "console.h"
#include "process.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

void
firec_vm_procs_release (struct firec_vm_procs *p)
{
  for (size_t i = 0; i < p->count; i++)
    firec_pidref_done (&p->items[i]);
  free (p->items);
  p->items = NULL;
  p->count = 0;
}

static bool
known (const struct firec_vm_procs *p, pid_t pid)
{
  for (size_t i = 0; i < p->count; i++)
    if (p->items[i].pid == pid)
      return true;
  return false;
}

static int
add_pid (struct firec_vm_procs *p, pid_t pid, unsigned long long start_time, firec_error_t *err)
{
  if (pid <= 0 || pid == getpid () || known (p, pid))
    return 0;
  struct firec_pidref ref;
  int r = firec_pidref_open (pid, start_time, &ref, err);
  if (r <= 0)
    return r;
  p->items = firec_xrealloc (p->items, (p->count + 1) * sizeof *p->items);
  p->items[p->count++] = ref;
  return 0;
}

/* Whether /proc/PID/<link> (root or cwd) is the directory st describes. */
static bool
same_dir (pid_t pid, const char *link, const struct stat *dir)
{
  char path[64];
  struct stat st;
  snprintf (path, sizeof path, "/proc/%ld/%s", (long) pid, link);
  return stat (path, &st) == 0 && st.st_dev == dir->st_dev && st.st_ino == dir->st_ino;
}

/* The next argument after the NUL-terminated word at *pos, or NULL. */
static const char *
next_arg (const char *args, size_t len, size_t *pos)
{
  if (*pos >= len)
    return NULL;
  const char *a = args + *pos;
  *pos += strnlen (a, len - *pos) + 1;
  return a;
}

/* Whether every uid of the process (real, effective, saved, filesystem) is uid. */
static bool
runs_as (pid_t pid, uid_t uid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/status", (long) pid);
  cleanup_free char *status = NULL;
  size_t len;
  if (firec_read_file (path, 1 << 16, &status, &len) < 0)
    return false;
  const char *line = strstr (status, "\nUid:");
  unsigned long ids[4];
  if (line == NULL || sscanf (line, "\nUid: %lu %lu %lu %lu", &ids[0], &ids[1], &ids[2], &ids[3]) != 4)
    return false;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (ids); i++)
    if (ids[i] != (unsigned long) uid)
      return false;
  return true;
}

/* Whether the process's arguments give --api-sock the VM's API socket: the
   Firecracker that firec-run starts without the jailer. */
static bool
names_api_socket (pid_t pid, const char *api_socket)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/cmdline", (long) pid);
  cleanup_free char *args = NULL;
  size_t len, pos = 0;
  if (api_socket == NULL || firec_read_file (path, 1 << 16, &args, &len) < 0)
    return false;
  for (const char *a; (a = next_arg (args, len, &pos));)
    if (strcmp (a, "--api-sock") == 0)
      {
        const char *value = next_arg (args, len, &pos);
        return value && strcmp (value, api_socket) == 0;
      }
  return false;
}

/* The host's word, never a file's: the root directory of a process is the
   VM's root only for a process chrooted there (the real jailer pivots into
   the jail before it forks or execs Firecracker), which nothing else on the
   host can be made to have. A working directory anyone can take, an
   operator's shell included, so it counts only for a process that runs as
   the jail uid (the doubles' jailer changes directory where the real one
   pivots; a process of the jail uid in the VM's root is the VM's, or the
   hostile uid's own, to kill), or, without the jailer (Firecracker runs as
   firec-run's user there), for the Firecracker started with the VM's API
   socket. */
bool
firec_vm_process_in_root (const struct firec_record *r, const struct stat *root, pid_t pid)
{
  if (same_dir (pid, "root", root))
    return true;
  if (!same_dir (pid, "cwd", root))
    return false;
  return r->jailer ? runs_as (pid, r->uid) : names_api_socket (pid, r->api_socket);
}

/* The jailer before it has entered the jail (and the child it forks for
   --new-pid-ns, until that execs): known by the arguments we gave it. */
static bool
jailer_args_match (const char *args, size_t len, const struct firec_record *r)
{
  bool id = false, base = false, exec = false;
  size_t pos = 0;
  for (const char *a; (a = next_arg (args, len, &pos));)
    {
      bool takes_value
          = strcmp (a, "--id") == 0 || strcmp (a, "--chroot-base-dir") == 0 || strcmp (a, "--exec-file") == 0;
      const char *value = takes_value ? next_arg (args, len, &pos) : NULL;
      if (value && strcmp (a, "--id") == 0)
        id = id || strcmp (value, r->name) == 0;
      else if (value && strcmp (a, "--chroot-base-dir") == 0)
        base = base || strcmp (value, r->chroot_base) == 0;
      else if (value)
        {
          /* The jail is <base>/<exec file's name>/<id>: another exec file,
             another jail. */
          const char *slash = strrchr (value, '/');
          exec = exec || strcmp (slash ? slash + 1 : value, r->exec_name) == 0;
        }
    }
  return id && base && exec;
}

/* Processes known by their arguments: the jailer, and the VM's console
   keeper (console.h) whose pid the record may not have yet. */
static bool
args_match (pid_t pid, const struct firec_record *r)
{
  /* A jailer building a jail that is not the run's is another run's. */
  bool jailer = r->jailer && r->chroot_base && firec_record_owns_root (r);
  if (!jailer && r->console.dir == NULL)
    return false;
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/cmdline", (long) pid);
  cleanup_free char *args = NULL;
  size_t len;
  if (firec_read_file (path, 1 << 16, &args, &len) < 0)
    return false;
  return (jailer && jailer_args_match (args, len, r))
         || (r->console.dir && firec_console_is_keeper (args, len, r->console.dir));
}

static int
scan_proc (const struct firec_record *r, struct firec_vm_procs *ret, firec_error_t *err)
{
  struct stat root;
  /* A jail the run did not make is another run's: what runs in it is not
     the VM's (record.h). */
  bool have_root = firec_record_owns_root (r) && lstat (r->vm_root, &root) == 0 && S_ISDIR (root.st_mode);
  if (!have_root && !(r->jailer && firec_record_owns_root (r)) && r->console.dir == NULL)
    return 0;
  DIR *d = opendir ("/proc");
  if (d == NULL)
    return firec_error_set (err, errno, "cannot read /proc");
  int rc = 0;
  struct dirent *e;
  while (rc == 0 && (e = readdir (d)) != NULL)
    {
      char *end;
      long pid = strtol (e->d_name, &end, 10);
      if (*end || pid <= 0 || known (ret, (pid_t) pid))
        continue;
      bool in_jail = have_root && firec_vm_process_in_root (r, &root, (pid_t) pid);
      if (in_jail || args_match ((pid_t) pid, r))
        rc = add_pid (ret, (pid_t) pid, 0, err);
    }
  closedir (d);
  return rc;
}

int
firec_vm_find_processes (const struct firec_record *r, struct firec_vm_procs *ret, firec_error_t *err)
{
  ret->items = NULL;
  ret->count = 0;
  if (add_pid (ret, r->vmm.pid, r->vmm.start_time, err) < 0
      || add_pid (ret, r->jailer_process.pid, r->jailer_process.start_time, err) < 0
      || add_pid (ret, r->console.keeper.pid, r->console.keeper.start_time, err) < 0)
    return -1;
  for (size_t i = 0; r->cgroup_dirs && r->cgroup_dirs[i]; i++)
    {
      pid_t *pids = NULL;
      size_t n = 0;
      firec_cgroup_pids (r->cgroup_dirs[i], &pids, &n);
      int rc = 0;
      for (size_t k = 0; k < n && rc == 0; k++)
        rc = add_pid (ret, pids[k], 0, err);
      free (pids);
      if (rc < 0)
        return -1;
    }
  return scan_proc (r, ret, err);
}

size_t
firec_vm_procs_kill (struct firec_vm_procs *p, long timeout_ms, struct firec_buf *left)
{
  for (size_t i = 0; i < p->count; i++)
    {
      cleanup_error firec_error_t ignored = NULL;
      firec_pidref_kill (&p->items[i], SIGKILL, &ignored);
    }
  long long deadline = firec_now_ms () + timeout_ms;
  size_t survivors = 0;
  for (size_t i = 0; i < p->count; i++)
    {
      cleanup_error firec_error_t wait_err = NULL;
      long remaining = (long) (deadline - firec_now_ms ());
      int status;
      int rc = firec_pidref_wait (&p->items[i], remaining > 0 ? remaining : 0, &status, &wait_err);
      if (rc == FIREC_WAIT_TIMEOUT || rc < 0)
        {
          survivors++;
          firec_buf_printf (left, "\n  - process %ld did not die after SIGKILL%s%s", (long) p->items[i].pid,
                            wait_err ? ": " : "", wait_err ? wait_err->message : "");
        }
    }
  return survivors;
}

/* ------------------------------------------------------------------ without a record */

/* A search of the host for a VM whose record is lost (discover.h). */
struct unrecorded
{
  const char *name;
  const char *run_dir; /* <state dir>/root: the VM's root without the jailer */
  struct firec_record *r;
  struct firec_buf unknown;
  int our_tty;     /* the pty the VM's keeper holds, -1: none */
  int *other_ttys; /* ...and those of other VMs' keepers */
  size_t n_other;
  pid_t *named; /* processes with --id NAME */
  size_t n_named;
};

/* The value after option in argv (NUL-separated), or NULL. */
static const char *
arg_value (const char *args, size_t len, const char *option)
{
  size_t pos = 0;
  for (const char *a; (a = next_arg (args, len, &pos));)
    if (strcmp (a, option) == 0)
      return next_arg (args, len, &pos);
  return NULL;
}

/* The pty index of a keeper's master (--master-fd), from the kernel's
   fdinfo; -1 when unknown. */
static int
keeper_tty (pid_t pid, const char *args, size_t len)
{
  const char *fd = arg_value (args, len, "--master-fd");
  cleanup_free char *path = fd ? firec_xasprintf ("/proc/%ld/fdinfo/%s", (long) pid, fd) : NULL;
  cleanup_free char *info = NULL;
  size_t n;
  if (path == NULL || firec_read_file (path, 4096, &info, &n) < 0)
    return -1;
  const char *index = strstr (info, "tty-index:");
  return index ? atoi (index + strlen ("tty-index:")) : -1;
}

/* The pty index of a process's stdin (Firecracker's console), -1 if none. */
static int
stdin_tty (pid_t pid)
{
  char path[64];
  struct stat st;
  snprintf (path, sizeof path, "/proc/%ld/fd/0", (long) pid);
  /* Unix98 pty slaves: majors 136 to 143, 256 minors each. */
  if (stat (path, &st) < 0 || !S_ISCHR (st.st_mode) || major (st.st_rdev) < 136 || major (st.st_rdev) > 143)
    return -1;
  return (int) ((major (st.st_rdev) - 136) * 256 + minor (st.st_rdev));
}

static void
note_keeper (struct unrecorded *u, pid_t pid, const char *args, size_t len, bool ours)
{
  int tty = keeper_tty (pid, args, len);
  if (ours)
    {
      cleanup_error firec_error_t ignored = NULL;
      u->r->console.keeper.pid = pid;
      firec_process_start_time (pid, &u->r->console.keeper.start_time, &ignored);
      u->our_tty = tty;
      return;
    }
  u->other_ttys = firec_xrealloc (u->other_ttys, (u->n_other + 1) * sizeof *u->other_ttys);
  u->other_ttys[u->n_other++] = tty;
}

/* Every console keeper (ours by its state directory) and every process
   named --id NAME. */
static int
scan_unrecorded (struct unrecorded *u, firec_error_t *err)
{
  DIR *d = opendir ("/proc");
  if (d == NULL)
    return firec_error_set (err, errno, "cannot read /proc");
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    {
      char *end;
      long pid = strtol (e->d_name, &end, 10);
      char path[64];
      cleanup_free char *args = NULL;
      size_t len, pos = 0;
      snprintf (path, sizeof path, "/proc/%ld/cmdline", pid);
      if (*end || pid <= 0 || pid == getpid () || firec_read_file (path, 1 << 16, &args, &len) < 0)
        continue;
      next_arg (args, len, &pos);
      const char *first = next_arg (args, len, &pos);
      const char *id = arg_value (args, len, "--id");
      if (first && strcmp (first, "--console") == 0)
        note_keeper (u, (pid_t) pid, args, len, firec_console_is_keeper (args, len, u->r->console.dir));
      else if (id && strcmp (id, u->name) == 0)
        {
          u->named = firec_xrealloc (u->named, (u->n_named + 1) * sizeof *u->named);
          u->named[u->n_named++] = (pid_t) pid;
        }
    }
  closedir (d);
  return 0;
}

/* The path of a mount namespace's root as the host sees it: a jailer that
   pivoted into the jail shows "/" for /proc/PID/root, but its root mount
   (mountinfo) says where in which filesystem that is, and ours where that
   filesystem is mounted. NULL when it cannot tell. */
static char *
host_path_of_root (pid_t pid)
{
  char path[64];
  snprintf (path, sizeof path, "/proc/%ld/mountinfo", (long) pid);
  cleanup_free char *theirs = NULL, *ours = NULL;
  size_t len;
  if (firec_read_file (path, 1 << 20, &theirs, &len) < 0
      || firec_read_file ("/proc/self/mountinfo", 1 << 20, &ours, &len) < 0)
    return NULL;
  char dev[32], root[4096], point[4096];
  bool found = false;
  for (char *line = theirs; line && !found; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    found = sscanf (line, "%*d %*d %31s %4095s %4095s", dev, root, point) == 3 && strcmp (point, "/") == 0;
  if (!found)
    return NULL;
  char *best = NULL;
  size_t best_len = 0;
  char d[32], r[4096], p[4096];
  for (char *line = ours; line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    {
      size_t n = 0;
      if (sscanf (line, "%*d %*d %31s %4095s %4095s", d, r, p) != 3 || strcmp (d, dev) != 0)
        continue;
      n = strlen (r);
      if (strncmp (root, r, n) != 0 || (root[n] != '/' && root[n] != '\0' && strcmp (r, "/") != 0)
          || (best && n <= best_len))
        continue;
      free (best);
      best = firec_xasprintf ("%s%s", strcmp (p, "/") == 0 ? "" : p, strcmp (r, "/") == 0 ? root : root + n);
      best_len = n;
    }
  return best;
}

/* The host path of the VM root of process pid: its root directory, or, when
   that is the host's (no chroot: a VM without the jailer, or the test
   double's jailer), its working directory. Only a path that is still that
   directory is given. */
static char *
vm_root_of (pid_t pid)
{
  char root[64], which[64];
  struct stat host, dir, named;
  snprintf (root, sizeof root, "/proc/%ld/root/", (long) pid);
  if (stat ("/", &host) < 0 || stat (root, &dir) < 0)
    return NULL;
  bool chrooted = dir.st_dev != host.st_dev || dir.st_ino != host.st_ino;
  snprintf (which, sizeof which, "/proc/%ld/%s", (long) pid, chrooted ? "root" : "cwd");
  if (!chrooted && stat (which, &dir) < 0)
    return NULL;
  char link[4096];
  ssize_t n = readlink (which, link, sizeof link - 1);
  char *candidates[2] = { n > 0 ? firec_xstrndup (link, (size_t) n) : NULL, chrooted ? host_path_of_root (pid) : NULL };
  char *found = NULL;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (candidates); i++)
    {
      if (found == NULL && candidates[i] && candidates[i][0] == '/' && lstat (candidates[i], &named) == 0
          && named.st_dev == dir.st_dev && named.st_ino == dir.st_ino)
        found = steal_pointer (&candidates[i]);
      free (candidates[i]);
    }
  return found;
}

__attribute__ ((format (printf, 2, 3))) static void
unknown (struct unrecorded *u, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *line = firec_xvasprintf (fmt, ap);
  va_end (ap);
  firec_buf_printf (&u->unknown, "\n  - %s", line);
}

static struct firec_record_process
process_of (pid_t pid)
{
  struct firec_record_process p = { pid, 0 };
  cleanup_error firec_error_t ignored = NULL;
  firec_process_start_time (pid, &p.start_time, &ignored);
  return p;
}

/* The jail whose root is root (<base>/<exec name>/<name>/root), for r. */
static bool
take_jail (struct unrecorded *u, const char *root)
{
  size_t n = strlen (root), name_len = strlen (u->name);
  if (n < name_len + 7 || strcmp (root + n - 5, "/root") != 0 || root[n - 6 - name_len] != '/'
      || strncmp (root + n - 5 - name_len, u->name, name_len) != 0)
    return false;
  struct firec_record *r = u->r;
  free (r->vm_root);
  r->vm_root = firec_xstrdup (root);
  r->jail_dir = firec_xstrndup (root, n - 5);
  cleanup_free char *exec_dir = firec_xstrndup (root, n - 6 - name_len);
  const char *slash = strrchr (exec_dir, '/');
  if (slash == NULL || slash == exec_dir)
    return false;
  r->jailer = true;
  r->exec_name = firec_xstrdup (slash + 1);
  r->chroot_base = firec_xstrndup (exec_dir, (size_t) (slash - exec_dir));
  return true;
}

/* Firecracker of this VM: its pid, and the root it runs in. */
static void
take_firecracker (struct unrecorded *u, pid_t pid)
{
  u->r->vmm = process_of (pid);
  cleanup_free char *root = vm_root_of (pid);
  if (root && strcmp (root, u->run_dir) == 0)
    return;
  bool known = root && (u->r->jail_dir ? strcmp (root, u->r->vm_root) == 0 : take_jail (u, root));
  if (!known)
    unknown (u, "the jail of firecracker (pid %ld): where it is cannot be told from the host", (long) pid);
  char **cgroups = firec_cgroup_of_process (pid, u->name);
  if (cgroups[0] && u->r->cgroup_dirs[0] == NULL)
    {
      free (u->r->cgroup_dirs);
      u->r->cgroup_dirs = steal_pointer (&cgroups);
    }
  for (size_t i = 0; cgroups && cgroups[i]; i++)
    free (cgroups[i]);
  free (cgroups);
}

/* The jailer of this VM (before it execs Firecracker): the jail from its arguments. */
static void
take_jailer (struct unrecorded *u, pid_t pid, const char *args, size_t len)
{
  const char *base = arg_value (args, len, "--chroot-base-dir");
  const char *exec = arg_value (args, len, "--exec-file");
  const char *exec_name = exec && strrchr (exec, '/') ? strrchr (exec, '/') + 1 : exec;
  u->r->jailer_process = process_of (pid);
  cleanup_free char *root = exec_name ? firec_xasprintf ("%s/%s/%s/root", base, exec_name, u->name) : NULL;
  if (u->r->jail_dir == NULL && (root == NULL || !take_jail (u, root)))
    unknown (u, "the jail of the jailer (pid %ld): its arguments do not say", (long) pid);
}

static bool
other_vms_tty (const struct unrecorded *u, int tty)
{
  for (size_t i = 0; i < u->n_other; i++)
    if (u->other_ttys[i] == tty)
      return true;
  return false;
}

/* A process with --id NAME: the VM's when it writes to the console this
   VM's keeper holds, or runs in its run directory; another VM's when it
   writes to another keeper's; else nobody can tell. */
static void
take_named (struct unrecorded *u, pid_t pid)
{
  char path[64];
  cleanup_free char *args = NULL;
  size_t len;
  snprintf (path, sizeof path, "/proc/%ld/cmdline", (long) pid);
  if (firec_read_file (path, 1 << 16, &args, &len) < 0)
    return;
  int tty = stdin_tty (pid);
  cleanup_free char *root = vm_root_of (pid);
  bool ours = (tty >= 0 && tty == u->our_tty) || (root && strcmp (root, u->run_dir) == 0);
  if (!ours && tty >= 0 && other_vms_tty (u, tty))
    return;
  if (!ours)
    unknown (u,
             "process %ld (%s) has the VM's name, but nothing ties it to %s (its console keeper is gone, or it "
             "is a VM of that name of another state root): left alone",
             (long) pid, args, u->r->console.dir);
  else if (arg_value (args, len, "--chroot-base-dir"))
    take_jailer (u, pid, args, len);
  else
    take_firecracker (u, pid);
}

int
firec_vm_find_unrecorded (const char *name, const char *state_dir, struct firec_record **ret, char **ret_unknown,
                          firec_error_t *err)
{
  struct unrecorded u = { .name = name, .our_tty = -1 };
  struct firec_record *r = u.r = firec_xcalloc (1, sizeof *r);
  r->name = firec_xstrdup (name);
  r->phase = FIREC_PHASE_STARTING;
  r->console.dir = firec_xstrdup (state_dir);
  r->vm_root = firec_xasprintf ("%s/root", state_dir);
  r->cgroup_dirs = firec_xcalloc (1, sizeof *r->cgroup_dirs);
  r->cgroup_parents = firec_xcalloc (1, sizeof *r->cgroup_parents);
  cleanup_free char *run_dir = firec_xstrdup (r->vm_root);
  u.run_dir = run_dir;
  int rc = scan_unrecorded (&u, err);
  for (size_t i = 0; rc == 0 && i < u.n_named; i++)
    take_named (&u, u.named[i]);
  free (u.named);
  free (u.other_ttys);
  if (rc < 0)
    {
      firec_record_free (r);
      firec_buf_release (&u.unknown);
      return -1;
    }
  *ret = r;
  *ret_unknown = u.unknown.len ? firec_buf_steal (&u.unknown) : NULL;
  return 0;
}
