/* interpret: one switch over step kinds runs exactly the records `plan` prints.
   Each step that changes the host pushes its undo; a failure stops the VMM,
   then unwinds the undo stack in reverse (see interp.h). */
#include "config.h"

#include "interp.h"
#include "caps.h"
#include "cgroup.h"
#include "fcapi.h"
#include "hostcheck.h"
#include "process.h"
#include "stage.h"
#include "state.h"
#include "supervise.h"
#include "version.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


extern char **environ;

/* A binary changed less than this long before its version probe is probed again
   next time (version.h: timestamps are coarse). */
#define VERSION_CACHE_SETTLE_S 2

enum undo_kind
{
  UNDO_STATE,       /* remove the state directory */
  UNDO_TREE,        /* remove the jail (or run) directory */
  UNDO_UNSTAGE,     /* remove one staged file */
  UNDO_OUTPUT,      /* without the jailer: remove an output file this run created, if still empty */
  UNDO_VMM,         /* reap the VMM and the jailer, remove the cgroups the jailer made */
};

struct undo
{
  enum undo_kind kind;
  const struct firec_step *step;
  struct firec_staged staged;
  char *path;
};

struct firec_vm
{
  const struct firec_plan *plan;
  const struct firec_model *model;
  struct firec_run_opts opts;

  char *firecracker_path; /* resolved absolute paths */
  char *jailer_path;
  char *firecracker_version;

  const struct firec_step *current_step;
  struct firec_buf preflight_failures;
  size_t preflight_failure_count;
  /* The version probes run while the later preflight steps do; their verdicts
     go where preflight.binaries' own would have (binaries_step, at that offset
     of preflight_failures). */
  struct firec_version_probe fc_probe, jailer_probe;
  bool probes_started;
  const struct firec_step *binaries_step;
  size_t binaries_offset;
  bool locked_by_other;

  int lock_fd;
  int root_fd;
  pid_t spawned_pid;
  int spawned_pidfd;
  bool spawned_reaped;
  pid_t vmm_pid;
  int vmm_pidfd;
  bool vmm_reaped;
  int vmm_wait_status;
  unsigned long long vmm_start_time;
  struct firec_stderr_tail *stderr_tail;
  struct firec_fcapi *api;
  size_t api_unsent; /* the first step whose API request is not sent yet */
  struct firec_access *access; /* the jail uid's rights on the sources, from preflight */
  size_t access_count;

  struct undo *undos;
  size_t undo_count;
  cJSON *record;
  cJSON *cgroup_dirs;
};

/* ------------------------------------------------------------------ interruption */

static volatile sig_atomic_t interrupt_signal;
static volatile pid_t interrupt_targets[2];

void
firec_interp_interrupt (int signo)
{
  interrupt_signal = signo;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (interrupt_targets); i++)
    if (interrupt_targets[i] > 0)
      kill (interrupt_targets[i], SIGKILL);
}

int
firec_interp_interrupted (void)
{
  return interrupt_signal;
}

static const char *
signal_name (int signo)
{
  static char buf[32];
  const char *abbrev = sigabbrev_np (signo);
  snprintf (buf, sizeof buf, "SIG%s", abbrev ? abbrev : "?");
  return buf;
}

static void
set_interrupt_targets (pid_t a, pid_t b)
{
  interrupt_targets[0] = a;
  interrupt_targets[1] = b;
}

/* ------------------------------------------------------------------ helpers */

static void
push_undo (struct firec_vm *vm, enum undo_kind kind, const struct firec_step *step, const char *path,
           const struct firec_staged *staged)
{
  vm->undos = firec_xrealloc (vm->undos, (vm->undo_count + 1) * sizeof *vm->undos);
  struct undo *u = &vm->undos[vm->undo_count++];
  memset (u, 0, sizeof *u);
  u->kind = kind;
  u->step = step;
  u->path = path ? firec_xstrdup (path) : NULL;
  if (staged)
    u->staged = *staged;
}


static void __attribute__ ((format (printf, 2, 3)))
preflight_fail (struct firec_vm *vm, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = firec_xvasprintf (fmt, ap);
  va_end (ap);
  firec_buf_printf (&vm->preflight_failures, "\n  - %s: %s", vm->current_step->id, msg);
  vm->preflight_failure_count++;
}

/* ------------------------------------------------------------------ preflight */

