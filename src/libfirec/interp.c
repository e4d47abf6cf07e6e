/* SPDX-License-Identifier: Apache-2.0 */
/* interpret: one switch over step kinds runs exactly the records `plan` prints.
   The record is written before each side effect; a failure stops the VMM and
   hands the record to the one teardown (see interp.h). */
#include "config.h"

#include "interp.h"
#include "attached.h"
#include "cgroup.h"
#include "console.h"
#include "discover.h"
#include "fcapi.h"
#include "lifecycle.h"
#include "net.h"
#include "output.h"
#include "pidref.h"
#include "preflight.h"
#include "process.h"
#include "record.h"
#include "seam.h"
#include "jailfs.h"
#include "stage.h"
#include "state.h"
#include "teardown.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct firec_vm
{
  const struct firec_plan *plan;
  const struct firec_model *model;
  struct firec_run_opts opts;
  struct firec_preflight pf;

  struct firec_state state;
  int lock_fd;
  int dir_fd;                  /* the VM's state directory */
  struct firec_record *record; /* from state.create on */
  int guard_fd;                /* attached: the write end of the guard's pipe */

  int root_fd;
  int console_slave;           /* Firecracker's stdin, stdout and stderr, until it is started */
  int console_fd;              /* attached: the connection to the console keeper */
  struct firec_pidref spawned; /* the jailer, or firecracker without it */
  struct firec_pidref vmm;
  struct firec_stderr_tail *stderr_tail;
  struct firec_fcapi *api;
  int interrupted; /* the signal that interrupted the run, 0 if none */
};

/* ------------------------------------------------------------------ signals */

static const char *
signal_name (int signo)
{
  static char buf[32];
  const char *abbrev = sigabbrev_np (signo);
  snprintf (buf, sizeof buf, "SIG%s", abbrev ? abbrev : "?");
  return buf;
}

/* Whether a stop signal is waiting on the signalfd; it is read (it is this
   run's to act on: the run rolls back). */
static bool
interrupted (struct firec_vm *vm)
{
  if (vm->interrupted)
    return true;
  if (vm->opts.signal_fd < 0)
    return false;
  struct signalfd_siginfo si;
  if (read (vm->opts.signal_fd, &si, sizeof si) != (ssize_t) sizeof si)
    return false;
  vm->interrupted = (int) si.ssi_signo;
  return true;
}

/* ------------------------------------------------------------------ the record */

static int
save_record (struct firec_vm *vm, firec_error_t *err)
{
  return firec_record_write (vm->dir_fd, vm->model->state_dir, vm->record, err);
}

/* The resolved manifest, for `apply`, `diff` and `update` (record.h). */
static int
save_manifest (struct firec_vm *vm, firec_error_t *err)
{
  cleanup_cjson cJSON *manifest = firec_model_to_manifest (vm->model);
  return firec_record_write_manifest (vm->dir_fd, vm->model->state_dir, manifest, err);
}

static struct firec_record *
new_record (struct firec_vm *vm)
{
  struct firec_record *r = firec_record_new (vm->model, vm->opts.detached ? FIREC_RUN_DAEMON : vm->model->mode);
  /* Who holds the VM's lock as its own run: `stop` and `rm` signal that
     process, and only while it is still this one. */
  cleanup_error firec_error_t ignored = NULL;
  firec_process_start_time (r->firec_pid, &r->firec_start_time, &ignored);
  if (vm->pf.firecracker_version)
    r->firecracker_version = firec_xstrdup (vm->pf.firecracker_version);
  r->digest = firec_model_digest (vm->model);
  /* What other runs must not write (or, what it writes, use): the files it
     uses in place. A new output is named once it is made (outputs). */
  for (size_t i = 0; i < vm->pf.file_count; i++)
    {
      const struct firec_preflight_file *f = &vm->pf.files[i];
      if (f->use == FIREC_USE_READ || f->use == FIREC_USE_WRITE)
        firec_record_add_file (r, f->dev, f->ino, f->use == FIREC_USE_WRITE);
    }
  return r;
}

/* Someone made the VM's state between our preflight and our lock. */
static int
state_appeared (struct firec_vm *vm, firec_error_t *err)
{
  close (vm->lock_fd);
  vm->lock_fd = -1;
  if (firec_vm_check_absent (vm->model, err) == 0)
    firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "%s was created by another firec-run meanwhile", vm->model->name);
  return -1;
}

/* The VM's lock: a duplicate of the caller's (it stays held when the run
   closes or removes this one), or taken now. */
static int
take_lock (struct firec_vm *vm, firec_error_t *err)
{
  if (vm->opts.held_lock == NULL)
    return firec_state_lock (&vm->state, vm->model->name, vm->opts.lock_timeout_ms, &vm->lock_fd, err);
  vm->lock_fd = fcntl (*vm->opts.held_lock, F_DUPFD_CLOEXEC, 3);
  return vm->lock_fd < 0 ? firec_error_set (err, errno, "cannot duplicate the lock of %s", vm->model->name) : 0;
}

