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
#include <sys/signalfd.h>
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
  firec_pidref_done (&info->run);
  firec_state_close (&info->state_root);
  memset (info, 0, sizeof *info);
  info->vmm = info->run = (struct firec_pidref) FIREC_PIDREF_NULL;
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
        set_state (info, FIREC_VM_STARTING, FIREC_REMEDY_NONE, "%s (pid %ld) %s",
                   firec_pidref_is_set (&info->run) ? "a firec-run" : "firec-run", (long) info->holder,
                   firec_pidref_is_set (&info->run) ? "is starting it" : "holds it: an operation on it");
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

/* The holder of the VM's lock, when it is the VM's own run: the firec-run its
   record (or the copy, state.json being damaged) names, and still that
   process (its start time): an attached VM's supervisor, or the run starting
   it. Any other holder is an operation on the VM (rm, apply, stop), which
   nothing must signal. */
static void
open_run (struct firec_vm_info *info, int dir_fd)
{
  cleanup_record struct firec_record *copy = NULL;
  cleanup_error firec_error_t ignored = NULL;
  const struct firec_record *r = info->record;
  if (info->holder == 0)
    return;
  if (r == NULL)
    {
      firec_record_read_copy (dir_fd, info->state_dir, &copy, &ignored);
      r = copy;
    }
  /* A record of an earlier firec-run has no start time: its pid is all it says. */
  if (r && r->firec_pid == info->holder)
    firec_pidref_open (r->firec_pid, r->firec_start_time, &info->run, &ignored);
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
  if (rc < 0)
    return rc;
  open_run (info, dir_fd);
  if (rc > 0)
    judge (info);
  return 0;
}

int
firec_vm_inspect (const char *name, struct firec_vm_info *info, firec_error_t *err)
{
  memset (info, 0, sizeof *info);
  info->vmm = info->run = (struct firec_pidref) FIREC_PIDREF_NULL;
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

/* The stop signal waiting on signal_fd (read: it is the operation's), or 0. */
static int
pending_signal (int signal_fd)
{
  struct signalfd_siginfo si;
  if (signal_fd < 0 || read (signal_fd, &si, sizeof si) != (ssize_t) sizeof si)
    return 0;
  return (int) si.ssi_signo;
}

/* firec_state_lock in slices, so that a stop signal ends the wait (a lock
   held by an operation that takes long, or --lock-timeout -1). */
static int
lock_or_signal (const struct firec_vm_info *info, long timeout_ms, int signal_fd, int *fd, firec_error_t *err)
{
  long long start = firec_now_ms ();
  for (;;)
    {
      long left = timeout_ms < 0 ? 100 : (long) (timeout_ms - (firec_now_ms () - start));
      cleanup_error firec_error_t locked = NULL;
      if (firec_state_lock (&info->state_root, info->name, left < 0 ? 0 : left > 100 ? 100 : left, fd, &locked) == 0)
        return 0;
      int sig = locked->kind == FIREC_ERR_LOCKED ? pending_signal (signal_fd) : 0;
      if (sig)
        return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "interrupted by SIG%s while waiting: %s",
                                     sigabbrev_np (sig) ? sigabbrev_np (sig) : "?", locked->message);
      if (locked->kind != FIREC_ERR_LOCKED || (timeout_ms >= 0 && left <= 100))
        {
          if (err && *err == NULL)
            *err = steal_pointer (&locked);
          return -1;
        }
    }
}

/* The lock for one operation: a duplicate of the caller's (the teardown closes
   what it is given, and the caller's stays held), or taken now, waiting for
   the operation that holds it, if any, as long as how says. */
static int
operation_lock (const struct firec_vm_info *info, const struct firec_vm_lock *how, long default_ms, int signal_fd,
                int *fd, firec_error_t *err)
{
  if (how && how->held_fd >= 0)
    {
      *fd = fcntl (how->held_fd, F_DUPFD_CLOEXEC, 3);
      return *fd < 0 ? firec_error_set (err, errno, "cannot duplicate the lock of %s", info->name) : 0;
    }
  long timeout_ms = how ? how->timeout_ms : default_ms;
  if (signal_fd < 0 || timeout_ms == 0)
    return firec_state_lock (&info->state_root, info->name, timeout_ms, fd, err);
  return lock_or_signal (info, timeout_ms, signal_fd, fd, err);
}

/* What is there now that this process holds the lock: the operation that
   held it may have changed or removed the VM meanwhile. */
static int
reinspect (struct firec_vm_info *info, firec_error_t *err)
{
  cleanup_free char *name = firec_xstrdup (info->name);
  firec_vm_info_release (info);
  return firec_vm_inspect (name, info, err);
}

/* ------------------------------------------------------------------ stopping */

/* Waits until the VM's run has ended (its pidfd, so no polling); a stop
   signal on signal_fd ends the wait (the run goes on with the stop). */
