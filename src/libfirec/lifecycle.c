/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "lifecycle.h"
#include "cgroup.h"
#include "discover.h"
#include "process.h"
#include "supervise.h"
#include "teardown.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Where jails are when the manifest does not say (the schema's default). */
#define DEFAULT_CHROOT_BASE "/srv/jailer"

const char *
firec_vm_state_name (enum firec_vm_state state)
{
  switch (state)
    {
    case FIREC_VM_ABSENT:
      return "absent";
    case FIREC_VM_STARTING:
      return "starting";
    case FIREC_VM_RUNNING:
      return "running";
    case FIREC_VM_PAUSED:
      return "paused";
    case FIREC_VM_EXITED:
      return "exited";
    case FIREC_VM_STALE:
      return "stale";
    case FIREC_VM_DAMAGED:
      return "damaged";
    }
  return "unknown";
}

void
firec_vm_info_release (struct firec_vm_info *info)
{
  free (info->name);
  free (info->state_dir);
  free (info->detail);
  free (info->damage);
  firec_record_free (info->record);
  firec_pidref_done (&info->vmm);
  firec_state_close (&info->state_root);
  memset (info, 0, sizeof *info);
  info->vmm = (struct firec_pidref) FIREC_PIDREF_NULL;
  info->state_root = (struct firec_state) FIREC_STATE_INIT;
}

__attribute__ ((format (printf, 4, 5))) static void
set_state (struct firec_vm_info *info, enum firec_vm_state state, enum firec_remedy remedy, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  free (info->detail);
  info->detail = firec_xvasprintf (fmt, ap);
  va_end (ap);
  info->state = state;
  info->remedy = remedy;
}

int
firec_vm_api (const struct firec_vm_info *info, const char *method, const char *path, const char *body,
              struct firec_fcapi_response *resp, firec_error_t *err)
{
  if (!firec_vm_alive (info) || info->record == NULL)
    return firec_error_set (err, 0, "%s is not running", info->name);
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_fcapi_open_beneath (info->record->vm_root, info->record->api_socket, &api, err) < 0)
    return -1;
  return firec_fcapi_call (api, method, path, body, 10000, resp, err);
}

/* Reads the record, or says why there is none. 1: read; 0: state set. */
static int
read_record (struct firec_vm_info *info, int dir_fd, firec_error_t *err)
{
  cleanup_error firec_error_t read_err = NULL;
  if (firec_record_read (dir_fd, info->state_dir, &info->record, &read_err) < 0)
    {
      if (read_err->errno_value != EBADMSG)
        {
          if (err && *err == NULL)
            *err = steal_pointer (&read_err);
          return -1;
        }
      info->damage = firec_xstrdup (read_err->message);
      set_state (info, FIREC_VM_DAMAGED, FIREC_REMEDY_REMOVE, "%s", read_err->message);
      return 0;
    }
  if (info->record == NULL)
    {
      if (info->holder)
        set_state (info, FIREC_VM_STARTING, FIREC_REMEDY_NONE, "a firec-run (pid %ld) is creating it",
                   (long) info->holder);
      else
        set_state (info, FIREC_VM_STALE, FIREC_REMEDY_REMOVE, "%s has no record: a firec-run died while creating it",
                   info->state_dir);
      return 0;
    }
  return 1;
}