static int
step_state_create (struct firec_vm *vm, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (firec_state_open (true, &vm->state, err) < 0 || take_lock (vm, err) < 0)
    return -1;
  cleanup_close int existing = -1;
  if (firec_state_open_vm_dir (&vm->state, m->name, &existing, err) < 0)
    return -1;
  if (existing >= 0)
    return state_appeared (vm, err);
  /* From here on a failure is rolled back from the record. */
  vm->record = new_record (vm);
  if (firec_state_make_vm_dir (&vm->state, m->name, err) < 0
      || firec_state_open_vm_dir (&vm->state, m->name, &vm->dir_fd, err) < 0)
    return -1;
  /* Named and checked in one step (the state root's lock): of two runs that
     started at the same instant, the later sees the earlier's files
     (preflight.h). */
  cleanup_close int claim = -1;
  if (firec_state_lock_root (&vm->state, FIREC_STATE_CLAIM_TIMEOUT_MS, &claim, err) < 0
      || firec_preflight_recheck_others (&vm->pf, err) < 0)
    return -1;
  if (save_record (vm, err) < 0 || save_manifest (vm, err) < 0)
    return -1;
  if (vm->opts.attached && vm->opts.helper)
    return firec_guard_start (vm->opts.helper, vm->state.root, m->name, &vm->guard_fd, err);
  return 0;
}

static int
step_state_record (struct firec_vm *vm, firec_error_t *err)
{
  vm->record->phase = FIREC_PHASE_RUNNING;
  vm->record->started_at = (long long) time (NULL);
  if (save_record (vm, err) < 0)
    return -1;
  /* An attached run lives as long as its VM: the other VMs' records it
     checked go now. */
  firec_preflight_forget_others (&vm->pf);
  /* Started: no rollback moves the earlier outputs back any more, so the ones
     beyond those kept go. */
  for (size_t i = 0; i < vm->record->output_count; i++)
    firec_output_trim (vm->record->outputs[i].path, vm->record->outputs[i].moved);
  return 0;
}

/* ------------------------------------------------------------------ staging */

/* Directories that Firecracker will bind sockets in must exist in its root, and
   belong to its uid. */
static int
make_socket_dirs (struct firec_vm *vm, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  const char *sockets[2] = { m->api_socket_host, m->vsock_socket_host };
  size_t root_len = strlen (m->vm_root);
  /* Through the walker: ".." and symlinks are refused, what it makes is chowned by fd. */
  const struct firec_jailfs_mkdir mk
      = { 0700, m->jailer ? (uid_t) m->uid : (uid_t) -1, m->jailer ? (gid_t) m->gid : (gid_t) -1 };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (sockets); i++)
    {
      if (sockets[i] == NULL)
        continue;
      cleanup_free char *dir = firec_xstrdup (sockets[i] + root_len);
      *strrchr (dir, '/') = '\0';
      /* The jailer makes /run itself (and fails on nothing else there). */
      if (dir[0] == '\0' || (m->jailer && strcmp (dir, "/run") == 0))
        continue;
      cleanup_close int fd = -1;
      if (firec_jailfs_open_dir (vm->root_fd, dir, FIREC_JAILFS_MKDIR | FIREC_JAILFS_NO_XDEV, &mk, &fd, err) < 0)
        return -1;
    }
  return 0;
}

/* The jail, named in the record since state.create: ours once our mkdir
   made it. One that is there already (firec_stage_make_root: EEXIST) is
   another run's of the name, from another state root, which preflight cannot
   see: the record says so before the run fails, so that the rollback neither
   removes it nor kills what runs in it. */
static int
make_jail (struct firec_vm *vm, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (firec_stage_make_root (m->jail_dir, m->vm_root, &vm->root_fd, err) == 0)
    {
      vm->record->jail = FIREC_JAIL_MADE;
      return save_record (vm, err);
    }
  if (err && *err && (*err)->errno_value == EEXIST)
    {
      vm->record->jail = FIREC_JAIL_NOT_OURS;
      cleanup_error firec_error_t ignored = NULL;
      save_record (vm, &ignored);
    }
  return -1;
}

static int
step_stage_root (struct firec_vm *vm, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (m->jailer)
    {
      if (make_jail (vm, err) < 0)
        return -1;
    }
  else
    {
      if (mkdirat (vm->dir_fd, "root", 0700) < 0)
        return firec_error_set (err, errno, "cannot create %s", m->vm_root);
      vm->root_fd = openat (vm->dir_fd, "root", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (vm->root_fd < 0)
        return firec_error_set (err, errno, "cannot open %s", m->vm_root);
    }
  return make_socket_dirs (vm, err);
}

/* Makes room for a new output file (output.h): an existing file is moved aside,
   named in the record first (how many names move, and which file was at the
   path), so that a rollback, whenever firec-run dies, moves it back. A FIFO is
   used as it is. *may_create: the record names the output (its index). */
static int
clear_output_path (struct firec_vm *vm, const struct firec_file *f, bool *may_create, size_t *index, firec_error_t *err)
{
  struct stat st;
  int kind = firec_output_inspect (f->host_path, &st);
  *may_create = kind == FIREC_OUTPUT_ABSENT || kind == FIREC_OUTPUT_ASIDE;
  if (kind < 0)
    return firec_error_set (err, errno, "cannot inspect %s", f->host_path);
  if (kind == FIREC_OUTPUT_OTHER)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s: %s is %s: not an output file", f->where,
                                 f->host_path, firec_file_type_name (st.st_mode));
  if (!*may_create)
    return 0;
  int count = kind == FIREC_OUTPUT_ASIDE ? firec_output_chain (f->host_path) : 0;
  if (count < 0)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "%s: cannot move the earlier files of %s aside",
                                 f->where, f->host_path);
  /* What moves is the name: a symbolic link there, not what it points to. */
  struct stat name;
  if (count && lstat (f->host_path, &name) < 0)
    return firec_error_set (err, errno, "cannot inspect %s", f->host_path);
  /* Claimed as the files at state.create were: checked against the other
     VMs' outputs and named in one step, before anything moves. */
  cleanup_close int claim = -1;
  if (firec_state_lock_root (&vm->state, FIREC_STATE_CLAIM_TIMEOUT_MS, &claim, err) < 0
      || firec_preflight_recheck_others (&vm->pf, err) < 0)
    return -1;
  *index = firec_record_add_output (vm->record, f->host_path);
  struct firec_record_output *o = &vm->record->outputs[*index];
  o->moved = (unsigned) count;
  if (count)
    {
      o->was_dev = name.st_dev;
      o->was_ino = name.st_ino;
    }
  if (save_record (vm, err) < 0)
    return -1;
  close (steal_fd (&claim));
  return count ? firec_output_rotate (f->host_path, (unsigned) count, err) : 0;
}