static void
preflight_caps (struct firec_vm *vm)
{
  cleanup_error firec_error_t err = NULL;
  cleanup_free char *missing = NULL;
  /* The jailer's limits (no-file defaults to 2048) need CAP_SYS_RESOURCE only above
     the hard limit it inherits from us. */
  bool raise = false;
  for (char **r = vm->model->resource_limits; *r; r++)
    {
      struct rlimit lim;
      int resource = strncmp (*r, "fsize=", 6) == 0 ? RLIMIT_FSIZE : RLIMIT_NOFILE;
      unsigned long long want = strtoull (strchr (*r, '=') + 1, NULL, 10);
      if (getrlimit (resource, &lim) == 0 && lim.rlim_max != RLIM_INFINITY && want > lim.rlim_max)
        raise = true;
    }
  int n = firec_caps_check (vm->model->netns != NULL, vm->model->cgroups[0] != NULL, raise, &missing, &err);
  if (n < 0)
    {
      preflight_fail (vm, "%s", err->message);
      return;
    }
  char *save = NULL;
  for (char *line = strtok_r (missing, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    preflight_fail (vm, "missing capability %s; run firec-run as root", line);
}

/* huge_pages: 2M fails at InstanceStart, in the guest kernel's loader, when
   the pool is short: knowable now. FIREC_SYSFS_ROOT: a test's fake sysfs. */
static void
preflight_hugepages (struct firec_vm *vm)
{
  const struct firec_model *m = vm->model;
  const char *sysfs = getenv ("FIREC_SYSFS_ROOT");
  struct firec_hugepages pool;
  cleanup_error firec_error_t err = NULL;
  int enough = firec_hugepages_check (sysfs && *sysfs ? sysfs : "/sys", m->huge_page_kib, m->mem_size_mib, &pool,
                                      &err);
  if (enough < 0)
    preflight_fail (vm, "%s: %s", m->huge_pages_where, err->message);
  else if (enough == 0)
    {
      cleanup_free char *shortfall = firec_hugepages_shortfall (&pool);
      preflight_fail (vm, "%s: %s", m->huge_pages_where, shortfall);
    }
  firec_hugepages_release (&pool);
}

static void
preflight_kvm (struct firec_vm *vm)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    preflight_fail (vm, "/dev/kvm cannot be opened read-write: %s (is KVM enabled, and may this user use it?)",
                    strerror (errno));
  else
    close (fd);
  if (vm->model->huge_page_kib)
    preflight_hugepages (vm);
}

static void
preflight_binaries (struct firec_vm *vm)
{
  const struct firec_model *m = vm->model;
  /* The model resolved the binaries (the plan's argv names those files); run
     and probe only what is still the same file. */
  cleanup_free char *fc_changed = firec_binary_changed (&m->firecracker_binary, m->base_dir);
  cleanup_free char *jailer_changed = m->jailer ? firec_binary_changed (&m->jailer_binary, m->base_dir) : NULL;
  if (m->firecracker_binary.found && fc_changed == NULL)
    vm->firecracker_path = firec_xstrdup (m->firecracker_binary.path);
  if (m->jailer && m->jailer_binary.found && jailer_changed == NULL)
    vm->jailer_path = firec_xstrdup (m->jailer_binary.path);
  if (fc_changed)
    preflight_fail (vm, "spec.firecracker.binary changed while firec-run read the manifest: %s; run again",
                    fc_changed);
  if (jailer_changed)
    preflight_fail (vm, "spec.jailer.binary changed while firec-run read the manifest: %s; run again",
                    jailer_changed);
  /* Both probes run at once, and alongside the rest of the preflight (or come
     from the cache). finish_preflight_binaries reads them. */
  cleanup_free char *root = firec_state_root ();
  cleanup_free char *cache_dir = firec_xasprintf ("%s/.versions", root);
  if (vm->firecracker_path)
    firec_version_probe_start (&vm->fc_probe, vm->firecracker_path, cache_dir, VERSION_CACHE_SETTLE_S);
  if (vm->jailer_path)
    firec_version_probe_start (&vm->jailer_probe, vm->jailer_path, cache_dir, VERSION_CACHE_SETTLE_S);
  vm->probes_started = true;
  vm->binaries_step = vm->current_step;
  vm->binaries_offset = vm->preflight_failures.len;
}

/* Reads the version probes and, with report, records what preflight.binaries
   found, in its place among the preflight failures. */
static void
finish_preflight_binaries (struct firec_vm *vm, bool report)
{
  if (!vm->probes_started)
    return;
  vm->probes_started = false;
  const struct firec_model *m = vm->model;
  const struct firec_plan *plan = vm->plan;
  cleanup_error firec_error_t fc_err = NULL, jailer_err = NULL;
  cleanup_free char *jailer_version = NULL;
  if (vm->firecracker_path)
    firec_version_probe_finish (&vm->fc_probe, &vm->firecracker_version, &fc_err);
  if (vm->jailer_path)
    firec_version_probe_finish (&vm->jailer_probe, &jailer_version, &jailer_err);
  if (!report)
    return;

  /* Later steps' failures move behind this step's. */
  const struct firec_step *step = vm->current_step;
  const char *after = vm->preflight_failures.data ? vm->preflight_failures.data + vm->binaries_offset : "";
  cleanup_free char *later = firec_xstrdup (after);
  vm->preflight_failures.len = vm->binaries_offset;
  if (vm->preflight_failures.data)
    vm->preflight_failures.data[vm->binaries_offset] = '\0';
  vm->current_step = vm->binaries_step;

  if (!m->firecracker_binary.found)
    preflight_fail (vm, "firecracker binary %s not found or not executable (spec.firecracker.binary%s)",
                    m->firecracker_binary.path,
                    strchr (m->firecracker_binary.written, '/') ? "" : ", looked up in PATH");
  else if (fc_err)
    preflight_fail (vm, "%s", fc_err->message);
  else if (vm->firecracker_version
           && firec_version_compare (vm->firecracker_version, plan->min_firecracker_version) < 0)
    {
      struct firec_buf why = { 0 };
      for (size_t i = 0; i < plan->count; i++)
        for (char **r = plan->steps[i].min_version_reasons; r && *r; r++)
          if (firec_version_compare (vm->firecracker_version, plan->steps[i].min_version) < 0)
            firec_buf_printf (&why, "%s%s", why.len ? ", " : "", *r);
      preflight_fail (vm, "%s is version %s, but the manifest needs at least %s: %s", vm->firecracker_path,
                      vm->firecracker_version, plan->min_firecracker_version, why.data ? why.data : "");
      firec_buf_release (&why);
    }
  /* (The 1.5.1 jailer's rule that the exec file name contains "firecracker" is
     in the plan's version gate: jailer.spawn needs 1.13 otherwise.) */
  if (m->jailer && !m->jailer_binary.found)
    preflight_fail (vm, "jailer binary %s not found or not executable (spec.jailer.binary%s)", m->jailer_binary.path,
                    strchr (m->jailer_binary.written, '/') ? "" : ", looked up in PATH");
  else if (jailer_err)
    preflight_fail (vm, "%s", jailer_err->message);
  else if (jailer_version && vm->firecracker_version && strcmp (jailer_version, vm->firecracker_version) != 0)
    preflight_fail (vm, "the jailer is version %s but firecracker is %s: use the pair from one release",
                    jailer_version, vm->firecracker_version);

  firec_buf_puts (&vm->preflight_failures, later);
  vm->current_step = step;
}

static bool
same_filesystem (const char *a, const char *b)
{
  struct stat sa, sb;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0 && sa.st_dev == sb.st_dev;
}

/* The basic checks of one source file (it exists, is a file, we can read it):
   NULL when it passes, with *fd open on it (read-only, for the access check).
   Output files may not exist yet (*fd -1): their directory must. */
static char *
source_problem (const struct firec_file *f, int *fd)
{
  /* A Uffd handler's socket cannot be opened, only found: Firecracker connects to it. */
  bool socket = f->role == FIREC_FILE_UFFD_SOCKET;
  *fd = open (f->host_path, (socket ? O_PATH : O_RDONLY | O_NONBLOCK | O_NOCTTY) | O_CLOEXEC);
  int open_errno = errno;
  struct stat st;
  bool exists = *fd >= 0 || stat (f->host_path, &st) == 0;
  if (!exists && f->output)
    {
      cleanup_free char *copy = firec_xstrdup (f->host_path);
      char *slash = strrchr (copy, '/');
      if (slash)
        *slash = '\0';
      if (stat (*copy ? copy : "/", &st) < 0 || !S_ISDIR (st.st_mode))
        return firec_xasprintf ("%s: %s: its directory does not exist", f->where, f->host_path);
      return NULL;
    }
  if (!exists)
    return firec_xasprintf ("%s: %s: %s", f->where, f->host_path, strerror (open_errno));
  if (*fd < 0)
    return firec_xasprintf ("%s: %s cannot be read: %s", f->where, f->host_path, strerror (open_errno));
  /* An output may be a FIFO or a device; an input must be a file or a block device. */
  if (socket && fstat (*fd, &st) == 0 && !S_ISSOCK (st.st_mode))
    {
      close (*fd);
      *fd = -1;
      return firec_xasprintf ("%s: %s is not a Unix socket (a Uffd backend_path is the socket of the page-fault "
                              "handler, which must be listening before the run)",
                              f->where, f->host_path);
    }
  if (!socket && !f->output && fstat (*fd, &st) == 0 && !S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode))
    {
      close (*fd);
      *fd = -1;
      return firec_xasprintf ("%s: %s is not a regular file", f->where, f->host_path);
    }
  return NULL;
}

/* What the staging policy needs the jail's uid to be allowed, given the verdict
   for the file's inode. */