/* What a readable record and the live process say together. */
static void
judge (struct firec_vm_info *info)
{
  const struct firec_record *r = info->record;
  cleanup_error firec_error_t ignored = NULL;
  firec_pidref_open (r->vmm.pid, r->vmm.start_time, &info->vmm, &ignored);
  bool attached = r->mode != FIREC_RUN_DAEMON;
  if (r->phase == FIREC_PHASE_CREATING || r->phase == FIREC_PHASE_STARTING)
    {
      if (info->holder)
        set_state (info, FIREC_VM_STARTING, FIREC_REMEDY_NONE, "a firec-run (pid %ld) is starting it",
                   (long) info->holder);
      else
        set_state (info, FIREC_VM_STALE, FIREC_REMEDY_REMOVE, "the firec-run that started it died mid-start");
      return;
    }
  if (attached && !info->holder)
    {
      set_state (info, FIREC_VM_STALE, FIREC_REMEDY_REMOVE, "%s its supervising firec-run died",
                 firec_vm_alive (info) ? "running, but" : "ended, and");
      return;
    }
  if (!firec_vm_alive (info))
    {
      set_state (info, FIREC_VM_EXITED, FIREC_REMEDY_REMOVE, "%s",
                 r->phase == FIREC_PHASE_STOPPED ? "stopped" : "the VM has ended");
      return;
    }
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  cleanup_error firec_error_t api_err = NULL;
  if (firec_vm_api (info, "GET", "/", NULL, &resp, &api_err) < 0)
    {
      set_state (info, FIREC_VM_RUNNING, FIREC_REMEDY_NONE, "the API does not answer: %s", api_err->message);
      return;
    }
  cleanup_cjson cJSON *vm = cJSON_Parse (resp.body);
  const char *state = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (vm, "state"));
  set_state (info, state && strcmp (state, "Paused") == 0 ? FIREC_VM_PAUSED : FIREC_VM_RUNNING, FIREC_REMEDY_NONE,
             "Firecracker says \"%s\"", state ? state : "?");
}

static int
inspect (const char *name, struct firec_vm_info *info, firec_error_t *err)
{
  info->name = firec_xstrdup (name);
  info->state_dir = firec_state_dir_for (name);
  if (firec_state_open (false, &info->state_root, err) < 0)
    return -1;
  if (firec_state_lock_held (&info->state_root, name, &info->holder, err) < 0)
    return -1;
  /* The lock this process holds (apply, for its whole operation) is no other
     run's. */
  if (info->holder == getpid ())
    info->holder = 0;
  cleanup_close int dir_fd = -1;
  if (firec_state_open_vm_dir (&info->state_root, name, &dir_fd, err) < 0)
    return -1;
  if (dir_fd < 0)
    {
      if (info->holder)
        set_state (info, FIREC_VM_STARTING, FIREC_REMEDY_NONE, "a firec-run (pid %ld) is creating it",
                   (long) info->holder);
      else
        set_state (info, FIREC_VM_ABSENT, FIREC_REMEDY_NONE, "no such VM");
      return 0;
    }
  int rc = read_record (info, dir_fd, err);
  if (rc <= 0)
    return rc;
  judge (info);
  return 0;
}

int
firec_vm_inspect (const char *name, struct firec_vm_info *info, firec_error_t *err)
{
  memset (info, 0, sizeof *info);
  info->vmm = (struct firec_pidref) FIREC_PIDREF_NULL;
  info->state_root = (struct firec_state) FIREC_STATE_INIT;
  if (inspect (name, info, err) == 0)
    return 0;
  firec_vm_info_release (info); /* nothing for the caller to release */
  return -1;
}

int
firec_vm_list (char ***names, size_t *count, firec_error_t *err)
{
  cleanup_state struct firec_state st = FIREC_STATE_INIT;
  if (firec_state_open (false, &st, err) < 0)
    return -1;
  return firec_state_list (&st, names, count, err);
}

/* ------------------------------------------------------------------ locking */

int
firec_vm_lock (const char *name, long timeout_ms, int *lock_fd, firec_error_t *err)
{
  cleanup_state struct firec_state st = FIREC_STATE_INIT;
  if (firec_state_open (true, &st, err) < 0)
    return -1;
  return firec_state_lock (&st, name, timeout_ms, lock_fd, err);
}

void
firec_vm_unlock (const char *name, int lock_fd)
{
  if (lock_fd < 0)
    return;
  cleanup_state struct firec_state st = FIREC_STATE_INIT;
  cleanup_error firec_error_t ignored = NULL;
  cleanup_close int dir_fd = -1;
  if (firec_state_open (false, &st, &ignored) == 0 && st.root_fd >= 0
      && firec_state_open_vm_dir (&st, name, &dir_fd, &ignored) == 0 && dir_fd < 0)
    {
      /* Only while the name is still this lock's (state.h). */
      firec_state_unlock_remove (&st, name, lock_fd);
      return;
    }
  close (lock_fd);
}