static int
wait_run_gone (const struct firec_vm_info *info, long timeout_ms, int signal_fd, firec_error_t *err)
{
  struct pollfd fds[2] = { { .fd = info->run.fd, .events = POLLIN }, { .fd = signal_fd, .events = POLLIN } };
  int n;
  do
    n = poll (fds, signal_fd >= 0 ? 2 : 1, timeout_ms > INT_MAX ? INT_MAX : (int) timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return firec_error_set (err, errno, "poll");
  if (fds[0].revents)
    return 0;
  int sig = pending_signal (signal_fd);
  if (sig)
    return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0,
                                 "interrupted by SIG%s while firec-run (pid %ld) stops %s: it goes on with it",
                                 sigabbrev_np (sig) ? sigabbrev_np (sig) : "?", (long) info->holder, info->name);
  return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "firec-run (pid %ld) still holds %s after %ld s",
                               (long) info->holder, info->name, timeout_ms / 1000);
}

/* Whether the lock's holder is the firec-run the VM belongs to — its
   supervisor (attached), or the run starting it — which is asked to stop it
   (open_run). Any other holder is waited for (the lock), never signalled. */
static bool
held_by_its_run (const struct firec_vm_info *info)
{
  return info->holder && firec_pidref_is_set (&info->run);
}

/* A VM that belongs to its run: ask that run (SIGTERM, with the time it may
   take, runs its stop policy, or rolls the start back; then it removes
   everything) and wait until it is gone. force: SIGKILL the VMM, which ends
   the supervisor. */