static void
preflight_jail_access (struct firec_vm *vm, const struct firec_file *f, const struct firec_access *access)
{
  const struct firec_model *m = vm->model;
  bool needs_access = f->output || (f->writable && f->mode != FIREC_STAGING_COPY && f->mode != FIREC_STAGING_REFLINK)
                      || f->mode == FIREC_STAGING_LINK;
  bool needs_write = f->output || (f->writable && f->mode != FIREC_STAGING_COPY && f->mode != FIREC_STAGING_REFLINK);
  if (!needs_access)
    return;
  cleanup_error firec_error_t err = NULL;
  int ok = access ? firec_stage_access_verdict (access, f->host_path, (uid_t) m->uid, (gid_t) m->gid, needs_write, &err)
                  : firec_error_set (&err, 0, "cannot open %s", f->host_path);
  if (ok < 0)
    preflight_fail (vm, "%s", err->message);
  else if (ok == 0)
    preflight_fail (vm,
                    "%s: %s must be %s by the VM's uid %lu: fix it with `chown %lu:%lu %s`, an ACL "
                    "(`setfacl -m u:%lu:%s %s`)%s",
                    f->where, f->host_path, needs_write ? "readable and writable" : "readable", m->uid, m->uid,
                    m->gid, f->host_path, m->uid, needs_write ? "rw" : "r", f->host_path,
                    f->output || f->role == FIREC_FILE_UFFD_SOCKET ? ""
                    : f->writable
                        ? ", or `staging: copy` for this drive (which makes it ephemeral: its writes are discarded)"
                        : ", or `staging: copy`");
  if (f->mode == FIREC_STAGING_LINK && !f->writable && !same_filesystem (f->host_path, m->chroot_base_dir))
    preflight_fail (vm, "%s: %s: staging: link needs the file on the filesystem of %s; use auto or copy", f->where,
                    f->host_path, m->chroot_base_dir);
}

static void
preflight_sources (struct firec_vm *vm)
{
  const struct firec_model *m = vm->model;
  size_t n = m->file_count;
  char **problems = firec_xcalloc (n ? n : 1, sizeof *problems);
  int *fds = firec_xcalloc (n ? n : 1, sizeof *fds);
  ssize_t *slot = firec_xcalloc (n ? n : 1, sizeof *slot);
  size_t open_count = 0;
  for (size_t i = 0; i < n; i++)
    {
      int fd;
      problems[i] = source_problem (&m->files[i], &fd);
      slot[i] = -1;
      /* In the jail Firecracker reaches a file through our link or bind mount,
         never through the host's directories: the inode's mode and ACL decide. */
      if (fd >= 0 && m->jailer)
        {
          fds[open_count] = fd;
          slot[i] = (ssize_t) open_count++;
        }
      else if (fd >= 0)
        close (fd);
    }
  /* All the files in one check (a child that becomes the jail's uid); staging
     reuses these verdicts. */
  free (vm->access);
  vm->access = firec_xcalloc (open_count ? open_count : 1, sizeof *vm->access);
  vm->access_count = 0;
  cleanup_error firec_error_t err = NULL;
  bool checked = open_count == 0
                 || firec_stage_check_access (fds, open_count, (uid_t) m->uid, (gid_t) m->gid, vm->access, &err) == 0;
  if (checked)
    vm->access_count = open_count;
  else
    preflight_fail (vm, "%s", err->message);
  for (size_t i = 0; i < open_count; i++)
    close (fds[i]);
  for (size_t i = 0; i < n; i++)
    {
      const struct firec_file *f = &m->files[i];
      if (problems[i])
        preflight_fail (vm, "%s", problems[i]);
      else if (m->jailer && checked && (!f->output || slot[i] >= 0))
        preflight_jail_access (vm, f, slot[i] >= 0 ? &vm->access[slot[i]] : NULL);
      free (problems[i]);
    }
  free (problems);
  free (fds);
  free (slot);
}

static void preflight_cgroups (struct firec_vm *vm);

static void
preflight_jail (struct firec_vm *vm)
{
  const struct firec_model *m = vm->model;
  if (m->jailer)
    preflight_cgroups (vm);
  cleanup_error firec_error_t err = NULL;
  pid_t holder = 0;
  int held = firec_state_lock_held (m->state_dir, &holder, &err);
  if (held > 0)
    {
      vm->locked_by_other = true;
      if (holder > 0)
        preflight_fail (vm, "%s is in use: firec-run pid %ld holds it", m->name, (long) holder);
      else
        preflight_fail (vm, "%s is in use by another firec-run", m->name);
      return;
    }
  struct stat st;
  if (m->jailer)
    {
      if (stat (m->chroot_base_dir, &st) < 0 || !S_ISDIR (st.st_mode))
        preflight_fail (vm, "the chroot base %s does not exist (spec.jailer.chroot_base_dir); create it with `mkdir "
                            "-p %s`",
                        m->chroot_base_dir, m->chroot_base_dir);
      if (lstat (m->jail_dir, &st) == 0)
        preflight_fail (vm, "%s already exists from an earlier run that was not cleaned up; remove it with "
                            "`firec-run rm %s`",
                        m->jail_dir, m->name);
    }
  else if (lstat (m->vm_root, &st) == 0)
    preflight_fail (vm, "%s already exists from an earlier run that was not cleaned up; remove it with `firec-run "
                        "rm %s`",
                    m->vm_root, m->name);
}

/* ------------------------------------------------------------------ state */

static cJSON *
base_record (const struct firec_vm *vm, const char *phase)
{
  const struct firec_model *m = vm->model;
  cJSON *r = cJSON_CreateObject ();
  cJSON_AddNumberToObject (r, "format_version", 1);
  cJSON_AddStringToObject (r, "name", m->name);
  cJSON_AddStringToObject (r, "phase", phase);
  cJSON_AddStringToObject (r, "manifest", m->source);
  cJSON_AddNumberToObject (r, "firec_pid", getpid ());
  /* How this run really goes: `run -d` detaches an attached-mode manifest. */
  cJSON_AddStringToObject (r, "mode", vm->opts.stderr_to_log ? "daemon" : firec_run_mode_name (m->mode));
  cJSON_AddBoolToObject (r, "jailer", m->jailer);
  if (m->jail_dir)
    cJSON_AddStringToObject (r, "jail_dir", m->jail_dir);
  cJSON_AddStringToObject (r, "vm_root", m->vm_root);
  cJSON_AddStringToObject (r, "api_socket", m->api_socket_host);
  if (vm->firecracker_version)
    cJSON_AddStringToObject (r, "firecracker_version", vm->firecracker_version);
  if (m->jailer)
    {
      cJSON_AddNumberToObject (r, "uid", (double) m->uid);
      cJSON_AddNumberToObject (r, "gid", (double) m->gid);
    }
  cleanup_free char *digest = firec_model_digest (m);
  cJSON_AddStringToObject (r, "digest", digest);
  cJSON *stop = cJSON_AddArrayToObject (r, "stop");
  for (size_t i = 0; i < m->stop_count; i++)
    {
      cJSON *s = cJSON_CreateObject ();
      cJSON_AddStringToObject (s, "action", m->stop[i].action == FIREC_STOP_CTRL_ALT_DEL ? "ctrl_alt_del"
                                            : m->stop[i].action == FIREC_STOP_SIGTERM   ? "sigterm"
                                                                                         : "sigkill");
      cJSON_AddNumberToObject (s, "wait_ms", (double) m->stop[i].wait_ms);
      cJSON_AddItemToArray (stop, s);
    }
  cJSON_AddNumberToObject (r, "stop_timeout_ms", (double) m->stop_timeout_ms);
  if (vm->cgroup_dirs)
    cJSON_AddItemToObject (r, "cgroup_dirs", cJSON_Duplicate (vm->cgroup_dirs, 1));
  if (vm->vmm_pid > 0)
    {
      cJSON_AddNumberToObject (r, "pid", vm->vmm_pid);
      cJSON_AddNumberToObject (r, "pid_start_time", (double) vm->vmm_start_time);
    }
  return r;
}