/* The fd of f that preflight checked (preflight.h), or -1. */
static int
checked_input (const struct firec_vm *vm, const struct firec_file *f)
{
  const struct firec_model *m = vm->model;
  if (vm->pf.input_fds == NULL || f < m->files || f >= m->files + m->file_count)
    return -1;
  return vm->pf.input_fds[f - m->files];
}

/* Stages f (without the jailer: makes the output file); *created: the output
   file is new, made by this call. */
static int
stage_one (struct firec_vm *vm, const struct firec_file *f, bool *created, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  *created = false;
  if (m->jailer)
    {
      struct firec_staged staged = { 0 };
      struct firec_stage_known known = { vm->pf.access, vm->pf.access_count };
      int rc = firec_stage_input (vm->root_fd, f, checked_input (vm, f), (uid_t) m->uid, (gid_t) m->gid, &known,
                                  vm->opts.progress, &staged, err);
      *created = staged.created_host_output;
      firec_staged_release (&staged);
      return rc;
    }
  /* Firecracker 1.5.1 refuses an output file that does not exist. */
  return f->output ? firec_stage_prepare_output (f->host_path, getuid (), getgid (), created, err) : 0;
}

/* A file took the output's path after it was cleared: another's. The record
   says so before the run fails, so that the rollback does not take it for
   the empty file the run would have made. */
static int
output_taken (struct firec_vm *vm, const struct firec_file *f, size_t index, firec_error_t *err)
{
  vm->record->outputs[index].not_ours = true;
  cleanup_error firec_error_t ignored = NULL;
  save_record (vm, &ignored);
  return firec_error_set (err, EEXIST, "%s appeared while firec-run made it", f->host_path);
}

/* Stages one file (without the jailer: makes the output file). An output is
   named in the record before it is made, and by its identity once it is:
   rollback removes it, and nothing else. */
static int
step_stage_file (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_file *f = step->file;
  struct stat st;
  bool may_create = false;
  size_t index = 0;
  if (f->output && clear_output_path (vm, f, &may_create, &index, err) < 0)
    return -1;
  cleanup_free char *cleared = firec_xasprintf ("%s/cleared", step->id);
  firec_seam_signal_at (cleared); /* the race tests: the path is free, the file not made yet */
  bool created;
  int rc = stage_one (vm, f, &created, err);
  if (!may_create)
    return rc;
  if (!created)
    return output_taken (vm, f, index, err);
  if (rc < 0)
    return -1;
  if (lstat (f->host_path, &st) < 0)
    return firec_error_set (err, errno, "cannot inspect %s", f->host_path);
  vm->record->outputs[index].dev = st.st_dev;
  vm->record->outputs[index].ino = st.st_ino;
  return save_record (vm, err);
}

/* ------------------------------------------------------------------ network */

/* A missing TAP that the bridge it must join is known for: its ifindex. */
static int
bridge_index (struct firec_net *net, const struct firec_tap *t, int *master, firec_error_t *err)
{
  struct firec_link bridge;
  *master = 0;
  if (t->bridge == NULL)
    return 0;
  if (firec_net_link (net, t->bridge, 0, &bridge, err) < 0)
    return -1;
  if (!bridge.exists || strcmp (bridge.kind, "bridge") != 0)
    return firec_error_set (err, 0, "%s: the bridge %s is gone", t->options_where, t->bridge);
  *master = bridge.ifindex;
  return 0;
}

/* An interface's TAP. One that preflight found is listed in the record (not
   ours) and left as it is; a missing one is named in the record as ours
   before it is made and by its ifindex once it is, then set up. */
static int
step_net_tap (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  const struct firec_tap *t = step->tap;
  const char *netns = m->jailer ? m->netns : NULL;
  int existing = vm->pf.tap_ifindex ? vm->pf.tap_ifindex[t - m->taps] : 0;
  if (existing)
    {
      size_t i = firec_record_add_tap (vm->record, t->iface_id, t->name, netns, 0, false);
      vm->record->taps[i].ifindex = existing;
      return save_record (vm, err);
    }
  cleanup_net struct firec_net *net = NULL;
  int master;
  if (firec_net_open (netns, &net, err) < 0 || bridge_index (net, t, &master, err) < 0)
    return -1;
  size_t i = firec_record_add_tap (vm->record, t->iface_id, t->name, netns, firec_net_ns_ino (net), true);
  if (save_record (vm, err) < 0)
    return -1;
  cleanup_free char *named = firec_xasprintf ("%s/named", step->id);
  firec_seam_signal_at (named); /* the crash tests: named, not made */
  int ifindex;
  if (firec_net_tap_create (net, t->name, vm->record->uid, vm->record->gid, &ifindex, err) < 0)
    {
      /* Not made: a device of that name (one that appeared since preflight)
         is not ours, and the teardown must not take it for ours. */
      firec_record_drop_tap (vm->record, i);
      cleanup_error firec_error_t ignored = NULL;
      save_record (vm, &ignored);
      firec_error_prefix (err, "%s", t->where);
      return -1;
    }
  cleanup_free char *made = firec_xasprintf ("%s/created", step->id);
  firec_seam_signal_at (made); /* the crash tests: made, not yet recorded by ifindex */
  vm->record->taps[i].ifindex = ifindex;
  if (save_record (vm, err) < 0)
    return -1;
  return firec_net_link_setup (net, ifindex, t->mtu, master, err);
}