/* The lock for one operation: a duplicate of the caller's (the teardown closes
   what it is given, and the caller's stays held), or taken now. */
static int
operation_lock (const struct firec_vm_info *info, const struct firec_vm_lock *how, long default_ms, int *fd,
                firec_error_t *err)
{
  if (how && how->held_fd >= 0)
    {
      *fd = fcntl (how->held_fd, F_DUPFD_CLOEXEC, 3);
      return *fd < 0 ? firec_error_set (err, errno, "cannot duplicate the lock of %s", info->name) : 0;
    }
  return firec_state_lock (&info->state_root, info->name, how ? how->timeout_ms : default_ms, fd, err);
}

/* ------------------------------------------------------------------ stopping */

/* Waits until the holder of the VM's lock has let go (its pidfd, so no polling). */
static int
wait_holder_gone (const struct firec_vm_info *info, long timeout_ms, firec_error_t *err)
{
  struct firec_pidref holder;
  if (firec_pidref_open (info->holder, 0, &holder, err) < 0)
    return -1;
  int status;
  int rc = firec_pidref_wait (&holder, timeout_ms, &status, err);
  firec_pidref_done (&holder);
  if (rc < 0)
    return -1;
  if (rc == FIREC_WAIT_TIMEOUT)
    return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "firec-run (pid %ld) still holds %s after %ld s",
                                 (long) info->holder, info->name, timeout_ms / 1000);
  return 0;
}

/* Whether the lock's holder is the firec-run the VM belongs to — its
   supervisor (attached), or the run starting it — which is asked to stop it.
   The holder of a detached VM's lock once it ran is an operation on it
   (apply, stop, rm), which is waited for (the lock), never signalled. */
static bool
held_by_its_run (const struct firec_vm_info *info)
{
  const struct firec_record *r = info->record;
  if (info->holder == 0)
    return false;
  return !(r && r->mode == FIREC_RUN_DAEMON && (r->phase == FIREC_PHASE_RUNNING || r->phase == FIREC_PHASE_STOPPED));
}

/* An attached VM belongs to its supervising firec-run: ask it (SIGTERM, with
   the time it may take, runs its stop policy; then it removes everything) and
   wait until it is gone. force: SIGKILL the VMM, which ends the supervisor. */
static int
stop_through_holder (struct firec_vm_info *info, bool force, long timeout_ms, firec_error_t *err)
{
  if (force && firec_vm_alive (info))
    {
      cleanup_error firec_error_t ignored = NULL;
      firec_pidref_kill (&info->vmm, SIGKILL, &ignored);
    }
  else
    {
      union sigval value = { .sival_int = timeout_ms > 0 && timeout_ms < INT_MAX ? (int) timeout_ms : 0 };
      if (sigqueue (info->holder, SIGTERM, value) < 0 && errno != ESRCH)
        return firec_error_set (err, errno, "cannot signal firec-run (pid %ld)", (long) info->holder);
    }
  /* Its own stop policy plus the teardown. */
  return wait_holder_gone (info, timeout_ms + 15000, err);
}

static long
policy_timeout (const struct firec_record *r, long timeout_ms)
{
  if (timeout_ms > 0)
    return timeout_ms;
  return r && r->stop_timeout_ms > 0 ? r->stop_timeout_ms : 30000;
}

/* The stop policy on a VM that is not our child (force: straight to SIGKILL). */
static int
run_policy (const struct firec_pidref *vmm, const struct firec_record *r, bool force, long timeout_ms, int signal_fd,
            firec_error_t *err)
{
  struct firec_supervision s = {
    .vmm = vmm,
    .signal_fd = signal_fd,
    .stop_now = true,
    .stop = r->stop,
    .stop_count = force ? 0 : r->stop_count,
    .stop_timeout_ms = timeout_ms,
    .vm_root = r->vm_root,
    .api_socket = r->api_socket,
  };
  struct firec_vm_end end;
  return firec_supervise (&s, &end, err);
}