static int
step_state_create (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (firec_state_lock (m->state_dir, vm->opts.lock_timeout_ms, &vm->lock_fd, err) < 0)
    return -1;
  cJSON *existing = NULL;
  cleanup_error firec_error_t read_err = NULL;
  if (firec_state_read (m->state_dir, &existing, &read_err) < 0 && read_err->errno_value != EBADMSG)
    {
      if (err && *err == NULL)
        *err = steal_pointer (&read_err);
      return -1;
    }
  if (existing || read_err)
    {
      cJSON_Delete (existing);
      return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                   "%s holds the state of an earlier run of %s that was not cleaned up; remove it "
                                   "with `firec-run rm %s`",
                                   m->state_dir, m->name, m->name);
    }
  if (firec_state_make_dir (m->state_dir, err) < 0)
    return -1;
  push_undo (vm, UNDO_STATE, step, m->state_dir, NULL);
  /* The resolved manifest, for `apply` to tell what changed. */
  cleanup_free char *manifest_path = firec_xasprintf ("%s/manifest.json", m->state_dir);
  cleanup_free char *manifest = cJSON_Print (m->manifest);
  cleanup_close int fd = open (manifest_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || write (fd, manifest, strlen (manifest)) < 0)
    return firec_error_set (err, errno, "cannot write %s", manifest_path);
  vm->record = base_record (vm, "starting");
  return firec_state_write (m->state_dir, vm->record, err);
}

static int
update_record (struct firec_vm *vm, const char *phase, firec_error_t *err)
{
  cJSON_Delete (vm->record);
  vm->record = base_record (vm, phase);
  if (strcmp (phase, "running") == 0)
    cJSON_AddNumberToObject (vm->record, "started_at", (double) time (NULL));
  return firec_state_write (vm->model->state_dir, vm->record, err);
}

static int
step_state_record (struct firec_vm *vm, firec_error_t *err)
{
  return update_record (vm, "running", err);
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
  for (size_t i = 0; i < FIREC_N_ELEMENTS (sockets); i++)
    {
      if (sockets[i] == NULL)
        continue;
      cleanup_free char *rel = firec_xstrdup (sockets[i] + root_len + 1);
      char *slash = strrchr (rel, '/');
      if (slash == NULL)
        continue;
      *slash = '\0';
      /* The jailer makes /run itself (and fails on nothing else there). */
      if (m->jailer && strcmp (rel, "run") == 0)
        continue;
      for (char *p = rel;; p++)
        if (*p == '/' || *p == '\0')
          {
            char saved = *p;
            *p = '\0';
            if (mkdirat (vm->root_fd, rel, 0700) == 0)
              {
                if (m->jailer && fchownat (vm->root_fd, rel, (uid_t) m->uid, (gid_t) m->gid, AT_SYMLINK_NOFOLLOW) < 0)
                  return firec_error_set (err, errno, "cannot chown %s/%s", m->vm_root, rel);
              }
            else if (errno != EEXIST)
              return firec_error_set (err, errno, "cannot create %s/%s", m->vm_root, rel);
            *p = saved;
            if (saved == '\0')
              break;
          }
    }
  return 0;
}

static int
step_stage_root (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (m->jailer)
    {
      /* Pushed first: a partly created tree is removed too. */
      if (firec_stage_make_root (m->jail_dir, m->vm_root, &vm->root_fd, err) < 0)
        return -1;
      push_undo (vm, UNDO_TREE, step, m->jail_dir, NULL);
    }
  else
    {
      if (mkdir (m->vm_root, 0700) < 0)
        return firec_error_set (err, errno, "cannot create %s", m->vm_root);
      push_undo (vm, UNDO_TREE, step, m->vm_root, NULL);
      vm->root_fd = open (m->vm_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (vm->root_fd < 0)
        return firec_error_set (err, errno, "cannot open %s", m->vm_root);
    }
  return make_socket_dirs (vm, err);
}

static int
step_stage_file (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  const struct firec_file *f = step->file;
  if (!m->jailer)
    {
      /* Firecracker 1.5.1 refuses an output file that does not exist. */
      bool created = false;
      if (firec_stage_prepare_output (f->host_path, getuid (), getgid (), &created, err) < 0)
        return -1;
      if (created)
        push_undo (vm, UNDO_OUTPUT, step, f->host_path, NULL);
      return 0;
    }
  struct firec_staged staged = { 0 };
  struct firec_stage_known known = { vm->access, vm->access_count };
  if (firec_stage_file (vm->root_fd, f, (uid_t) m->uid, (gid_t) m->gid, &known, vm->opts.progress, &staged, err) < 0)
    return -1;
  push_undo (vm, UNDO_UNSTAGE, step, NULL, &staged);
  return 0;
}

/* The last lines of Firecracker's stderr: from the pipe, or from the log file
   in daemon mode. */
static void
annotate_stderr (struct firec_vm *vm, const char *what, firec_error_t *err)
{
  if (vm->stderr_tail)
    {
      firec_stderr_tail_annotate (vm->stderr_tail, what, err);
      return;
    }
  if (err == NULL || *err == NULL)
    return;
  cleanup_free char *log = firec_xasprintf ("%s/firecracker.log", vm->model->state_dir);
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_file (log, 1 << 20, &text, &len) < 0 || len == 0)
    return;
  size_t lines = 0;
  const char *start = text + len;
  while (start > text && lines <= FIREC_STDERR_TAIL_LINES)
    if (*--start == '\n')
      lines++;
  char *msg = firec_xasprintf ("%s\n%s's last stderr lines (%s):\n%s", (*err)->message, what, log,
                               start + (*start == '\n'));
  free ((*err)->message);
  (*err)->message = msg;
}

/* ------------------------------------------------------------------ spawn */

/* cgroup_version: auto. FIREC_CGROUP_ROOT names where the hierarchy is mounted
   when it is not /sys/fs/cgroup (and lets the tests use a fake one). */
static const char *
cgroup_root (void)
{
  const char *root = getenv ("FIREC_CGROUP_ROOT");
  return root && *root ? root : "/sys/fs/cgroup";
}