/* The last lines of what Firecracker (or the jailer) said: from the stderr
   pipe, or from the console log once the keeper has logged everything. */
static void
annotate_stderr (struct firec_vm *vm, const char *what, firec_error_t *err)
{
  if (vm->stderr_tail)
    {
      firec_stderr_tail_annotate (vm->stderr_tail, what, err);
      return;
    }
  if (err == NULL || *err == NULL || vm->record == NULL || vm->record->console.dir == NULL)
    return;
  firec_console_sync (vm->dir_fd, 1000);
  cleanup_free char *text = NULL;
  size_t len;
  cleanup_error firec_error_t ignored = NULL;
  if (firec_console_read_log (vm->dir_fd, vm->model->state_dir, &text, &len, &ignored) < 0 || len == 0)
    return;
  struct firec_buf buf = { 0 };
  firec_buf_printf (&buf, "\nlast lines of %s's console (%s/%s):", what, vm->model->state_dir, FIREC_CONSOLE_LOG);
  const char *line = text + firec_console_tail_start (text, len, FIREC_STDERR_TAIL_LINES);
  while (*line)
    {
      size_t n = strcspn (line, "\r\n");
      if (n)
        firec_buf_printf (&buf, "\n  %.*s", (int) n, line);
      line += n;
      line += strspn (line, "\r\n");
    }
  firec_error_append (err, "%s", buf.data);
  firec_buf_release (&buf);
}

/* ------------------------------------------------------------------ deaths */

/* What a dead process of the VM was. Until the jailer execs Firecracker, the
   process that becomes the VMM is the jailer (under the same pid), so the name
   comes from the host: a zombie's /proc/PID/comm is the file its last exec
   ran, and it stays readable until the zombie is reaped (we only peek). */
static const char *
process_name (const struct firec_vm *vm, pid_t pid)
{
  const struct firec_model *m = vm->model;
  if (!m->jailer)
    return "firecracker";
  cleanup_free char *path = firec_xasprintf ("/proc/%ld/comm", (long) pid);
  cleanup_free char *comm = NULL;
  size_t len;
  if (firec_read_file (path, 64, &comm, &len) < 0)
    return pid == vm->spawned.pid && pid != vm->vmm.pid ? "the jailer" : "firecracker";
  comm[strcspn (comm, "\n")] = '\0';
  const char *jailer = strrchr (m->jailer_binary.path, '/');
  jailer = jailer ? jailer + 1 : m->jailer_binary.path;
  /* The kernel keeps the first 15 bytes of the name (TASK_COMM_LEN). */
  return strncmp (comm, jailer, 15) == 0 && strncmp (comm, m->exec_name, 15) != 0 ? "the jailer" : "firecracker";
}

/* "the jailer (pid 123) was killed by signal 6 (SIGABRT)" when a process of the
   start has ended (the VMM, or the jailer that spawned it failing); else NULL,
   and *name "firecracker". */
static char *
describe_death (struct firec_vm *vm, const char **name)
{
  *name = "firecracker";
  struct firec_pidref *refs[] = { &vm->vmm, &vm->spawned };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (refs); i++)
    {
      cleanup_error firec_error_t ignored = NULL;
      int status = -1;
      if (refs[i]->fd < 0 || firec_process_peek_exit (refs[i]->pid, refs[i]->fd, &status, &ignored) != 1)
        continue;
      /* A jailer that forked Firecracker off exits 0: that is not a death. */
      if (refs[i] == &vm->spawned && vm->spawned.pid != vm->vmm.pid && status != -1 && WIFEXITED (status)
          && WEXITSTATUS (status) == 0)
        continue;
      *name = process_name (vm, refs[i]->pid);
      cleanup_free char *how = firec_describe_wait_status (status);
      return firec_xasprintf ("%s (pid %ld) %s", *name, (long) refs[i]->pid, how);
    }
  return NULL;
}

/* The error of a step that ended because a process died: said again as who
   died, how, and when (what), with that process's last stderr lines. */
static void
report_death (struct firec_vm *vm, const char *when, firec_error_t *err)
{
  const char *name;
  cleanup_free char *death = describe_death (vm, &name);
  if (death && err && *err)
    {
      firec_error_release (err);
      firec_error_set (err, 0, "%s %s", death, when);
    }
  annotate_stderr (vm, name, err);
}

/* ------------------------------------------------------------------ spawn */

static bool
pid_file_names_vmm (const struct firec_vm *vm)
{
  /* The spawned process is not Firecracker when the jailer forks it off: under
     --new-pid-ns (every version) and --daemonize from 1.7 (double fork). */
  const struct firec_model *m = vm->model;
  if (!m->jailer)
    return false;
  if (m->new_pid_ns)
    return true;
  const char *version = vm->pf.firecracker_version;
  return m->daemonize && (version == NULL || firec_version_compare (version, "1.7") >= 0);
}

/* The console keeper, before Firecracker: named in the record, started,
   recorded with its pid. An attached run attaches at once, so that its
   terminal shows Firecracker's first words. */