int
firec_vm_stop (struct firec_vm_info *info, bool force, long timeout_ms, int signal_fd, const struct firec_vm_lock *how,
               firec_error_t *err)
{
  if (info->state == FIREC_VM_DAMAGED)
    {
      firec_error_set (err, 0, "cannot stop %s: %s", info->name, info->damage);
      firec_error_set_remedy (err, FIREC_REMEDY_FORCE_REMOVE, info->name);
      return -1;
    }
  timeout_ms = policy_timeout (info->record, timeout_ms);
  if (held_by_its_run (info))
    return stop_through_holder (info, force, timeout_ms, err);
  if (!firec_vm_alive (info))
    return 0;
  cleanup_close int lock = -1;
  if (operation_lock (info, how, 2000, &lock, err) < 0)
    return -1;
  if (run_policy (&info->vmm, info->record, force, timeout_ms, signal_fd, err) < 0)
    return -1;
  firec_pidref_done (&info->vmm);
  info->record->phase = FIREC_PHASE_STOPPED;
  cleanup_close int dir_fd = -1;
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, err) < 0 || dir_fd < 0)
    return -1;
  return firec_record_write (dir_fd, info->state_dir, info->record, err);
}

/* ------------------------------------------------------------------ removing */

struct firec_record *
firec_vm_record_for_model (const struct firec_model *model)
{
  struct firec_record *r = firec_record_new (model, model->mode);
  /* The manifest given says where the jail is: taken as the one its run made. */
  r->jail = FIREC_JAIL_MADE;
  char **parents = NULL;
  free (r->cgroup_dirs);
  /* Parents that exist now may be ours from the run that left this, or not:
     they stay. */
  firec_cgroup_dirs (model, &r->cgroup_dirs, &parents);
  for (size_t i = 0; parents[i]; i++)
    free (parents[i]);
  free (parents);
  return r;
}

/* The copy of the record (record.h), when state.json cannot be read. */
static struct firec_record *
record_copy (const struct firec_vm_info *info)
{
  cleanup_close int dir_fd = -1;
  cleanup_error firec_error_t ignored = NULL;
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, &ignored) < 0 || dir_fd < 0)
    return NULL;
  struct firec_record *r = NULL;
  firec_record_read_copy (dir_fd, info->state_dir, &r, &ignored);
  return r;
}

/* A jail of this name under the default chroot base, when nothing else tells
   where the VM's jail is (its state went with a reboot that cleared /run). */
static struct firec_record *
orphan_jail (const char *name)
{
  DIR *d = opendir (DEFAULT_CHROOT_BASE);
  if (d == NULL)
    return NULL;
  struct firec_record *r = NULL;
  struct dirent *e;
  while (r == NULL && (e = readdir (d)) != NULL)
    {
      struct stat st;
      if (e->d_name[0] == '.')
        continue;
      cleanup_free char *jail = firec_xasprintf ("%s/%s/%s", DEFAULT_CHROOT_BASE, e->d_name, name);
      if (lstat (jail, &st) < 0 || !S_ISDIR (st.st_mode))
        continue;
      r = firec_xcalloc (1, sizeof *r);
      r->name = firec_xstrdup (name);
      r->jailer = true;
      r->jail_dir = steal_pointer (&jail);
      r->chroot_base = firec_xstrdup (DEFAULT_CHROOT_BASE);
      r->exec_name = firec_xstrdup (e->d_name);
      r->vm_root = firec_xasprintf ("%s/root", r->jail_dir);
      r->cgroup_dirs = firec_xcalloc (1, sizeof *r->cgroup_dirs);
      r->cgroup_parents = firec_xcalloc (1, sizeof *r->cgroup_parents);
      r->phase = FIREC_PHASE_STARTING;
    }
  closedir (d);
  return r;
}

/* What stands for the record when there is none to read. */
static struct firec_record *
substitute_record (const struct firec_vm_info *info, const struct firec_model *model)
{
  if (model && strcmp (model->name, info->name) == 0)
    {
      struct firec_record *r = firec_vm_record_for_model (model);
      r->phase = FIREC_PHASE_STARTING;
      return r;
    }
  struct firec_record *r = record_copy (info);
  if (r == NULL)
    r = orphan_jail (info->name);
  return r;
}

