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
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
      bool in_jail = have_root && (same_dir ((pid_t) pid, "root", &root) || same_dir ((pid_t) pid, "cwd", &root));
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