static int
stop_through_holder (struct firec_vm_info *info, bool force, long timeout_ms, int signal_fd, firec_error_t *err)
{
  if (force && firec_vm_alive (info))
    {
      cleanup_error firec_error_t ignored = NULL;
      firec_pidref_kill (&info->vmm, SIGKILL, &ignored);
    }
  else if (firec_pidref_queue (&info->run, SIGTERM, timeout_ms > 0 && timeout_ms < INT_MAX ? (int) timeout_ms : 0, err)
           < 0)
    return -1;
  /* Its own stop policy plus the teardown. */
  return wait_run_gone (info, timeout_ms + 15000, signal_fd, err);
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

static int
refuse_damaged (const struct firec_vm_info *info, firec_error_t *err)
{
  firec_error_set (err, 0, "cannot stop %s: %s", info->name, info->damage);
  firec_error_set_remedy (err, FIREC_REMEDY_FORCE_REMOVE, info->name);
  return -1;
}

int
firec_vm_stop (struct firec_vm_info *info, bool force, long timeout_ms, int signal_fd, const struct firec_vm_lock *how,
               bool *ret_stopped, firec_error_t *err)
{
  *ret_stopped = false;
  if (info->state == FIREC_VM_DAMAGED)
    return refuse_damaged (info, err);
  if (held_by_its_run (info))
    {
      *ret_stopped = true;
      return stop_through_holder (info, force, policy_timeout (info->record, timeout_ms), signal_fd, err);
    }
  if (!firec_vm_alive (info) && info->holder == 0)
    return 0;
  /* An operation holds it, or may take it any moment: under the lock, look again. */
  cleanup_close int lock = -1;
  if (operation_lock (info, how, 2000, signal_fd, &lock, err) < 0)
    return -1;
  if ((how == NULL || how->held_fd < 0) && reinspect (info, err) < 0)
    return -1;
  if (info->state == FIREC_VM_DAMAGED)
    return refuse_damaged (info, err);
  if (!firec_vm_alive (info))
    return 0;
  timeout_ms = policy_timeout (info->record, timeout_ms);
  *ret_stopped = true;
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

/* Whether the state directory shows that a record was written (state.json or
   its copy, damaged, or the manifest written with it): then the run may have
   made things that only the record knew of. */
static bool
record_was_written (const struct firec_vm_info *info)
{
  static const char *const files[] = { "state.json", "identity.json", "manifest.json" };
  cleanup_close int dir_fd = -1;
  cleanup_error firec_error_t ignored = NULL;
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, &ignored) < 0 || dir_fd < 0)
    return false;
  struct stat st;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (files); i++)
    if (fstatat (dir_fd, files[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
      return true;
  return false;
}

/* A state directory whose records cannot be read: what the host shows of the
   VM (discover.h), and in *unknown what may be left of it. */
static struct firec_record *
found_on_host (const struct firec_vm_info *info, char **unknown)
{
  struct firec_record *r = NULL;
  cleanup_error firec_error_t find_err = NULL;
  if (firec_vm_find_unrecorded (info->name, info->state_dir, &r, unknown, &find_err) < 0)
    {
      *unknown = firec_xasprintf ("\n  - what runs of it: %s", find_err->message);
      return NULL;
    }
  bool found = r->vmm.pid || r->jailer_process.pid || r->console.keeper.pid || r->jail_dir;
  if (found || *unknown || !record_was_written (info))
    return r;
  /* Nothing runs: where its run made things (a jail, cgroups, TAP devices),
     only its record knew, or its manifest does. */
  firec_record_free (r);
  struct firec_record *orphan = orphan_jail (info->name);
  if (orphan == NULL)
    *unknown = firec_xstrdup ("\n  - what its run made (a jail, cgroups, TAP devices): without its record, only "
                              "its manifest tells where; rm given that file removes them");
  return orphan;
}

/* What stands for the record when there is none to read; *unknown: what may
   be left that it cannot name (NULL: none). */
static struct firec_record *
substitute_record (const struct firec_vm_info *info, const struct firec_model *model, char **unknown)
{
  *unknown = NULL;
  if (model && strcmp (model->name, info->name) == 0)
    {
      struct firec_record *r = firec_vm_record_for_model (model);
      r->phase = FIREC_PHASE_STARTING;
      return r;
    }
  struct firec_record *r = record_copy (info);
  if (r == NULL && info->state != FIREC_VM_ABSENT)
    r = found_on_host (info, unknown);
  if (r == NULL && *unknown == NULL)
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
remove_locked (struct firec_vm_info *info, struct firec_record *r, const char *unknown, bool force, int signal_fd,
               int *lock, firec_error_t *err)
{
  if (firec_vm_alive (info) && !force)
    {
      cleanup_error firec_error_t policy_err = NULL;
      /* Whatever the policy achieves (a signal: SIGKILL at once), the teardown kills what is left. */
      run_policy (&info->vmm, r, false, policy_timeout (r, 0), signal_fd, &policy_err);
    }
  firec_pidref_done (&info->vmm);
  if (unknown)
    return firec_teardown_found (&info->state_root, r, unknown, lock, err);
  enum firec_teardown_kind kind = r->phase == FIREC_PHASE_RUNNING || r->phase == FIREC_PHASE_STOPPED
                                      ? FIREC_TEARDOWN_END
                                      : FIREC_TEARDOWN_ROLLBACK;
  return firec_teardown (&info->state_root, r, kind, lock, err);
}

/* Nothing of the VM anywhere, and no operation on it: nothing to lock. */
static bool
nothing_at_all (const struct firec_vm_info *info, const struct firec_model *model)
{
  if (info->state != FIREC_VM_ABSENT || info->holder)
    return false;
  cleanup_free char *unknown = NULL;
  cleanup_record struct firec_record *r = substitute_record (info, model, &unknown);
  return !leaves_something (info, r);
}

/* Under the VM's lock: what is there now, removed. */
static int
remove_what_is_there (struct firec_vm_info *info, bool force, const struct firec_model *model, int signal_fd,
                      bool *removed, int *lock, firec_error_t *err)
{
  cleanup_free char *unknown = NULL;
  cleanup_record struct firec_record *r
      = info->record ? steal_pointer (&info->record) : substitute_record (info, model, &unknown);
  if (!leaves_something (info, r) && unknown == NULL)
    return 0;
  if (r == NULL)
    {
      /* A state directory and nothing that says what it was for. */
      r = firec_xcalloc (1, sizeof *r);
      r->name = firec_xstrdup (info->name);
      r->vm_root = firec_xasprintf ("%s/root", info->state_dir);
      r->cgroup_dirs = firec_xcalloc (1, sizeof *r->cgroup_dirs);
      r->cgroup_parents = firec_xcalloc (1, sizeof *r->cgroup_parents);
    }
  *removed = true;
  return remove_locked (info, r, unknown, force, signal_fd, lock, err);
}

int
firec_vm_remove (struct firec_vm_info *info, bool force, const struct firec_model *model,
                 const struct firec_vm_lock *how, int signal_fd, bool *removed, firec_error_t *err)
{
  *removed = false;
  if (held_by_its_run (info))
    {
      if (stop_through_holder (info, force, policy_timeout (info->record, 0), signal_fd, err) < 0)
        return -1;
      /* Its run removed everything it could; what is left is looked at below. */
      *removed = true;
    }
  else if (nothing_at_all (info, model))
    {
      remove_lone_lock (info);
      return 0;
    }
  if (info->state_root.root_fd < 0 && firec_state_open (true, &info->state_root, err) < 0)
    return -1;
  bool held = how && how->held_fd >= 0;
  int lock = -1;
  if (operation_lock (info, how, 5000, signal_fd, &lock, err) < 0)
    return -1;
  int rc = held ? 0 : reinspect (info, err);
  if (rc == 0)
    rc = remove_what_is_there (info, force, model, signal_fd, removed, &lock, err);
  if (lock >= 0 && !held)
    firec_vm_unlock (info->name, lock);
  else if (lock >= 0)
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
      cleanup_free char *unknown = NULL;
      cleanup_record struct firec_record *sub = info->record ? NULL : substitute_record (info, model, &unknown);
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