/* Whether r names anything that exists. */
static bool
leaves_something (const struct firec_vm_info *info, const struct firec_record *r)
{
  struct stat st;
  if (info->state != FIREC_VM_ABSENT)
    return true;
  if (r == NULL)
    return false;
  if ((!r->jailer || r->jail != FIREC_JAIL_NOT_OURS) && lstat (r->jail_dir ? r->jail_dir : r->vm_root, &st) == 0)
    return true;
  for (size_t i = 0; r->cgroup_dirs[i]; i++)
    if (lstat (r->cgroup_dirs[i], &st) == 0)
      return true;
  struct firec_vm_procs procs = { 0 };
  cleanup_error firec_error_t ignored = NULL;
  bool running = firec_vm_find_processes (r, &procs, &ignored) == 0 && procs.count > 0;
  firec_vm_procs_release (&procs);
  return running;
}

/* A lock file without a VM (firec-run died between taking it and making the
   state directory): nobody holds it, so it goes. */
static void
remove_lone_lock (const struct firec_vm_info *info)
{
  int lock = -1;
  cleanup_error firec_error_t ignored = NULL;
  if (info->state_root.root_fd >= 0 && firec_state_lock (&info->state_root, info->name, 0, &lock, &ignored) == 0)
    firec_state_unlock_remove (&info->state_root, info->name, lock);
}

static int
remove_locked (struct firec_vm_info *info, struct firec_record *r, bool force, int *lock, firec_error_t *err)
{
  if (firec_vm_alive (info) && !force)
    {
      cleanup_error firec_error_t policy_err = NULL;
      /* Whatever the policy achieves, the teardown kills what is left. */
      run_policy (&info->vmm, r, false, policy_timeout (r, 0), -1, &policy_err);
    }
  firec_pidref_done (&info->vmm);
  enum firec_teardown_kind kind = r->phase == FIREC_PHASE_RUNNING || r->phase == FIREC_PHASE_STOPPED
                                      ? FIREC_TEARDOWN_END
                                      : FIREC_TEARDOWN_ROLLBACK;
  return firec_teardown (&info->state_root, r, kind, lock, err);
}

int
firec_vm_remove (struct firec_vm_info *info, bool force, const struct firec_model *model,
                 const struct firec_vm_lock *how, bool *removed, firec_error_t *err)
{
  *removed = false;
  if (held_by_its_run (info))
    {
      long timeout = policy_timeout (info->record, 0);
      if (stop_through_holder (info, force, timeout, err) < 0)
        return -1;
      /* The supervisor removed everything it could; look at what is left. */
      cleanup_free char *name = firec_xstrdup (info->name);
      firec_vm_info_release (info);
      if (firec_vm_inspect (name, info, err) < 0)
        return -1;
      *removed = true;
    }
  cleanup_record struct firec_record *r
      = info->record ? steal_pointer (&info->record) : substitute_record (info, model);
  if (!leaves_something (info, r))
    {
      remove_lone_lock (info);
      return 0;
    }
  if (r == NULL)
    {
      /* A state directory and nothing that says what it was for. */
      r = firec_xcalloc (1, sizeof *r);
      r->name = firec_xstrdup (info->name);
      r->vm_root = firec_xasprintf ("%s/root", info->state_dir);
      r->cgroup_dirs = firec_xcalloc (1, sizeof *r->cgroup_dirs);
      r->cgroup_parents = firec_xcalloc (1, sizeof *r->cgroup_parents);
    }
  if (info->state_root.root_fd < 0 && firec_state_open (true, &info->state_root, err) < 0)
    return -1;
  int lock = -1;
  if (operation_lock (info, how, 5000, &lock, err) < 0)
    return -1;
  *removed = true;
  int rc = remove_locked (info, r, force, &lock, err);
  if (lock >= 0)
    close (lock);
  return rc;
}

/* ------------------------------------------------------------------ before a start */