static int
start_console (struct firec_vm *vm, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (vm->opts.helper == NULL)
    return 0;
  vm->record->console.dir = firec_xstrdup (m->state_dir);
  if (save_record (vm, err) < 0)
    return -1;
  cleanup_close int master = -1, listen_fd = -1;
  if (firec_console_open (vm->dir_fd, m->state_dir, &master, &vm->console_slave, &listen_fd, err) < 0)
    return -1;
  struct firec_pidref keeper;
  if (firec_console_start_keeper (vm->opts.helper, m->state_dir, vm->dir_fd, master, listen_fd, &keeper, err) < 0)
    return -1;
  vm->record->console.keeper = (struct firec_record_process){ keeper.pid, keeper.start_time };
  firec_pidref_done (&keeper);
  if (save_record (vm, err) < 0)
    return -1;
  pid_t busy;
  return vm->opts.attached ? firec_console_request (vm->dir_fd, m->state_dir, "attach", &vm->console_fd, &busy, err)
                           : 0;
}

/* Firecracker's stdin, stdout and stderr: the console's pty; without a
   keeper, the terminal and a pipe for stderr, or /dev/null when detached. */
static int
console_stdio (struct firec_vm *vm, struct firec_spawn_opts *opts, int *child_stderr, firec_error_t *err)
{
  if (vm->console_slave >= 0)
    {
      opts->stdin_fd = opts->stdout_fd = opts->stderr_fd = vm->console_slave;
      return 0;
    }
  if (vm->opts.detached)
    {
      opts->stdin_fd = opts->stdout_fd = opts->stderr_fd = FIREC_SPAWN_FD_DEVNULL;
      return 0;
    }
  if (firec_stderr_tail_open (vm->opts.stderr_copy_fd, &vm->stderr_tail, child_stderr, err) < 0)
    return -1;
  opts->stdin_fd = vm->opts.console_in;
  opts->stdout_fd = vm->opts.console_out;
  opts->stderr_fd = *child_stderr;
  opts->foreground_tty = vm->opts.console_is_tty ? vm->opts.console_in : -1;
  return 0;
}

static int
spawn_vmm (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  cleanup_close int child_stderr = -1;
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  if (console_stdio (vm, &opts, &child_stderr, err) < 0)
    return -1;
  /* The plan's argv is final: it names the resolved binaries and the cgroup
     version, and preflight checked that they are still what it names. */
  opts.argv = (const char *const *) step->argv;
  opts.envp = (const char *const *) environ;
  /* With a guard, that is what ends the VM with firec-run: not the death of
     its parent, which would also end a VM handed over as detached. */
  opts.die_with_parent = vm->opts.attached && vm->opts.helper == NULL;
  /* Without the jailer, the VM's root is the working directory: that is how
     the host tells the VM's processes (discover.h). */
  opts.cwd = m->jailer ? NULL : m->vm_root;
  /* Firecracker 1.5.1's jailer calls setsid() for --daemonize, which a process
     group leader cannot do. */
  opts.keep_process_group = m->daemonize;
  pid_t pid;
  int pidfd = -1;
  int rc = firec_spawn (&opts, &pid, &pidfd, err);
  /* Firecracker holds the console's slave now; the keeper must see the VM's
     end as the end of its last holder. */
  if (vm->console_slave >= 0)
    close (steal_fd (&vm->console_slave));
  if (rc < 0)
    return -1;
  return firec_pidref_adopt (pid, pidfd, &vm->spawned, err);
}

/* ------------------------------------------------------------------ cgroups */

static size_t
strv_length (char *const *v)
{
  size_t n = 0;
  while (v[n])
    n++;
  return n;
}

/* Drops s (an entry of v) from v. */
static void
strv_drop (char **v, const char *s)
{
  for (size_t i = 0; v[i]; i++)
    if (v[i] == s)
      {
        free (v[i]);
        memmove (&v[i], &v[i + 1], strv_length (&v[i + 1]) * sizeof *v + sizeof *v);
        return;
      }
}

/* Makes the cgroups the jailer will put the VM in: missing parents first
   (listed deepest first), then the VM's own. A parent found made meanwhile is
   another's: dropped from pending, the record's list; so is a cgroup of the
   VM's own that was there, before the error. */
static int
make_cgroup_dirs (char **pending, char *const *dirs, size_t n_dirs, firec_error_t *err)
{
  for (size_t i = strv_length (pending); i-- > n_dirs;)
    if (mkdir (pending[i], 0755) < 0)
      {
        if (errno != EEXIST)
          return firec_error_set (err, errno, "cannot create the cgroup %s", pending[i]);
        strv_drop (pending, pending[i]);
      }
  for (size_t i = 0; i < n_dirs; i++)
    if (firec_cgroup_make (dirs[i], err) < 0)
      {
        if ((*err)->errno_value == EEXIST)
          strv_drop (pending, pending[i]);
        return -1;
      }
  return 0;
}

/* The VM's cgroups, made by firec-run itself before the jailer joins them:
   its mkdir is what tells a cgroup of this run from one that another run of
   the name (another state root) or another tool made, whose processes a
   teardown would otherwise kill. Named in the record first as cgroups that go
   only when empty (cgroup_parents: until the jailer is in them they hold
   nothing of the VM); once made, the VM's own (cgroup_dirs). One that was
   there already leaves the record before the run fails. */