static int
cgroup_version_of_host (void)
{
  struct statfs s;
  return statfs (cgroup_root (), &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
}

/* Where the jailer will find a controller, as it does: the cgroup2 mount (v2),
   or the v1 mount whose options name the controller. NULL when there is none. */
static char *
cgroup_mount_for (int version, const char *controller)
{
  const char *root = getenv ("FIREC_CGROUP_ROOT");
  if (root && *root)
    return version == 2 ? firec_xstrdup (root) : firec_xasprintf ("%s/%s", root, controller);
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

/* The jailer refuses a controller the host does not offer; say so before anything runs. */
static void
preflight_cgroups (struct firec_vm *vm)
{
  const struct firec_model *m = vm->model;
  int version = m->cgroup_version ? m->cgroup_version : cgroup_version_of_host ();
  for (char **c = m->cgroups; *c; c++)
    {
      cleanup_free char *controller = firec_xstrndup (*c, strcspn (*c, "."));
      cleanup_free char *mount = cgroup_mount_for (version, controller);
      if (mount == NULL)
        {
          preflight_fail (vm, "jailer.cgroups.%.*s: no cgroup v%d hierarchy here offers the %s controller", (int) strcspn (*c, "="),
                          *c, version, controller);
          continue;
        }
      if (version != 2)
        continue;
      cleanup_free char *list_path = firec_xasprintf ("%s/cgroup.controllers", mount);
      cleanup_free char *list = NULL;
      size_t len;
      bool offered = false;
      if (firec_read_file (list_path, 65536, &list, &len) == 0)
        {
          char *save = NULL;
          for (char *w = strtok_r (list, " \n", &save); w && !offered; w = strtok_r (NULL, " \n", &save))
            offered = strcmp (w, controller) == 0;
        }
      else
        offered = getenv ("FIREC_CGROUP_ROOT") != NULL; /* a test's fake hierarchy */
      if (!offered)
        preflight_fail (vm, "jailer.cgroups.%.*s: the cgroup v2 hierarchy at %s does not offer the %s controller "
                            "(see %s)",
                        (int) strcspn (*c, "="), *c, mount, controller, list_path);
    }
}

/* The cgroup directories the jailer creates for this VM (one with v2, one per
   controller with v1), recorded so that undo and `rm` remove exactly those. */
static cJSON *
cgroup_dirs_for (const struct firec_model *m, int version)
{
  cJSON *dirs = cJSON_CreateArray ();
  if (!m->jailer || m->cgroups[0] == NULL)
    return dirs;
  const char *parent = m->parent_cgroup ? m->parent_cgroup : m->exec_name;
  for (char **c = m->cgroups; *c; c++)
    {
      cleanup_free char *controller = firec_xstrndup (*c, strcspn (*c, "."));
      cleanup_free char *mount = cgroup_mount_for (version, controller);
      if (mount == NULL)
        continue;
      cleanup_free char *dir = firec_xasprintf ("%s/%s/%s", mount, parent, m->name);
      bool seen = false;
      for (cJSON *d = dirs->child; d && !seen; d = d->next)
        seen = strcmp (d->valuestring, dir) == 0;
      if (!seen)
        cJSON_AddItemToArray (dirs, cJSON_CreateString (dir));
    }
  return dirs;
}

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
  return m->daemonize && (vm->firecracker_version == NULL || firec_version_compare (vm->firecracker_version, "1.7") >= 0);
}

static int
step_spawn (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  size_t argc = 0;
  while (step->argv[argc])
    argc++;
  /* The plan's argv is final: it names the resolved binaries and the cgroup
     version, and preflight checked that they are still what it names. */
  const char **argv = firec_xcalloc (argc + 1, sizeof *argv);
  for (size_t i = 0; i < argc; i++)
    argv[i] = step->argv[i];
  vm->cgroup_dirs = cgroup_dirs_for (m, m->cgroup_version ? m->cgroup_version : cgroup_version_of_host ());

  int child_stderr = -1;
  if (vm->opts.stderr_to_log)
    {
      cleanup_free char *log = firec_xasprintf ("%s/firecracker.log", m->state_dir);
      child_stderr = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (child_stderr < 0)
        {
          free (argv);
          return firec_error_set (err, errno, "cannot open %s", log);
        }
    }
  else if (firec_stderr_tail_open (vm->opts.stderr_copy_fd, &vm->stderr_tail, &child_stderr, err) < 0)
    {
      free (argv);
      return -1;
    }
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  opts.argv = argv;
  opts.envp = (const char *const *) environ;
  opts.stdin_fd = vm->opts.console_in;
  opts.stdout_fd = vm->opts.console_out;
  opts.stderr_fd = child_stderr;
  opts.die_with_parent = vm->opts.die_with_parent;
  opts.foreground_tty = vm->opts.console_is_tty ? vm->opts.console_in : -1;
  /* Firecracker 1.5.1's jailer calls setsid() for --daemonize, which a process
     group leader cannot do. */
  opts.keep_process_group = m->daemonize;
  int rc = firec_spawn (&opts, &vm->spawned_pid, &vm->spawned_pidfd, err);
  close (child_stderr);
  free (argv);
  if (rc < 0)
    return -1;
  push_undo (vm, UNDO_VMM, step, NULL, NULL);
  set_interrupt_targets (vm->spawned_pid, 0);
  if (interrupt_signal)
    kill (vm->spawned_pid, SIGKILL);

  if (pid_file_names_vmm (vm))
    {
      cleanup_free char *pid_file = firec_xasprintf ("%s.pid", m->exec_name);
      if (firec_read_pid_file_watch (vm->root_fd, pid_file, m->start_timeout_ms, vm->spawned_pidfd, &vm->vmm_pid, err)
          < 0)
        {
          annotate_stderr (vm, "the jailer", err);
          return -1;
        }
      if (firec_pidfd_open (vm->vmm_pid, &vm->vmm_pidfd, err) < 0)
        return -1;
      set_interrupt_targets (vm->spawned_pid, vm->vmm_pid);
      if (interrupt_signal)
        kill (vm->vmm_pid, SIGKILL);
    }
  else
    {
      vm->vmm_pid = vm->spawned_pid;
      vm->vmm_pidfd = fcntl (vm->spawned_pidfd, F_DUPFD_CLOEXEC, 3);
    }
  if (firec_process_start_time (vm->vmm_pid, &vm->vmm_start_time, err) < 0)
    {
      annotate_stderr (vm, "firecracker", err);
      return -1;
    }
  /* Recorded at once: should firec-run die now, `rm` finds the process. */
  return update_record (vm, "starting", err);
}

/* Kills the VMM (and the jailer) and reaps what is ours to reap. */
static void
stop_vmm_now (struct firec_vm *vm)
{
  cleanup_error firec_error_t ignored = NULL;
  if (vm->vmm_pidfd >= 0 && !vm->vmm_reaped)
    {
      firec_pidfd_send_signal (vm->vmm_pidfd, SIGKILL, &ignored);
      firec_error_release (&ignored);
      int status = -1;
      if (firec_process_wait (vm->vmm_pid, vm->vmm_pidfd, 10000, &status, &ignored) != FIREC_WAIT_TIMEOUT)
        {
          vm->vmm_reaped = true;
          vm->vmm_wait_status = status;
        }
      firec_error_release (&ignored);
    }
  if (vm->spawned_pidfd >= 0 && !vm->spawned_reaped)
    {
      firec_pidfd_send_signal (vm->spawned_pidfd, SIGKILL, &ignored);
      firec_error_release (&ignored);
      int status;
      if (firec_process_wait (vm->spawned_pid, vm->spawned_pidfd, 10000, &status, &ignored) != FIREC_WAIT_TIMEOUT)
        vm->spawned_reaped = true;
      firec_error_release (&ignored);
      if (vm->spawned_pid == vm->vmm_pid && vm->spawned_reaped && !vm->vmm_reaped)
        {
          vm->vmm_reaped = true;
          vm->vmm_wait_status = status;
        }
    }
  set_interrupt_targets (0, 0);
}

/* ------------------------------------------------------------------ API */

static void
annotate_vmm_death (struct firec_vm *vm, firec_error_t *err)
{
  cleanup_error firec_error_t ignored = NULL;
  int status = -1;
  if (vm->vmm_pidfd >= 0 && firec_process_peek_exit (vm->vmm_pid, vm->vmm_pidfd, &status, &ignored) == 1)
    {
      cleanup_free char *how = firec_describe_wait_status (status);
      firec_error_prefix (err, "firecracker (pid %ld) %s", (long) vm->vmm_pid, how);
    }
  annotate_stderr (vm, "firecracker", err);
}

static long
request_timeout_ms (const struct firec_vm *vm)
{
  return vm->model->start_timeout_ms > 30000 ? vm->model->start_timeout_ms : 30000;
}

static const char *fault_for (const struct firec_step *step, size_t *kind_len);
static int exchange (struct firec_vm *vm, const struct firec_step *step, struct firec_fcapi_response *resp,
                     firec_error_t *err);

/* Ready once the socket accepts and GET / is answered; the configuration
   requests go out right behind the GET / (exchange), saving a round trip. */
static int
step_api_wait (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  if (firec_fcapi_wait_ready (m->api_socket_host, vm->vmm_pid, vm->vmm_pidfd, m->start_timeout_ms, &vm->api, err)
      < 0)
    {
      annotate_stderr (vm, "firecracker", err);
      return -1;
    }
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  return exchange (vm, step, &resp, err) < 0 || firec_fcapi_check ("GET", "/", NULL, &resp, err) < 0 ? -1 : 0;
}

/* A configuration request whose answer is only a status can be sent before the
   ones ahead of it are answered: Firecracker answers a connection's requests in
   order, and a failure anywhere kills the VMM, which undoes all of them. Not
   InstanceStart nor a snapshot load, whose answers gate what follows, and not
   a step a test fault is aimed at. */
static bool
pipelinable (const struct firec_step *step)
{
  size_t n;
  return step->kind == FIREC_STEP_API_REQUEST && strcmp (step->path, "/actions") != 0
         && strncmp (step->path, "/snapshot", 9) != 0 && fault_for (step, &n) == NULL;
}

static int
send_step_request (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  if (step->kind == FIREC_STEP_API_WAIT || step->kind == FIREC_STEP_API_CONFIRM)
    return firec_fcapi_send (vm->api, "GET", "/", NULL, request_timeout_ms (vm), err);
  cleanup_free char *body = step->body ? cJSON_PrintUnformatted (step->body) : NULL;
  return firec_fcapi_send (vm->api, step->method, step->path, body, request_timeout_ms (vm), err);
}

/* What may go out right behind step: the pipelinable requests after the
   readiness GET / or a pipelinable one, and the GET / that confirms the start
   behind InstanceStart (it is answered once the start is, saving a wake-up while
   the vCPUs already compete for the CPU; if the start failed, its answer is
   simply not looked at). */
static bool
may_follow (const struct firec_step *step, const struct firec_step *next)
{
  size_t n;
  if (next->kind == FIREC_STEP_API_CONFIRM)
    return step->kind == FIREC_STEP_API_REQUEST && fault_for (next, &n) == NULL;
  return (step->kind == FIREC_STEP_API_WAIT || pipelinable (step)) && pipelinable (next);
}

/* Receives step's answer, first sending its request and whatever may follow it
   unless that went out with an earlier step. */
static int
exchange (struct firec_vm *vm, const struct firec_step *step, struct firec_fcapi_response *resp, firec_error_t *err)
{
  const struct firec_step *steps = vm->plan->steps;
  size_t index = (size_t) (step - steps);
  if (vm->api_unsent <= index)
    {
      if (send_step_request (vm, step, err) < 0)
        {
          annotate_vmm_death (vm, err);
          return -1;
        }
      vm->api_unsent = index + 1;
      /* A later one that cannot be sent now is sent again as its own step comes. */
      while (vm->api_unsent < vm->plan->count && may_follow (&steps[vm->api_unsent - 1], &steps[vm->api_unsent]))
        {
          cleanup_error firec_error_t ignored = NULL;
          if (send_step_request (vm, &steps[vm->api_unsent], &ignored) < 0)
            break;
          vm->api_unsent++;
        }
    }
  bool get_root = step->kind == FIREC_STEP_API_WAIT || step->kind == FIREC_STEP_API_CONFIRM;
  const char *method = get_root ? "GET" : step->method;
  const char *path = get_root ? "/" : step->path;
  if (firec_fcapi_receive (vm->api, method, path, request_timeout_ms (vm), resp, err) < 0)
    {
      vm->api_unsent = index + 1; /* the connection is gone, and what was sent after with it */
      annotate_vmm_death (vm, err);
      return -1;
    }
  return 0;
}

static int
step_api_request (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  if (exchange (vm, step, &resp, err) < 0)
    return -1;
  cleanup_free char *body = resp.status >= 300 && step->body ? cJSON_PrintUnformatted (step->body) : NULL;
  return firec_fcapi_check (step->method, step->path, body, &resp, err);
}

static int
step_api_confirm (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  if (exchange (vm, step, &resp, err) < 0 || firec_fcapi_check ("GET", "/", NULL, &resp, err) < 0)
    return -1;
  cleanup_cjson cJSON *info = cJSON_Parse (resp.body);
  const char *state = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (info, "state"));
  if (state == NULL || strcmp (state, step->expect_state) != 0)
    return firec_error_set (err, 0, "GET / reports the VM \"%s\", expected \"%s\" (answer: %s)", state ? state : "?",
                            step->expect_state, resp.body);
  return 0;
}