static int
already_running (const struct firec_vm_info *info, pid_t pid, firec_error_t *err)
{
  const struct firec_record *r = info->record;
  if (info->state == FIREC_VM_STARTING)
    return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "%s is being started by firec-run (pid %ld)", info->name,
                                 (long) info->holder);
  char when[64] = "";
  if (r && r->started_at > 0)
    {
      time_t t = (time_t) r->started_at;
      struct tm tm;
      strftime (when, sizeof when, ", started %Y-%m-%d %H:%M:%S", localtime_r (&t, &tm));
    }
  char holder[64] = "";
  if (info->holder)
    snprintf (holder, sizeof holder, ", supervised by firec-run pid %ld", (long) info->holder);
  firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "%s is already running (pid %ld%s%s)", info->name, (long) pid, when,
                        holder);
  firec_error_set_remedy (err, FIREC_REMEDY_STOP, info->name);
  return -1;
}

/* The first live process the host shows for r, or 0. */
static pid_t
live_process (const struct firec_record *r)
{
  if (r == NULL)
    return 0;
  struct firec_vm_procs procs = { 0 };
  cleanup_error firec_error_t ignored = NULL;
  pid_t pid = firec_vm_find_processes (r, &procs, &ignored) == 0 && procs.count > 0 ? procs.items[0].pid : 0;
  firec_vm_procs_release (&procs);
  return pid;
}

/* Leftovers with no record at all (its state went with a reboot): only the
   manifest says where the jail is, unless it is under the default base. */
static int
check_orphan_jail (const struct firec_model *model, firec_error_t *err)
{
  cleanup_record struct firec_record *r = firec_vm_record_for_model (model);
  const char *tree = r->jail_dir ? r->jail_dir : r->vm_root;
  struct stat st;
  if (lstat (tree, &st) < 0)
    return 0;
  pid_t pid = live_process (r);
  if (pid)
    {
      firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "%s runs in %s (pid %ld) without a record of firec-run's",
                            model->name, tree, (long) pid);
      firec_error_set_remedy (err, FIREC_REMEDY_FORCE_REMOVE, model->source);
      return -1;
    }
  /* `rm NAME` finds a jail under the default base by itself; elsewhere only
     the manifest says where it is. */
  bool by_name = r->jail_dir && strcmp (r->chroot_base, DEFAULT_CHROOT_BASE) == 0;
  cleanup_free char *root = firec_state_root ();
  firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                        "%s already exists from an earlier run of %s that left no record in %s (cleared by a reboot?)",
                        tree, model->name, root);
  firec_error_set_remedy (err, FIREC_REMEDY_REMOVE, by_name ? model->name : model->source);
  return -1;
}

/* A VM that ended or whose firec-run died: in the way until `rm`, and running
   still if the host shows one of its processes. */
static int
check_leftover (struct firec_vm_info *info, const struct firec_model *model, firec_error_t *err)
{
  pid_t pid = firec_vm_alive (info) ? info->vmm.pid : 0;
  if (pid == 0)
    {
      cleanup_record struct firec_record *sub = info->record ? NULL : substitute_record (info, model);
      pid = live_process (info->record ? info->record : sub);
    }
  if (pid)
    return already_running (info, pid, err);
  firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s is left from an earlier run (%s: %s)", model->name,
                        firec_vm_state_name (info->state), info->detail);
  firec_error_set_remedy (err, FIREC_REMEDY_REMOVE, model->name);
  return -1;
}

int
firec_vm_check_absent (const struct firec_model *model, firec_error_t *err)
{
  struct firec_vm_info info;
  int rc = firec_vm_inspect (model->name, &info, err);
  if (rc == 0)
    switch (info.state)
      {
      case FIREC_VM_ABSENT:
        rc = check_orphan_jail (model, err);
        break;
      case FIREC_VM_RUNNING:
      case FIREC_VM_PAUSED:
      case FIREC_VM_STARTING:
        rc = already_running (&info, firec_vm_alive (&info) ? info.vmm.pid : info.holder, err);
        break;
      case FIREC_VM_EXITED:
      case FIREC_VM_STALE:
      case FIREC_VM_DAMAGED:
        rc = check_leftover (&info, model, err);
        break;
      }
  firec_vm_info_release (&info);
  return rc;
}