static int
make_cgroups (struct firec_vm *vm, firec_error_t *err)
{
  struct firec_record *r = vm->record;
  char **dirs, **parents;
  firec_cgroup_dirs (vm->model, &dirs, &parents);
  size_t n_dirs = strv_length (dirs), n_parents = strv_length (parents);
  if (n_dirs == 0)
    {
      free (dirs);
      free (parents);
      return 0;
    }
  char **pending = firec_xcalloc (n_dirs + n_parents + 1, sizeof *pending);
  for (size_t i = 0; i < n_dirs; i++)
    pending[i] = firec_xstrdup (dirs[i]);
  memcpy (pending + n_dirs, parents, n_parents * sizeof *parents);
  free (parents);
  for (size_t i = 0; r->cgroup_parents[i]; i++)
    free (r->cgroup_parents[i]);
  free (r->cgroup_parents);
  r->cgroup_parents = pending;
  int rc = save_record (vm, err) < 0 ? -1 : make_cgroup_dirs (pending, dirs, n_dirs, err);
  if (rc == 0)
    {
      /* Made: the VM's now, the parents stay pending (removed when empty). */
      for (size_t i = 0; i < n_dirs; i++)
        strv_drop (pending, pending[0]);
      for (size_t i = 0; r->cgroup_dirs[i]; i++)
        free (r->cgroup_dirs[i]);
      free (r->cgroup_dirs);
      r->cgroup_dirs = steal_pointer (&dirs);
      return save_record (vm, err);
    }
  cleanup_error firec_error_t ignored = NULL;
  save_record (vm, &ignored);
  for (size_t i = 0; dirs[i]; i++)
    free (dirs[i]);
  free (dirs);
  return -1;
}

/* The pid file is in the jail root, which the VM's uid owns: it may have
   written the file first, naming any process of the host. The pid is believed
   only when the host confirms it (discover.h: the process is in the VM's
   root), checked while a pidfd holds the process; a live one that is not is
   never recorded nor signalled, and the start fails (the rollback finds the
   real Firecracker from the host). One that has already exited (a zombie,
   whose root /proc no longer shows) is held as it is: no signal reaches it,
   and api.wait says how Firecracker ended. */
static int
adopt_named_vmm (struct firec_vm *vm, pid_t pid, const char *pid_file, firec_error_t *err)
{
  struct stat root;
  if (fstat (vm->root_fd, &root) < 0)
    return firec_error_set (err, errno, "cannot stat the VM root %s", vm->model->vm_root);
  cleanup_close int pidfd = -1;
  if (firec_pidfd_open (pid, &pidfd, err) < 0)
    return -1;
  bool ours = firec_vm_process_in_root (vm->record, &root, pid);
  bool dead = !ours && firec_pid_is_dead (pid);
  /* Not reaped after the checks: /proc answered about this very process. */
  int gone = firec_pidfd_send_signal (pidfd, 0, err);
  if (gone < 0)
    return -1;
  if (gone)
    return firec_error_set (err, ESRCH, "the pid file %s names pid %ld, which has already ended", pid_file, (long) pid);
  if (!ours && !dead)
    return firec_error_set (err, 0,
                            "the pid file %s names pid %ld, which is not a process in the VM's root %s: not "
                            "believed (the VM's uid can write that file), and not signalled",
                            pid_file, (long) pid, vm->model->vm_root);
  return firec_pidref_adopt (pid, steal_fd (&pidfd), &vm->vmm, err);
}

static int
step_spawn (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if ((m->jailer && make_cgroups (vm, err) < 0) || start_console (vm, err) < 0)
    return -1;
  vm->record->phase = FIREC_PHASE_STARTING;
  if (spawn_vmm (vm, step, err) < 0)
    return -1;
  /* Recorded at once: should firec-run die now, `rm` finds the process (and
     finds it from the host anyway before this write). */
  vm->record->jailer_process = (struct firec_record_process){ vm->spawned.pid, vm->spawned.start_time };
  if (!pid_file_names_vmm (vm))
    {
      vm->vmm = (struct firec_pidref) FIREC_PIDREF_NULL;
      vm->vmm.pid = vm->spawned.pid;
      vm->vmm.fd = fcntl (vm->spawned.fd, F_DUPFD_CLOEXEC, 3);
      vm->vmm.start_time = vm->spawned.start_time;
      vm->record->vmm = vm->record->jailer_process;
      return save_record (vm, err);
    }
  if (save_record (vm, err) < 0)
    return -1;
  cleanup_free char *pid_file = firec_xasprintf ("%s.pid", m->exec_name);
  pid_t pid;
  if (firec_read_pid_file_watch (vm->root_fd, pid_file, m->start_timeout_ms, vm->spawned.fd, vm->opts.signal_fd, &pid,
                                 err)
      < 0)
    {
      cleanup_free char *when = firec_xasprintf ("before writing its pid file %s", pid_file);
      report_death (vm, when, err);
      return -1;
    }
  if (adopt_named_vmm (vm, pid, pid_file, err) < 0)
    {
      annotate_stderr (vm, "firecracker", err);
      return -1;
    }
  vm->record->vmm = (struct firec_record_process){ vm->vmm.pid, vm->vmm.start_time };
  return save_record (vm, err);
}

/* Kills the VMM (and the jailer) and reaps what is ours to reap. */
static void
stop_vmm_now (struct firec_vm *vm)
{
  struct firec_pidref *refs[] = { &vm->vmm, &vm->spawned };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (refs); i++)
    {
      cleanup_error firec_error_t ignored = NULL;
      int status;
      firec_pidref_kill (refs[i], SIGKILL, &ignored);
      firec_pidref_wait (refs[i], 10000, &status, &ignored);
      firec_pidref_done (refs[i]);
    }
}

/* ------------------------------------------------------------------ API */

static void
annotate_vmm_death (struct firec_vm *vm, firec_error_t *err)
{
  const char *name;
  cleanup_free char *death = describe_death (vm, &name);
  if (death)
    firec_error_prefix (err, "%s", death);
  annotate_stderr (vm, name, err);
}

static long
request_timeout_ms (const struct firec_vm *vm)
{
  return vm->model->start_timeout_ms > 30000 ? vm->model->start_timeout_ms : 30000;
}