/* ------------------------------------------------------------------ running */

static int
run_step (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  switch (step->kind)
    {
    case FIREC_STEP_PREFLIGHT_CAPS:
      preflight_caps (vm);
      return 0;
    case FIREC_STEP_PREFLIGHT_KVM:
      preflight_kvm (vm);
      return 0;
    case FIREC_STEP_PREFLIGHT_BINARIES:
      preflight_binaries (vm);
      return 0;
    case FIREC_STEP_PREFLIGHT_SOURCES:
      preflight_sources (vm);
      return 0;
    case FIREC_STEP_PREFLIGHT_JAIL:
      preflight_jail (vm);
      return 0;
    case FIREC_STEP_STATE_CREATE:
      return step_state_create (vm, step, err);
    case FIREC_STEP_STAGE_JAIL:
      return step_stage_root (vm, step, err);
    case FIREC_STEP_STAGE_FILE:
      return step_stage_file (vm, step, err);
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
      return true;
    case FIREC_STEP_STATE_CREATE:
    case FIREC_STEP_STAGE_JAIL:
    case FIREC_STEP_STAGE_FILE:
    case FIREC_STEP_SPAWN:
    case FIREC_STEP_API_WAIT:
    case FIREC_STEP_API_REQUEST:
    case FIREC_STEP_API_CONFIRM:
    case FIREC_STEP_STATE_RECORD:
      return false;
    }
  return false;
}

/* Runs one undo; returns < 0 (with *err) when it failed. */
static int
run_undo (struct firec_vm *vm, struct undo *u, firec_error_t *err)
{
  switch (u->kind)
    {
    case UNDO_STATE:
      return firec_state_remove (u->path, err);
    case UNDO_TREE:
      return firec_stage_remove_tree (u->path, err);
    case UNDO_UNSTAGE:
      return firec_stage_unstage (vm->root_fd, &u->staged, err);
    case UNDO_OUTPUT:
      {
        struct stat st;
        if (lstat (u->path, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == 0 && unlink (u->path) < 0)
          return firec_error_set (err, errno, "cannot remove %s", u->path);
        return 0;
      }
    case UNDO_VMM:
      stop_vmm_now (vm);
      if (vm->vmm_pidfd >= 0 && !vm->vmm_reaped)
        return firec_error_set (err, 0, "firecracker (pid %ld) did not die after SIGKILL", (long) vm->vmm_pid);
      if (vm->spawned_pidfd >= 0 && !vm->spawned_reaped)
        return firec_error_set (err, 0, "the jailer (pid %ld) did not die after SIGKILL", (long) vm->spawned_pid);
      return firec_remove_cgroup_dirs (vm->cgroup_dirs, err);
    }
  return 0;
}

/* Undoes everything in reverse; every failure becomes a leftover line. */
static size_t
unwind (struct firec_vm *vm, struct firec_buf *leftovers)
{
  size_t failed = 0;
  stop_vmm_now (vm);
  firec_fcapi_close (vm->api);
  vm->api = NULL;
  while (vm->undo_count > 0)
    {
      struct undo *u = &vm->undos[--vm->undo_count];
      cleanup_error firec_error_t undo_err = NULL;
      if (run_undo (vm, u, &undo_err) < 0)
        {
          firec_buf_printf (leftovers, "\n  - undo of %s: %s", u->step->id, undo_err->message);
          failed++;
        }
      firec_staged_release (&u->staged);
      free (u->path);
    }
  if (vm->lock_fd >= 0)
    {
      close (vm->lock_fd);
      vm->lock_fd = -1;
    }
  return failed;
}

static void
rollback (struct firec_vm *vm, firec_error_t *err)
{
  struct firec_buf leftovers = { 0 };
  size_t failed = unwind (vm, &leftovers);
  if (failed && err && *err)
    {
      (*err)->kind = FIREC_ERR_LEFTOVERS;
      char *msg = firec_xasprintf ("%s\nrollback incomplete, %zu leftover%s:%s", (*err)->message, failed,
                                   failed == 1 ? "" : "s", leftovers.data);
      free ((*err)->message);
      (*err)->message = msg;
    }
  else if (err && *err)
    {
      char *msg = firec_xasprintf ("%s\nrolled back: nothing is left on the host", (*err)->message);
      free ((*err)->message);
      (*err)->message = msg;
    }
  firec_buf_release (&leftovers);
}

static struct firec_vm *
vm_new (const struct firec_plan *plan, const struct firec_run_opts *opts)
{
  struct firec_vm *vm = firec_xcalloc (1, sizeof *vm);
  vm->plan = plan;
  vm->model = plan->model;
  vm->opts = *opts;
  vm->lock_fd = vm->root_fd = vm->spawned_pidfd = vm->vmm_pidfd = -1;
  return vm;
}

/* Fault injection for the rollback tests: FIREC_TEST_FAULT=fail:STEP makes STEP
   fail before it runs; SIGINT:STEP, SIGTERM:STEP or SIGKILL:STEP sends that
   signal to this process as STEP starts. Returns the fault aimed at step (its
   length in *kind_len), or NULL. */
static const char *
fault_for (const struct firec_step *step, size_t *kind_len)
{
  const char *fault = getenv ("FIREC_TEST_FAULT");
  const char *colon = fault ? strchr (fault, ':') : NULL;
  if (colon == NULL || strcmp (colon + 1, step->id) != 0)
    return NULL;
  *kind_len = (size_t) (colon - fault);
  return fault;
}

static int
inject_fault (struct firec_vm *vm, const struct firec_step *step, firec_error_t *err)
{
  size_t n;
  const char *fault = fault_for (step, &n);
  if (fault == NULL)
    return 0;
  if (strncmp (fault, "fail", n) == 0 && n == 4)
    {
      if (is_preflight (step->kind))
        {
          preflight_fail (vm, "injected failure (FIREC_TEST_FAULT)");
          return 0;
        }
      return firec_error_set (err, 0, "injected failure (FIREC_TEST_FAULT)");
    }
  if (strncmp (fault, "SIGINT", n) == 0 && n == 6)
    kill (getpid (), SIGINT);
  else if (strncmp (fault, "SIGTERM", n) == 0 && n == 7)
    kill (getpid (), SIGTERM);
  else if (strncmp (fault, "SIGKILL", n) == 0 && n == 7)
    kill (getpid (), SIGKILL); /* the crash-safety tests: firec-run dies right here */
  return 0;
}

int
firec_interp_run (const struct firec_plan *plan, const struct firec_run_opts *opts, struct firec_vm **out,
                  firec_error_t *err)
{
  struct firec_vm *vm = vm_new (plan, opts);
  for (size_t i = 0; i < plan->count; i++)
    {
      const struct firec_step *step = &plan->steps[i];
      vm->current_step = step;
      if (inject_fault (vm, step, err) < 0)
        {
          firec_error_prefix (err, "step %s failed", step->id);
          rollback (vm, err);
          firec_vm_free (vm);
          return -1;
        }
      if (interrupt_signal)
        {
          firec_error_set (err, 0, "interrupted by %s before step %s", signal_name (interrupt_signal), step->id);
          rollback (vm, err);
          firec_vm_free (vm);
          return -1;
        }
      if (opts->on_step)
        opts->on_step (opts->data, step);
      if (run_step (vm, step, err) < 0)
        {
          if (interrupt_signal)
            firec_error_prefix (err, "interrupted by %s during step %s", signal_name (interrupt_signal), step->id);
          else
            firec_error_prefix (err, "step %s failed", step->id);
          rollback (vm, err);
          firec_vm_free (vm);
          return -1;
        }
      bool last_preflight = is_preflight (step->kind) && (i + 1 == plan->count || !is_preflight (plan->steps[i + 1].kind));
      if (last_preflight)
        finish_preflight_binaries (vm, true);
      if (last_preflight && vm->preflight_failure_count)
        {
          firec_error_set_kind (err, vm->locked_by_other ? FIREC_ERR_LOCKED : FIREC_ERR_PRECONDITION, 0,
                                "preflight failed for %s (%zu problem%s):%s", vm->model->name,
                                vm->preflight_failure_count, vm->preflight_failure_count == 1 ? "" : "s",
                                vm->preflight_failures.data);
          firec_vm_free (vm);
          return -1;
        }
      if (vm->stderr_tail)
        {
          cleanup_error firec_error_t ignored = NULL;
          firec_stderr_tail_drain (vm->stderr_tail, &ignored);
        }
    }
  *out = vm;
  return 0;
}

/* ------------------------------------------------------------------ after start */

pid_t
firec_vm_pid (const struct firec_vm *vm)
{
  return vm->vmm_pid;
}

int
firec_vm_pidfd (const struct firec_vm *vm)
{
  return vm->vmm_pidfd;
}

const char *
firec_vm_firecracker_version (const struct firec_vm *vm)
{
  return vm->firecracker_version;
}

int
firec_vm_stderr_fd (const struct firec_vm *vm)
{
  return vm->stderr_tail ? firec_stderr_tail_fd (vm->stderr_tail) : -1;
}

void
firec_vm_drain_stderr (struct firec_vm *vm)
{
  cleanup_error firec_error_t ignored = NULL;
  if (vm->stderr_tail)
    firec_stderr_tail_drain (vm->stderr_tail, &ignored);
}

static int
vm_ctrl_alt_del (void *data, firec_error_t *err)
{
  struct firec_vm *vm = data;
  if (vm->api == NULL && firec_fcapi_open (vm->model->api_socket_host, &vm->api, err) < 0)
    return -1;
  return firec_fcapi_call (vm->api, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", 5000, NULL, err);
}

static void
vm_drain_stderr (void *data)
{
  firec_vm_drain_stderr (data);
}

int
firec_vm_supervise (struct firec_vm *vm, int signal_fd, int *wait_status, bool *stopped, firec_error_t *err)
{
  const struct firec_model *m = vm->model;
  struct firec_supervision s = {
    .pid = vm->vmm_pid,
    .pidfd = vm->vmm_pidfd,
    .signal_fd = signal_fd,
    .stderr_fd = firec_vm_stderr_fd (vm),
    .stop = m->stop,
    .stop_count = m->stop_count,
    .stop_timeout_ms = m->stop_timeout_ms,
    .ctrl_alt_del = vm_ctrl_alt_del,
    .drain_stderr = vm_drain_stderr,
    .data = vm,
  };
  if (firec_supervise (&s, wait_status, stopped, err) < 0)
    return -1;
  vm->vmm_reaped = true;
  vm->vmm_wait_status = *wait_status;
  return 0;
}

int
firec_vm_teardown (struct firec_vm *vm, firec_error_t *err)
{
  struct firec_buf leftovers = { 0 };
  size_t failed = unwind (vm, &leftovers);
  int rc = 0;
  if (failed)
    rc = firec_error_set_kind (err, FIREC_ERR_LEFTOVERS, 0, "cleanup of %s incomplete, %zu leftover%s:%s",
                               vm->model->name, failed, failed == 1 ? "" : "s", leftovers.data);
  firec_buf_release (&leftovers);
  return rc;
}

cJSON *
firec_vm_handoff (struct firec_vm *vm)
{
  const struct firec_model *m = vm->model;
  cJSON *h = cJSON_CreateObject ();
  cJSON_AddStringToObject (h, "name", m->name);
  cJSON_AddNumberToObject (h, "pid", vm->vmm_pid);
  cJSON_AddNumberToObject (h, "pidfd", vm->vmm_pidfd);
  cJSON_AddNumberToObject (h, "spawned_pid", vm->spawned_pid);
  cJSON_AddNumberToObject (h, "spawned_pidfd", vm->spawned_pidfd);
  cJSON_AddNumberToObject (h, "lock_fd", vm->lock_fd);
  cJSON_AddNumberToObject (h, "stderr_fd", firec_vm_stderr_fd (vm));
  cJSON_AddStringToObject (h, "api_socket", m->api_socket_host);
  cJSON_AddNumberToObject (h, "stop_timeout_ms", (double) m->stop_timeout_ms);
  cJSON *stop = cJSON_AddArrayToObject (h, "stop");
  for (size_t i = 0; i < m->stop_count; i++)
    {
      cJSON *st = cJSON_CreateObject ();
      cJSON_AddNumberToObject (st, "action", m->stop[i].action);
      cJSON_AddNumberToObject (st, "wait_ms", (double) m->stop[i].wait_ms);
      cJSON_AddItemToArray (stop, st);
    }
  /* The undo stack, as what is left to remove once the VM is gone (staged files
     live inside the trees; the tree removal detaches their bind mounts). */
  cJSON *trees = cJSON_AddArrayToObject (h, "trees");
  cJSON *outputs = cJSON_AddArrayToObject (h, "outputs");
  for (size_t i = vm->undo_count; i-- > 0;)
    {
      const struct undo *u = &vm->undos[i];
      switch (u->kind)
        {
        case UNDO_TREE:
          cJSON_AddItemToArray (trees, cJSON_CreateString (u->path));
          break;
        case UNDO_OUTPUT:
          cJSON_AddItemToArray (outputs, cJSON_CreateString (u->path));
          break;
        case UNDO_STATE:
          cJSON_AddStringToObject (h, "state_dir", u->path);
          break;
        case UNDO_UNSTAGE:
        case UNDO_VMM:
          break;
        }
    }
  cJSON_AddItemToObject (h, "cgroup_dirs", vm->cgroup_dirs ? cJSON_Duplicate (vm->cgroup_dirs, 1) : cJSON_CreateArray ());
  return h;
}

void
firec_vm_free (struct firec_vm *vm)
{
  if (vm == NULL)
    return;
  for (size_t i = 0; i < vm->undo_count; i++)
    {
      firec_staged_release (&vm->undos[i].staged);
      free (vm->undos[i].path);
    }
  finish_preflight_binaries (vm, false); /* reaps probes a failure left running */
  free (vm->undos);
  free (vm->access);
  firec_fcapi_close (vm->api);
  firec_stderr_tail_free (vm->stderr_tail);
  if (vm->lock_fd >= 0)
    close (vm->lock_fd);
  if (vm->root_fd >= 0)
    close (vm->root_fd);
  if (vm->spawned_pidfd >= 0)
    close (vm->spawned_pidfd);
  if (vm->vmm_pidfd >= 0)
    close (vm->vmm_pidfd);
  cJSON_Delete (vm->record);
  cJSON_Delete (vm->cgroup_dirs);
  free (vm->firecracker_path);
  free (vm->jailer_path);
  free (vm->firecracker_version);
  firec_buf_release (&vm->preflight_failures);
  free (vm);
}