/* Sends step's request (GET / for the readiness and confirming steps) and
   receives its answer: one request at a time, each answer read before the next
   request goes out, so that Firecracker's word on a step that can end it (a
   failed snapshot load, InstanceStart) always reaches the user. */
static int
exchange (struct firec_vm *vm, const struct firec_step *step, const char *body, struct firec_fcapi_response *resp,
          firec_error_t *err)
{
  bool get_root = step->kind == FIREC_STEP_API_WAIT || step->kind == FIREC_STEP_API_CONFIRM;
  if (firec_fcapi_request (vm->api, get_root ? "GET" : step->method, get_root ? "/" : step->path,
                           get_root ? NULL : body, request_timeout_ms (vm), resp, err)
      < 0)
    {
      annotate_vmm_death (vm, err);
      return -1;
    }
  return 0;
}

/* Ready once the socket accepts and GET / is answered. libcurl, loading since
   the run began, is needed from here on. Every request of the run gives up at
   once when a stop signal arrives. */
static int
step_api_wait (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (firec_fcapi_wait_ready (m->vm_root, m->api_socket_host, vm->vmm.pid, vm->vmm.fd, vm->opts.signal_fd,
                              m->start_timeout_ms, &vm->api, err)
      < 0)
    {
      report_death (vm, "before Firecracker's API socket answered", err);
      return -1;
    }
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  return exchange (vm, step, NULL, &resp, err) < 0 || firec_fcapi_check ("GET", "/", NULL, &resp, err) < 0 ? -1 : 0;
}

static int
step_api_request (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  cleanup_free char *body = step->body ? cJSON_PrintUnformatted (step->body) : NULL;
  if (exchange (vm, step, body, &resp, err) < 0)
    return -1;
  return firec_fcapi_check (step->method, step->path, body, &resp, err);
}

static int
step_api_confirm (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  if (exchange (vm, step, NULL, &resp, err) < 0 || firec_fcapi_check ("GET", "/", NULL, &resp, err) < 0)
    return -1;
  cleanup_cjson cJSON *info = cJSON_Parse (resp.body);
  const char *state = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (info, "state"));
  if (state == NULL || strcmp (state, step->expect_state) != 0)
    return firec_error_set (err, 0, "GET / reports the VM \"%s\", expected \"%s\" (answer: %s)", state ? state : "?",
                            step->expect_state, resp.body);
  return 0;
}

/* ------------------------------------------------------------------ running */

static bool
is_preflight (enum firec_step_kind kind)
{
  switch (kind)
    {
    case FIREC_STEP_PREFLIGHT_CAPS:
    case FIREC_STEP_PREFLIGHT_KVM:
    case FIREC_STEP_PREFLIGHT_BINARIES:
    case FIREC_STEP_PREFLIGHT_SOURCES:
    case FIREC_STEP_PREFLIGHT_JAIL:
    case FIREC_STEP_PREFLIGHT_NETWORK:
      return true;
    case FIREC_STEP_STATE_CREATE:
    case FIREC_STEP_STAGE_JAIL:
    case FIREC_STEP_STAGE_FILE:
    case FIREC_STEP_NET_TAP:
    case FIREC_STEP_SPAWN:
    case FIREC_STEP_API_WAIT:
    case FIREC_STEP_API_REQUEST:
    case FIREC_STEP_API_CONFIRM:
    case FIREC_STEP_STATE_RECORD:
      return false;
    }
  return false;
}

static int
run_step (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  switch (step->kind)
    {
    case FIREC_STEP_PREFLIGHT_CAPS:
    case FIREC_STEP_PREFLIGHT_KVM:
    case FIREC_STEP_PREFLIGHT_BINARIES:
    case FIREC_STEP_PREFLIGHT_SOURCES:
    case FIREC_STEP_PREFLIGHT_JAIL:
    case FIREC_STEP_PREFLIGHT_NETWORK:
      firec_preflight_step (&vm->pf, step);
      return 0;
    case FIREC_STEP_STATE_CREATE:
      return step_state_create (vm, err);
    case FIREC_STEP_STAGE_JAIL:
      return step_stage_root (vm, err);
    case FIREC_STEP_STAGE_FILE:
      return step_stage_file (vm, step, err);
    case FIREC_STEP_NET_TAP:
      return step_net_tap (vm, step, err);
    case FIREC_STEP_SPAWN:
      return step_spawn (vm, step, err);
    case FIREC_STEP_API_WAIT:
      return step_api_wait (vm, step, err);
    case FIREC_STEP_API_REQUEST:
      return step_api_request (vm, step, err);
    case FIREC_STEP_API_CONFIRM:
      return step_api_confirm (vm, step, err);
    case FIREC_STEP_STATE_RECORD:
      return step_state_record (vm, err);
    }
  return firec_error_set (err, 0, "unknown step kind %d", (int) step->kind);
}

/* Stops the VMM and removes everything the record names; the first error stays
   the run's, with what could not be removed listed after it. */
static void
rollback (struct firec_vm *vm, firec_error_t *err)
{
  stop_vmm_now (vm);
  firec_fcapi_close (vm->api);
  vm->api = NULL;
  cleanup_error firec_error_t left = NULL;
  if (vm->record)
    firec_teardown (&vm->state, vm->record, FIREC_TEARDOWN_ROLLBACK, &vm->lock_fd, &left);
  else if (vm->lock_fd >= 0)
    firec_state_unlock_remove (&vm->state, vm->model->name, vm->lock_fd);
  vm->lock_fd = -1;
  firec_guard_release (&vm->guard_fd);
  if (left)
    {
      firec_error_reclassify (err, FIREC_ERR_LEFTOVERS);
      firec_error_append (err, "\nrollback incomplete: %s", left->message);
    }
  else
    firec_error_append (err, "\nrolled back: nothing is left on the host");
}

static struct firec_vm *
vm_new (const struct firec_plan *plan, const struct firec_run_opts *opts)
{
  struct firec_vm *vm = firec_xcalloc (1, sizeof *vm);
  vm->plan = plan;
  vm->model = plan->model;
  vm->opts = *opts;
  vm->state = (struct firec_state) FIREC_STATE_INIT;
  vm->lock_fd = vm->dir_fd = vm->root_fd = vm->guard_fd = vm->console_slave = vm->console_fd = -1;
  vm->spawned = vm->vmm = (struct firec_pidref) FIREC_PIDREF_NULL;
  firec_preflight_init (&vm->pf, plan);
  return vm;
}

/* Fault injection for the rollback tests, through the test seam (seam.h):
   fail:STEP makes STEP fail before it runs; SIGINT:STEP, SIGTERM:STEP,
   SIGKILL:STEP or SIGSTOP:STEP sends that signal to this process as STEP
   starts (STEP "started": once the last step is done; "STEP/POINT": at a
   point inside a step, firec_seam_signal_at). */
static int
inject_fault (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const char *fault = firec_seam_fault ();
  if (fault == NULL || strncmp (fault, "fail:", 5) != 0)
    {
      firec_seam_signal_at (step->id);
      return 0;
    }
  if (strcmp (fault + 5, step->id) != 0)
    return 0;
  if (!is_preflight (step->kind))
    return firec_error_set (err, 0, "injected failure (FIREC_TEST_FAULT)");
  firec_preflight_add (&vm->pf, step, false, "injected failure (FIREC_TEST_FAULT)");
  return 0;
}

/* Runs one step, with what may interrupt it; < 0 when the run must roll back. */
static int
run_one (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  if (inject_fault (vm, step, err) < 0)
    {
      firec_error_prefix (err, "step %s failed", step->id);
      return -1;
    }
  if (interrupted (vm))
    return firec_error_set (err, 0, "interrupted by %s before step %s", signal_name (vm->interrupted), step->id);
  if (vm->opts.on_step)
    vm->opts.on_step (vm->opts.data, step);
  if (run_step (vm, step, err) < 0)
    {
      if (interrupted (vm))
        {
          firec_error_release (err);
          return firec_error_set (err, 0, "interrupted by %s during step %s", signal_name (vm->interrupted), step->id);
        }
      firec_error_prefix (err, "step %s failed", step->id);
      return -1;
    }
  if (vm->stderr_tail)
    {
      cleanup_error firec_error_t ignored = NULL;
      firec_stderr_tail_drain (vm->stderr_tail, &ignored);
    }
  return 0;
}

int
firec_interp_run (const struct firec_plan *plan, const struct firec_run_opts *opts, struct firec_vm **ret,
                  firec_error_t *err)
{
  struct firec_vm *vm = vm_new (plan, opts);
  for (size_t i = 0; i < plan->count; i++)
    {
      const struct firec_step *step = &plan->steps[i];
      if (run_one (vm, step, err) < 0)
        {
          rollback (vm, err);
          firec_vm_free (vm);
          return -1;
        }
      bool last_preflight
          = is_preflight (step->kind) && (i + 1 == plan->count || !is_preflight (plan->steps[i + 1].kind));
      if (last_preflight && firec_preflight_finish (&vm->pf, err) < 0)
        {
          firec_vm_free (vm);
          return -1;
        }
    }
  firec_seam_signal_at ("started");
  *ret = vm;
  return 0;
}

/* ------------------------------------------------------------------ after start */

pid_t
firec_vm_pid (const struct firec_vm *vm)
{
  return vm->vmm.pid;
}

const char *
firec_vm_firecracker_version (const struct firec_vm *vm)
{
  return vm->pf.firecracker_version;
}

struct firec_attached *
firec_vm_attach (struct firec_vm *vm)
{
  struct firec_attached *a = firec_xcalloc (1, sizeof *a);
  a->state = vm->state;
  vm->state = (struct firec_state) FIREC_STATE_INIT;
  a->record = steal_pointer (&vm->record);
  a->vmm = vm->vmm;
  a->spawned = vm->spawned;
  vm->vmm = vm->spawned = (struct firec_pidref) FIREC_PIDREF_NULL;
  a->lock_fd = steal_fd (&vm->lock_fd);
  a->guard_fd = steal_fd (&vm->guard_fd);
  a->tail = steal_pointer (&vm->stderr_tail);
  a->console_fd = steal_fd (&vm->console_fd);
  a->relay.sock = -1;
  firec_vm_free (vm);
  return a;
}

void
firec_vm_free (struct firec_vm *vm)
{
  if (vm == NULL)
    return;
  firec_preflight_release (&vm->pf);
  firec_fcapi_close (vm->api);
  firec_stderr_tail_free (vm->stderr_tail);
  firec_record_free (vm->record);
  firec_pidref_done (&vm->spawned);
  firec_pidref_done (&vm->vmm);
  if (vm->lock_fd >= 0)
    close (vm->lock_fd);
  if (vm->dir_fd >= 0)
    close (vm->dir_fd);
  if (vm->root_fd >= 0)
    close (vm->root_fd);
  if (vm->console_slave >= 0)
    close (vm->console_slave);
  if (vm->console_fd >= 0)
    close (vm->console_fd);
  if (vm->guard_fd >= 0)
    close (vm->guard_fd); /* a detached VM has none; an attached one hands it over */
  firec_state_close (&vm->state);
  free (vm);
}
