/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "preflight.h"
#include "caps.h"
#include "cgroup.h"
#include "discover.h"
#include "hostcheck.h"
#include "hostpath.h"
#include "jailfs.h"
#include "lifecycle.h"
#include "net.h"
#include "output.h"
#include "record.h"
#include "seam.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

extern char **environ;

/* A binary changed less than this long before its version probe is probed again
   next time (version.h: timestamps are coarse). */
#define VERSION_CACHE_SETTLE_S 2

void
firec_preflight_init (struct firec_preflight *pf, const struct firec_plan *plan)
{
  memset (pf, 0, sizeof *pf);
  pf->plan = plan;
}

static void
strv_free (char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}

static void finish_binaries (struct firec_preflight *pf, bool report);

static void
close_input_fds (struct firec_preflight *pf)
{
  for (size_t i = 0; pf->input_fds && i < pf->plan->model->file_count; i++)
    if (pf->input_fds[i] >= 0)
      close (pf->input_fds[i]);
  free (pf->input_fds);
  pf->input_fds = NULL;
}

/* The other VMs' records a run parsed, with the bytes it parsed: the recheck
   under the state root's lock reads each record again but parses only those
   whose bytes changed since preflight (one parse is ~0.1M instructions, and
   every start takes that lock). The entry owns its record. */
struct firec_other_vm
{
  char *name;
  char *text; /* state.json as record was parsed from it; NULL: no record, or one from the copy */
  size_t len;
  struct firec_record *record;
};

/* name's entry in *seen, added (empty) when there is none. A linear search:
   two scans of N VMs cost N^2 string compares, nothing beside the reads. */
static struct firec_other_vm *
seen_entry (struct firec_other_vm **seen, size_t *count, const char *name)
{
  for (size_t i = 0; i < *count; i++)
    if (strcmp ((*seen)[i].name, name) == 0)
      return &(*seen)[i];
  *seen = firec_xrealloc (*seen, (*count + 1) * sizeof **seen);
  (*seen)[*count] = (struct firec_other_vm){ .name = firec_xstrdup (name) };
  return &(*seen)[(*count)++];
}

static void
other_vms_free (struct firec_other_vm *seen, size_t count)
{
  for (size_t i = 0; i < count; i++)
    {
      free (seen[i].name);
      free (seen[i].text);
      firec_record_free (seen[i].record);
    }
  free (seen);
}

void
firec_preflight_release (struct firec_preflight *pf)
{
  finish_binaries (pf, false); /* reaps probes a failure left running */
  for (size_t i = 0; i < pf->finding_count; i++)
    free (pf->findings[i].message);
  free (pf->findings);
  free (pf->remedy_arg);
  free (pf->firecracker_path);
  free (pf->jailer_path);
  free (pf->firecracker_version);
  free (pf->access);
  free (pf->files);
  close_input_fds (pf);
  free (pf->tap_ifindex);
  firec_preflight_forget_others (pf);
  memset (pf, 0, sizeof *pf);
}

void
firec_preflight_forget_others (struct firec_preflight *pf)
{
  other_vms_free (pf->other_vms, pf->other_vm_count);
  pf->other_vms = NULL;
  pf->other_vm_count = 0;
}

__attribute__ ((format (printf, 4, 0))) static void
add_finding (struct firec_preflight *pf, const struct firec_step *step, bool locked, const char *fmt, va_list ap)
{
  pf->findings = firec_xrealloc (pf->findings, (pf->finding_count + 1) * sizeof *pf->findings);
  pf->findings[pf->finding_count++] = (struct firec_preflight_finding){
    .step = step,
    .message = firec_xvasprintf (fmt, ap),
    .locked = locked,
  };
}

void
firec_preflight_add (struct firec_preflight *pf, const struct firec_step *step, bool locked, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  add_finding (pf, step, locked, fmt, ap);
  va_end (ap);
}

#define fail(pf, step, ...) firec_preflight_add ((pf), (step), false, __VA_ARGS__)

/* ------------------------------------------------------------------ caps, kvm */

static void
check_caps (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  cleanup_error firec_error_t err = NULL;
  cleanup_free char *missing = NULL;
  /* The jailer's limits (no-file defaults to 2048) need CAP_SYS_RESOURCE only
     above the hard limit it inherits from us. */
  bool raise = false;
  for (char **r = m->resource_limits; *r; r++)
    {
      struct rlimit lim;
      int resource = strncmp (*r, "fsize=", 6) == 0 ? RLIMIT_FSIZE : RLIMIT_NOFILE;
      unsigned long long want = strtoull (strchr (*r, '=') + 1, NULL, 10);
      if (getrlimit (resource, &lim) == 0 && lim.rlim_max != RLIM_INFINITY && want > lim.rlim_max)
        raise = true;
    }
  struct firec_caps_needs needs
      = { .jailer = true, .netns = m->netns != NULL, .cgroups = m->cgroups[0] != NULL, .raise_rlimits = raise };
  if (firec_caps_check (&needs, &missing, &err) < 0)
    {
      fail (pf, step, "%s", err->message);
      return;
    }
  char *save = NULL;
  for (char *line = strtok_r (missing, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    fail (pf, step, "missing capability %s; run as root", line);
}

/* huge_pages: 2M fails at InstanceStart, in the guest kernel's loader, when
   the pool is short: knowable now. */
static void
check_hugepages (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  const char *sysfs = firec_seam_sysfs_root ();
  struct firec_hugepages pool;
  cleanup_error firec_error_t err = NULL;
  int enough = firec_hugepages_check (sysfs ? sysfs : "/sys", m->huge_page_kib, m->mem_size_mib, &pool, &err);
  if (enough < 0)
    fail (pf, step, "%s: %s", m->huge_pages_where, err->message);
  else if (enough == 0)
    {
      cleanup_free char *shortfall = firec_hugepages_shortfall (&pool);
      fail (pf, step, "%s: %s", m->huge_pages_where, shortfall);
    }
  firec_hugepages_release (&pool);
}

static void
check_kvm (struct firec_preflight *pf, const struct firec_step *step)
{
  int fd = open ("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    fail (pf, step, "/dev/kvm cannot be opened read-write: %s (is KVM enabled, and may this user use it?)",
          strerror (errno));
  else
    close (fd);
  if (pf->plan->model->huge_page_kib)
    check_hugepages (pf, step);
}

/* ------------------------------------------------------------------ paths the VM's uid could redirect */

/* One path firec-run follows for the VM, to check with hostpath.h. */
struct followed
{
  const char *where; /* the field, with its position */
  const char *does;  /* what firec-run does with the file: "read", "run" ... */
};

/* Refuses every path of q that the VM's uid could redirect: it would swap a
   name on the way for a symbolic link, and firec-run, as root, would read,
   write or run another file of the host. */
static void
check_followed (struct firec_preflight *pf, const struct firec_step *step, struct firec_hostpath_query *q,
                const struct followed *what, size_t n)
{
  const struct firec_model *m = pf->plan->model;
  cleanup_error firec_error_t err = NULL;
  if (firec_hostpath_check (q, n, (uid_t) m->uid, (gid_t) m->gid, &err) < 0)
    fail (pf, step, "%s", err->message);
  for (size_t i = 0; err == NULL && i < n; i++)
    if (q[i].problem)
      fail (pf, step,
            "%s: %s: %s: the VM's uid could swap a name on the way for a symbolic link, and firec-run would %s "
            "another file of the host; keep the path out of its reach",
            what[i].where, q[i].path, q[i].problem, what[i].does);
  firec_hostpath_release (q, n);
}

/* ------------------------------------------------------------------ binaries */

/* Whether s is UTF-8 as Rust's str::from_utf8 has it (no overlong forms, no
   surrogates, nothing above U+10FFFF): what the jailer's std::env::vars()
   unwraps. */
static bool
valid_utf8 (const unsigned char *s)
{
  while (*s)
    {
      unsigned c = *s++;
      if (c < 0x80)
        continue;
      int more = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
      if (more < 0)
        return false;
      unsigned lo = 0x80, hi = 0xbf;
      if (c == 0xe0)
        lo = 0xa0;
      else if (c == 0xed)
        hi = 0x9f;
      else if (c == 0xf0)
        lo = 0x90;
      else if (c == 0xf4)
        hi = 0x8f;
      if (*s < lo || *s > hi)
        return false;
      for (s++; --more > 0; s++)
        if ((*s & 0xc0) != 0x80)
          return false;
    }
  return true;
}

/* Every jailer release panics (SIGABRT) on an environment variable that is not
   UTF-8, before anything else: it gets ours. */
static void
check_environment (struct firec_preflight *pf, const struct firec_step *step)
{
  for (char **e = environ; *e; e++)
    if (!valid_utf8 ((const unsigned char *) *e))
      {
        struct firec_buf name = { 0 };
        for (const unsigned char *c = (const unsigned char *) *e; *c && *c != '='; c++)
          if (*c >= 0x20 && *c < 0x7f)
            firec_buf_append (&name, (const char *) c, 1);
          else
            firec_buf_printf (&name, "\\x%02x", *c);
        fail (pf, step,
              "the environment variable %s is not valid UTF-8: the jailer panics on it (every release does); unset "
              "it, or fix its value",
              name.data ? name.data : "");
        firec_buf_release (&name);
      }
}

/* Root runs the jailer, and both binaries for their versions (the jailer
   copies Firecracker into the jail): neither may be a file the VM's uid can
   change or swap. One that is is not probed either. */
static void
check_binary_paths (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  char **paths[] = { &pf->firecracker_path, &pf->jailer_path };
  const struct firec_binary *binaries[] = { &m->firecracker_binary, &m->jailer_binary };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (paths); i++)
    {
      if (*paths[i] == NULL)
        continue;
      struct firec_hostpath_query q = { *paths[i], FIREC_HOSTPATH_RUN, NULL };
      struct followed what = { binaries[i]->where, "run" };
      size_t before = pf->finding_count;
      check_followed (pf, step, &q, &what, 1);
      if (pf->finding_count > before)
        {
          free (*paths[i]);
          *paths[i] = NULL;
        }
    }
}

static void
start_binaries (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  /* The model resolved the binaries (the plan's argv names those files); run
     and probe only what is still the same file. */
  cleanup_free char *fc_changed = firec_binary_changed (&m->firecracker_binary, m->base_dir);
  cleanup_free char *jailer_changed = m->jailer ? firec_binary_changed (&m->jailer_binary, m->base_dir) : NULL;
  if (m->firecracker_binary.found && fc_changed == NULL)
    pf->firecracker_path = firec_xstrdup (m->firecracker_binary.path);
  if (m->jailer && m->jailer_binary.found && jailer_changed == NULL)
    pf->jailer_path = firec_xstrdup (m->jailer_binary.path);
  if (m->jailer)
    {
      check_environment (pf, step);
      check_binary_paths (pf, step);
    }
  if (fc_changed)
    fail (pf, step, "%s: changed while firec-run read the manifest: %s; run again", m->firecracker_binary.where,
          fc_changed);
  if (jailer_changed)
    fail (pf, step, "%s: changed while firec-run read the manifest: %s; run again", m->jailer_binary.where,
          jailer_changed);
  /* Both probes run at once, and alongside the rest of the preflight (or come
     from the cache); finish_binaries reads them. */
  cleanup_free char *root = firec_state_root ();
  cleanup_free char *cache_dir = firec_xasprintf ("%s/.versions", root);
  if (pf->firecracker_path)
    firec_version_probe_start (&pf->fc_probe, pf->firecracker_path, cache_dir, VERSION_CACHE_SETTLE_S);
  if (pf->jailer_path)
    firec_version_probe_start (&pf->jailer_probe, pf->jailer_path, cache_dir, VERSION_CACHE_SETTLE_S);
  pf->probes_started = true;
  pf->binaries_step = step;
}

/* The fields that need a newer Firecracker than the one found. */
static void
version_gate (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_plan *plan = pf->plan;
  if (firec_version_compare (pf->firecracker_version, plan->min_firecracker_version) >= 0)
    return;
  struct firec_buf why = { 0 };
  for (size_t i = 0; i < plan->count; i++)
    for (char **r = plan->steps[i].min_version_reasons; r && *r; r++)
      if (firec_version_compare (pf->firecracker_version, plan->steps[i].min_version) < 0)
        firec_buf_printf (&why, "%s%s", why.len ? ", " : "", *r);
  fail (pf, step, "%s is version %s, but the manifest needs at least %s: %s", pf->firecracker_path,
        pf->firecracker_version, plan->min_firecracker_version, why.data ? why.data : "");
  firec_buf_release (&why);
}

/* Reads the version probes and, with report, records what preflight.binaries
   found (findings are sorted into plan order at the end). */
static void
finish_binaries (struct firec_preflight *pf, bool report)
{
  if (!pf->probes_started)
    return;
  pf->probes_started = false;
  const struct firec_model *m = pf->plan->model;
  const struct firec_step *step = pf->binaries_step;
  cleanup_error firec_error_t fc_err = NULL, jailer_err = NULL;
  cleanup_free char *jailer_version = NULL;
  if (pf->firecracker_path)
    firec_version_probe_finish (&pf->fc_probe, &pf->firecracker_version, &fc_err);
  if (pf->jailer_path)
    firec_version_probe_finish (&pf->jailer_probe, &jailer_version, &jailer_err);
  if (!report)
    return;
  if (!m->firecracker_binary.found)
    fail (pf, step, "%s: firecracker binary %s not found or not executable%s", m->firecracker_binary.where,
          m->firecracker_binary.path, strchr (m->firecracker_binary.written, '/') ? "" : " (looked up in PATH)");
  else if (pf->firecracker_path == NULL)
    ; /* changed since it was resolved: said above */
  else if (fc_err)
    fail (pf, step, "%s", fc_err->message);
  else if (pf->firecracker_version)
    version_gate (pf, step);
  /* (The 1.5.1 jailer's rule that the exec file name contains "firecracker" is
     in the plan's version gate: jailer.spawn needs 1.13 otherwise.) */
  if (m->jailer && !m->jailer_binary.found)
    fail (pf, step, "%s: jailer binary %s not found or not executable%s", m->jailer_binary.where, m->jailer_binary.path,
          strchr (m->jailer_binary.written, '/') ? "" : " (looked up in PATH)");
  else if (jailer_err)
    fail (pf, step, "%s", jailer_err->message);
  else if (jailer_version && pf->firecracker_version && strcmp (jailer_version, pf->firecracker_version) != 0)
    fail (pf, step, "the jailer is version %s but firecracker is %s: use the pair from one release", jailer_version,
          pf->firecracker_version);
}

/* ------------------------------------------------------------------ sources */

static bool
same_filesystem (const char *a, const char *b)
{
  struct stat sa, sb;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0 && sa.st_dev == sb.st_dev;
}

/* One file of the manifest as preflight found it. */
struct source
{
  const struct firec_file *file;
  char *problem; /* NULL when it passes */
  int fd;        /* O_PATH, for the jail uid's access check; -1 when none is needed */
  int kind;      /* outputs: enum firec_output_kind */
  bool found;
  struct stat st; /* what the path names (a symbolic link's target) */
};

/* What an input of this role may be: Firecracker reads a kernel, an initrd, a
   filter or a snapshot as a file; a device is backed by a file or a block
   device; a Uffd handler is a listening socket. Nothing is opened before its
   type is known: a FIFO would block, a device could act on the open. */
static char *
input_type_problem (const struct firec_file *f, const struct stat *st)
{
  bool device = f->role == FIREC_FILE_DRIVE || f->role == FIREC_FILE_PMEM;
  if (f->role == FIREC_FILE_UFFD_SOCKET)
    return S_ISSOCK (st->st_mode) ? NULL
                                  : firec_xasprintf ("%s: %s is not a Unix socket (a Uffd backend_path is the socket "
                                                     "of the page-fault handler, which must be listening before the "
                                                     "run)",
                                                     f->where, f->host_path);
  if (S_ISREG (st->st_mode) || (device && S_ISBLK (st->st_mode)))
    return NULL;
  return firec_xasprintf ("%s: %s is %s, not a regular file%s: nothing reads it", f->where, f->host_path,
                          firec_file_type_name (st->st_mode), device ? " or a block device" : "");
}

/* An output's directory: firec-run makes the new file there (and moves an
   earlier one aside), as the caller. */
static char *
output_dir_problem (const struct firec_file *f)
{
  cleanup_free char *dir = firec_xstrdup (f->host_path);
  char *slash = strrchr (dir, '/');
  if (slash)
    *(slash == dir ? slash + 1 : slash) = '\0';
  struct stat st;
  if (stat (dir, &st) < 0 || !S_ISDIR (st.st_mode))
    return firec_xasprintf ("%s: %s: its directory does not exist", f->where, f->host_path);
  if (faccessat (AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
    return firec_xasprintf ("%s: %s: firec-run cannot create files in %s: %s", f->where, f->host_path, dir,
                            strerror (errno));
  return NULL;
}

static char *
output_problem (struct source *s)
{
  const struct firec_file *f = s->file;
  s->kind = firec_output_inspect (f->host_path, &s->st);
  if (s->kind < 0)
    return firec_xasprintf ("%s: %s: %s", f->where, f->host_path, strerror (errno));
  s->found = s->kind == FIREC_OUTPUT_FIFO || s->kind == FIREC_OUTPUT_ASIDE;
  switch ((enum firec_output_kind) s->kind)
    {
    case FIREC_OUTPUT_OTHER:
      return firec_xasprintf ("%s: %s is %s: an output is a file (firec-run makes it, moving an earlier one aside) "
                              "or a FIFO",
                              f->where, f->host_path, firec_file_type_name (s->st.st_mode));
    case FIREC_OUTPUT_ASIDE:
      if (firec_output_chain (f->host_path) < 0)
        return firec_xasprintf ("%s: %s: cannot move the earlier files aside: %s", f->where, f->host_path,
                                errno == ELOOP ? "more than a thousand <path>.N files follow it" : strerror (errno));
      return output_dir_problem (f);
    case FIREC_OUTPUT_ABSENT:
      return output_dir_problem (f);
    case FIREC_OUTPUT_FIFO:
      /* Used as it is: the jail's uid opens it (the access check below). */
      s->fd = open (f->host_path, O_PATH | O_CLOEXEC);
      return s->fd < 0 ? firec_xasprintf ("%s: %s: %s", f->where, f->host_path, strerror (errno)) : NULL;
    }
  return NULL;
}

/* The basic checks of one input (it exists, is what its role reads, we can
   read it): NULL when it passes, with s->fd on it (O_PATH). */
static char *
input_problem (struct source *s)
{
  const struct firec_file *f = s->file;
  s->fd = open (f->host_path, O_PATH | O_CLOEXEC);
  if (s->fd < 0)
    return firec_xasprintf ("%s: %s: %s", f->where, f->host_path, strerror (errno));
  if (fstat (s->fd, &s->st) < 0)
    return firec_xasprintf ("%s: %s: %s", f->where, f->host_path, strerror (errno));
  s->found = true;
  char *problem = input_type_problem (f, &s->st);
  if (problem || f->role == FIREC_FILE_UFFD_SOCKET)
    return problem;
  /* A file or a block device now (the very inode checked): opening it for
     reading cannot block. */
  cleanup_free char *proc = firec_jailfs_proc_path (s->fd);
  cleanup_close int fd = open (proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return firec_xasprintf ("%s: %s cannot be read: %s", f->where, f->host_path, strerror (errno));
  return NULL;
}

/* Why the jail's uid cannot use f as its staging needs (NULL: it can), given
   the verdict for the file's inode. */
static char *
jail_access_problem (const struct firec_file *f, const struct firec_access *access, uid_t uid, gid_t gid)
{
  bool in_place = f->writable && f->mode != FIREC_STAGING_COPY && f->mode != FIREC_STAGING_REFLINK;
  bool needs_write = f->output || in_place;
  if (!needs_write && f->mode != FIREC_STAGING_LINK)
    return NULL;
  cleanup_error firec_error_t err = NULL;
  int ok = access ? firec_stage_access_verdict (access, f->host_path, uid, gid, needs_write, &err)
                  : firec_error_set (&err, 0, "cannot open %s", f->host_path);
  if (ok < 0)
    return firec_xstrdup (err->message);
  if (ok > 0)
    return NULL;
  return firec_xasprintf (
      "%s: %s must be %s by the VM's uid %lu: fix it with `chown %lu:%lu %s`, an ACL (`setfacl -m u:%lu:%s %s`)%s",
      f->where, f->host_path, needs_write ? "readable and writable" : "readable", (unsigned long) uid,
      (unsigned long) uid, (unsigned long) gid, f->host_path, (unsigned long) uid, needs_write ? "rw" : "r",
      f->host_path,
      f->output || f->role == FIREC_FILE_UFFD_SOCKET ? ""
      : f->writable ? ", or `staging: copy` for this drive (which makes it ephemeral: its writes are discarded)"
                    : ", or `staging: copy`");
}

static void
check_jail_access (struct firec_preflight *pf, const struct firec_step *step, const struct firec_file *f,
                   const struct firec_access *access)
{
  const struct firec_model *m = pf->plan->model;
  cleanup_free char *problem = jail_access_problem (f, access, (uid_t) m->uid, (gid_t) m->gid);
  if (problem)
    fail (pf, step, "%s", problem);
  if (f->mode == FIREC_STAGING_LINK && !f->writable && !same_filesystem (f->host_path, m->chroot_base_dir))
    fail (pf, step, "%s: %s: staging: link needs the file on the filesystem of %s; use auto or copy", f->where,
          f->host_path, m->chroot_base_dir);
}

/* A read-only input the VM's uid can write is copied into the jail, never
   linked (stage.h): with `staging: link`, or for a block device (which is
   not copied), it is refused. */
static void
check_read_only_link (struct firec_preflight *pf, const struct firec_step *step, const struct source *s)
{
  const struct firec_model *m = pf->plan->model;
  const struct firec_file *f = s->file;
  bool regular = S_ISREG (s->st.st_mode);
  if (f->output || f->writable || f->role == FIREC_FILE_UFFD_SOCKET || s->fd < 0
      || !(f->mode == FIREC_STAGING_LINK || (f->mode == FIREC_STAGING_AUTO && !regular)))
    return;
  struct firec_stage_known known = { pf->access, pf->access_count };
  cleanup_error firec_error_t err = NULL;
  int writable = firec_stage_vm_may_modify (&known, s->fd, &s->st, (uid_t) m->uid, (gid_t) m->gid, &err);
  if (writable < 0)
    fail (pf, step, "%s: %s", f->where, err->message);
  else if (writable)
    fail (pf, step,
          "%s: %s is read-only for the VM but writable by the VM's uid %lu: linked into the jail, the VM could "
          "change it; take that write access away (chown, chmod go-w)%s",
          f->where, f->host_path, m->uid, regular ? ", or use `staging: copy` or `auto`" : "");
}

/* The jail uid's rights on every file it opens, in one check (a child that
   becomes the jail's uid); staging reuses these verdicts. */
static void
check_access (struct firec_preflight *pf, const struct firec_step *step, struct source *sources, size_t n)
{
  const struct firec_model *m = pf->plan->model;
  int *fds = firec_xcalloc (n + 1, sizeof *fds);
  ssize_t *slot = firec_xcalloc (n + 1, sizeof *slot);
  size_t open_count = 0;
  for (size_t i = 0; i < n; i++)
    {
      slot[i] = -1;
      /* In the jail Firecracker reaches a file through our link or bind mount,
         never through the host's directories: the inode's mode and ACL decide. */
      if (sources[i].fd >= 0 && sources[i].problem == NULL)
        {
          fds[open_count] = sources[i].fd;
          slot[i] = (ssize_t) open_count++;
        }
    }
  free (pf->access);
  pf->access = firec_xcalloc (open_count + 1, sizeof *pf->access);
  pf->access_count = 0;
  cleanup_error firec_error_t err = NULL;
  if (open_count && firec_stage_check_access (fds, open_count, (uid_t) m->uid, (gid_t) m->gid, pf->access, &err) < 0)
    fail (pf, step, "%s", err->message);
  else
    {
      pf->access_count = open_count;
      /* A new output is the jail uid's own; an existing one is moved aside. */
      for (size_t i = 0; i < n; i++)
        if (sources[i].problem == NULL && (!sources[i].file->output || slot[i] >= 0))
          {
            check_jail_access (pf, step, sources[i].file, slot[i] >= 0 ? &pf->access[slot[i]] : NULL);
            check_read_only_link (pf, step, &sources[i]);
          }
    }
  free (fds);
  free (slot);
}

/* ------------------------------------------------------------------ file identity */

/* A file, as the kernel knows it: a block device by its device number (two
   nodes of one disk are one disk), anything else by its inode. */
static void
identity_of (const struct stat *st, dev_t *dev, ino_t *ino)
{
  *dev = S_ISBLK (st->st_mode) ? st->st_rdev : st->st_dev;
  *ino = S_ISBLK (st->st_mode) ? 0 : st->st_ino;
}

static void
add_identity (struct firec_preflight *pf, const char *where, const char *path, const struct stat *st,
              enum firec_preflight_use use, bool output)
{
  pf->files = firec_xrealloc (pf->files, (pf->file_count + 1) * sizeof *pf->files);
  struct firec_preflight_file *f = &pf->files[pf->file_count++];
  *f = (struct firec_preflight_file){ .where = where, .path = path, .use = use, .output = output };
  identity_of (st, &f->dev, &f->ino);
}

static enum firec_preflight_use
use_of (bool jailed, const struct source *s)
{
  const struct firec_file *f = s->file;
  if (f->output)
    return s->kind == FIREC_OUTPUT_FIFO ? FIREC_USE_WRITE : FIREC_USE_OUTPUT_ASIDE;
  /* A writable drive staged as a copy or a reflink is the VM's own: the file
     is only read (many VMs may start from one image that way). */
  bool own_copy = jailed && (f->mode == FIREC_STAGING_COPY || f->mode == FIREC_STAGING_REFLINK);
  return f->writable && !own_copy && f->role != FIREC_FILE_UFFD_SOCKET ? FIREC_USE_WRITE : FIREC_USE_READ;
}

/* Every file the manifest names that exists: the staged ones, the data files
   firec-run reads, the binaries. */
static void
collect_identities (struct firec_preflight *pf, const struct source *sources, size_t n)
{
  const struct firec_model *m = pf->plan->model;
  for (size_t i = 0; i < n; i++)
    if (sources[i].found)
      add_identity (pf, sources[i].file->where, sources[i].file->host_path, &sources[i].st,
                    use_of (m->jailer, &sources[i]), sources[i].file->output);
  const struct firec_data_file *data[] = { &m->mmds_data_file, &m->cpu_config_file };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (data); i++)
    {
      struct stat st;
      if (data[i]->host_path && stat (data[i]->host_path, &st) == 0)
        add_identity (pf, data[i]->where, data[i]->host_path, &st, FIREC_USE_DATA, false);
    }
  const struct firec_binary *binaries[] = { &m->firecracker_binary, m->jailer ? &m->jailer_binary : NULL };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (binaries); i++)
    if (binaries[i] && binaries[i]->found)
      {
        struct stat st = { .st_mode = S_IFREG, .st_dev = binaries[i]->dev, .st_ino = binaries[i]->ino };
        add_identity (pf, binaries[i]->where, binaries[i]->path, &st, FIREC_USE_DATA, false);
      }
}

static bool
writes (enum firec_preflight_use use)
{
  return use == FIREC_USE_WRITE || use == FIREC_USE_OUTPUT_ASIDE;
}

/* One file behind two fields, one of which writes it (validate compared the
   spellings; this is the same file through a hard or symbolic link). */
static void
check_same_files (struct firec_preflight *pf, const struct firec_step *step)
{
  for (size_t k = 0; k < pf->file_count; k++)
    for (size_t j = 0; j < k; j++)
      {
        const struct firec_preflight_file *a = &pf->files[j], *b = &pf->files[k];
        if (a->dev != b->dev || a->ino != b->ino || !(writes (a->use) || writes (b->use)))
          continue;
        const char *why = a->output && b->output ? "two outputs cannot share a file"
                          : a->output || b->output
                              ? "an output must not be an input of the same VM: Firecracker writes it from its "
                                "first byte"
                              : "a file the guest writes backs one device only, and is no other input (read-only "
                                "files may be shared)";
        fail (pf, step, "%s: %s is the same file as %s (%s): %s", b->where, b->path, a->where, a->path, why);
      }
}

/* Two outputs that will be one new file (a symbolic link in a directory's
   path): compared by directory and name. */
static void
check_output_places (struct firec_preflight *pf, const struct firec_step *step, const struct source *sources, size_t n)
{
  for (size_t k = 0; k < n; k++)
    for (size_t j = 0; j < k; j++)
      {
        const struct firec_file *a = sources[j].file, *b = sources[k].file;
        if (!a->output || !b->output || sources[j].found || sources[k].found)
          continue;
        const char *na = strrchr (a->host_path, '/') + 1, *nb = strrchr (b->host_path, '/') + 1;
        cleanup_free char *da = firec_xstrndup (a->host_path, (size_t) (na - a->host_path));
        cleanup_free char *db = firec_xstrndup (b->host_path, (size_t) (nb - b->host_path));
        struct stat sa, sb;
        if (strcmp (na, nb) == 0 && stat (da, &sa) == 0 && stat (db, &sb) == 0 && sa.st_dev == sb.st_dev
            && sa.st_ino == sb.st_ino)
          fail (pf, step, "%s: %s is the same file as %s (%s): two outputs cannot share a file", b->where, b->host_path,
                a->where, a->host_path);
      }
}

/* Moving an output's earlier files aside must not move a file the VM uses. */
static void
check_aside_chains (struct firec_preflight *pf, const struct firec_step *step, const struct source *sources, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      if (sources[i].problem || sources[i].kind != FIREC_OUTPUT_ASIDE || !sources[i].file->output)
        continue;
      const struct firec_file *f = sources[i].file;
      int count = firec_output_chain (f->host_path);
      for (int k = 1; k < count; k++)
        {
          cleanup_free char *name = firec_output_aside_name (f->host_path, (unsigned) k);
          struct stat st;
          dev_t dev;
          ino_t ino;
          if (stat (name, &st) < 0)
            continue;
          identity_of (&st, &dev, &ino);
          for (size_t j = 0; j < pf->file_count; j++)
            if (pf->files[j].dev == dev && pf->files[j].ino == ino && !pf->files[j].output)
              fail (pf, step,
                    "%s: moving the earlier %s aside would move %s to %s.%d, but %s is the file of %s: move %s "
                    "away first",
                    f->where, f->host_path, name, f->host_path, k + 1, name, pf->files[j].where, f->host_path);
        }
    }
}

/* ------------------------------------------------------------------ other VMs */

/* The files of the other VMs of this host, from their records (each names its
   files before its jail is staged, record.h), against ours: a file one VM
   writes is used by no other. Records rather than an OFD lock on each file:
   firec-run holds no process for a detached VM's life, and Firecracker takes
   no lock itself. What this cannot see: VMs of another state root (another
   FIREC_STATE_DIR, or another user's firec-run, whose root is under its own
   home or runtime directory), and VMs that firec-run did not start. */
static bool
processes_live (const struct firec_record *r, pid_t *pid)
{
  cleanup_error firec_error_t ignored = NULL;
  const struct firec_record_process *procs[] = { &r->vmm, &r->jailer_process };
  bool live = false;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (procs) && !live; i++)
    {
      struct firec_pidref ref = FIREC_PIDREF_NULL;
      if (procs[i]->pid > 0 && firec_pidref_open (procs[i]->pid, procs[i]->start_time, &ref, &ignored) == 1)
        {
          live = true;
          *pid = procs[i]->pid;
        }
      firec_pidref_done (&ref);
    }
  return live;
}

/* How the other VM's record r uses the file f, when that excludes our use:
   "writes", "reads"; NULL when it does not (both only read it). */
static const char *
record_conflict (const struct firec_record *r, const struct firec_preflight_file *f)
{
  if (f->use == FIREC_USE_DATA)
    return NULL;
  for (size_t i = 0; i < r->output_count; i++)
    if ((r->outputs[i].dev || r->outputs[i].ino) && r->outputs[i].dev == f->dev && r->outputs[i].ino == f->ino)
      return "writes";
  for (size_t i = 0; i < r->file_count; i++)
    if (r->files[i].dev == f->dev && r->files[i].ino == f->ino && (r->files[i].writable || writes (f->use)))
      return r->files[i].writable ? "writes" : "reads";
  return NULL;
}

/* Another VM's record: state.json, or its copy (record.h) when that cannot
   be read; kept in *seen, which owns it. NULL without one; *unreadable then
   says whether one was there, damaged. */
static const struct firec_record *
other_vm_record (const struct firec_state *st, const char *name, struct firec_other_vm **seen, size_t *seen_count,
                 bool *unreadable)
{
  *unreadable = false;
  cleanup_close int dir_fd = -1;
  cleanup_free char *shown = firec_xasprintf ("%s/%s", st->root, name);
  cleanup_error firec_error_t open_err = NULL, state_err = NULL, copy_err = NULL;
  if (firec_state_open_vm_dir (st, name, &dir_fd, &open_err) < 0 || dir_fd < 0)
    return NULL;
  struct firec_other_vm *e = seen_entry (seen, seen_count, name);
  struct firec_record *r = NULL;
  int rc = firec_record_read_changed (dir_fd, shown, &e->text, &e->len, &r, &state_err);
  if (rc == 1)
    return e->record;
  firec_record_free (e->record);
  e->record = NULL;
  if (rc < 0 || r == NULL)
    {
      free (e->text); /* bytes go with the record parsed from them */
      e->text = NULL;
      if (firec_record_read_copy (dir_fd, shown, &r, &copy_err) < 0 || r == NULL)
        {
          *unreadable = state_err || copy_err;
          return NULL;
        }
    }
  e->record = r;
  return r;
}

/* A VM whose records cannot be read, when it runs: a firec-run holds its
   lock, or the host shows its keeper or Firecracker (discover.h). */
static bool
unrecorded_vm_is_live (const struct firec_state *st, const char *name, pid_t *pid)
{
  cleanup_error firec_error_t ignored = NULL;
  if (firec_state_lock_held (st, name, pid, &ignored) > 0)
    return true;
  cleanup_free char *dir = firec_xasprintf ("%s/%s", st->root, name);
  cleanup_record struct firec_record *r = NULL;
  cleanup_free char *unknown = NULL;
  if (firec_vm_find_unrecorded (name, dir, &r, &unknown, &ignored) < 0)
    return true; /* cannot tell: as if it ran */
  *pid = r->vmm.pid ? r->vmm.pid : r->jailer_process.pid ? r->jailer_process.pid : r->console.keeper.pid;
  return *pid != 0;
}

/* Another VM that runs with records that cannot be read: which files it uses
   cannot be known. A refusal, not a warning: two VMs writing one disk lose
   data for good, while this costs a start until the damaged VM is removed (or
   its record repaired), which its state says anyway. */
static char *
unknown_files_conflict (const struct firec_preflight_file *files, size_t file_count, const struct firec_state *st,
                        const char *name)
{
  pid_t pid = 0;
  bool uses_files = false;
  for (size_t i = 0; i < file_count; i++)
    uses_files = uses_files || files[i].use != FIREC_USE_DATA;
  if (!uses_files || !unrecorded_vm_is_live (st, name, &pid))
    return NULL;
  cleanup_free char *who = pid ? firec_xasprintf (" (pid %ld)", (long) pid) : firec_xstrdup ("");
  return firec_xasprintf ("the VM %s%s runs, but its record (%s/%s/state.json, and the copy) cannot be read: which "
                          "files it uses cannot be known, and a file one VM writes is used by no other",
                          name, who, st->root, name);
}

/* Whether two paths name one place, by their directory's identity and the
   name in it: an output that is not made yet (or was moved aside since) is
   still claimed by its path. */
static bool
same_place (const char *a, const char *b)
{
  const char *na = strrchr (a, '/'), *nb = strrchr (b, '/');
  if (na == NULL || nb == NULL || strcmp (na, nb) != 0)
    return false;
  cleanup_free char *da = firec_xstrndup (a, (size_t) (na - a) + 1);
  cleanup_free char *db = firec_xstrndup (b, (size_t) (nb - b) + 1);
  struct stat sa, sb;
  return stat (da, &sa) == 0 && stat (db, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* An output of ours at the path of one of r's outputs: the output of r's
   field. */
static const struct firec_record_output *
output_place_conflict (const struct firec_record *r, const struct firec_file *f)
{
  for (size_t i = 0; f->output && i < r->output_count; i++)
    if (same_place (r->outputs[i].path, f->host_path))
      return &r->outputs[i];
  return NULL;
}

/* Whether the output of the field where was already told about. */
static bool
told_output (const struct firec_model *m, const bool *told, const char *where)
{
  for (size_t i = 0; i < m->file_count; i++)
    if (told[i] && m->files[i].where == where)
      return true;
  return false;
}

static char *
conflict_text (const char *where, const char *path, const char *name, pid_t pid, const char *how, const char *ours)
{
  cleanup_free char *who = pid ? firec_xasprintf (" (pid %ld)", (long) pid) : firec_xstrdup ("");
  return firec_xasprintf ("%s: %s is a file the VM %s%s %s, and this one would %s: a file one VM writes is used by "
                          "no other (read-only sharing is fine)",
                          where, path, name, who, how, ours);
}

static void
push_found (char ***found, size_t *count, char *s)
{
  *found = firec_xrealloc (*found, (*count + 2) * sizeof **found);
  (*found)[(*count)++] = s;
  (*found)[*count] = NULL;
}

/* What the other VMs of the state root that run say against the files of
   the VM self: its files (by identity) and, with m, its outputs (by place). */
static char **
vm_conflicts (const char *self, const struct firec_model *m, const struct firec_preflight_file *files,
              size_t file_count, struct firec_other_vm **seen, size_t *seen_count)
{
  char **found = firec_xcalloc (1, sizeof *found);
  size_t count = 0;
  cleanup_state struct firec_state st = FIREC_STATE_INIT;
  cleanup_error firec_error_t err = NULL;
  char **names = NULL;
  size_t n = 0;
  if (firec_state_open (false, &st, &err) < 0 || st.root_fd < 0 || firec_state_list (&st, &names, &n, &err) < 0)
    return found;
  size_t output_count = m ? m->file_count : 0;
  for (size_t v = 0; v < n; v++)
    {
      if (strcmp (names[v], self) == 0)
        continue;
      /* Live: its lock is held (a firec-run starting it, supervising it or
         operating on it), else its recorded processes run. The lock is asked
         before the record is read: a run that ends in between has recorded
         its processes by then. The other way round, the record of a run
         still creating (no processes yet) was judged by a lock that run had
         let go of meanwhile, as it finished: nothing live, and two VMs
         started at once on one writable file both ran. */
      pid_t pid = 0;
      bool unreadable;
      cleanup_error firec_error_t lock_err = NULL;
      bool held = firec_state_lock_held (&st, names[v], &pid, &lock_err) > 0;
      const struct firec_record *r = other_vm_record (&st, names[v], seen, seen_count, &unreadable);
      char *unknown = r == NULL && unreadable ? unknown_files_conflict (files, file_count, &st, names[v]) : NULL;
      if (unknown)
        push_found (&found, &count, unknown);
      if (r == NULL || !(held || processes_live (r, &pid)))
        continue;
      bool *told = firec_xcalloc (output_count + 1, sizeof *told);
      for (size_t i = 0; i < output_count; i++)
        if (output_place_conflict (r, &m->files[i]))
          {
            told[i] = true;
            push_found (&found, &count,
                        conflict_text (m->files[i].where, m->files[i].host_path, names[v], pid, "writes (its output)",
                                       "make its output there too"));
          }
      for (size_t i = 0; i < file_count; i++)
        {
          const struct firec_preflight_file *f = &files[i];
          const char *how = record_conflict (r, f);
          if (how == NULL || (f->output && m && told_output (m, told, f->where)))
            continue;
          push_found (&found, &count,
                      conflict_text (f->where, f->path, names[v], pid, how,
                                     f->use == FIREC_USE_OUTPUT_ASIDE ? "move it aside"
                                     : writes (f->use)                ? "write it"
                                                                      : "read it"));
        }
      free (told);
    }
  strv_free (names);
  return found;
}

static char **
other_vm_conflicts (struct firec_preflight *pf)
{
  return vm_conflicts (pf->plan->model->name, pf->plan->model, pf->files, pf->file_count, &pf->other_vms,
                       &pf->other_vm_count);
}

static void
check_other_vms (struct firec_preflight *pf, const struct firec_step *step)
{
  char **found = other_vm_conflicts (pf);
  for (size_t i = 0; found[i]; i++)
    fail (pf, step, "%s", found[i]);
  strv_free (found);
}

int
firec_preflight_recheck_others (struct firec_preflight *pf, firec_error_t *err)
{
  char **found = other_vm_conflicts (pf);
  struct firec_buf text = { 0 };
  for (size_t i = 0; found[i]; i++)
    firec_buf_printf (&text, "\n  - %s", found[i]);
  strv_free (found);
  if (text.len == 0)
    return 0;
  firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "another run started meanwhile with a file of %s:%s",
                        pf->plan->model->name, text.data);
  firec_buf_release (&text);
  return -1;
}

/* ------------------------------------------------------------------ a new file of a running VM */

/* The file as a start checks it: there, of a kind its role reads, usable by
   whoever opens it (the jail's uid: as staged). *ret: its identity. */
static char *
new_file_problem (const struct firec_preflight_new_file *nf, struct firec_preflight_file *ret)
{
  const struct firec_file *f = nf->file;
  struct source s = { .file = f, .fd = -1, .kind = -1 };
  char *problem = input_problem (&s);
  if (problem == NULL && nf->jailed)
    {
      struct firec_access access;
      cleanup_error firec_error_t err = NULL;
      problem = firec_stage_check_access (&s.fd, 1, nf->uid, nf->gid, &access, &err) < 0
                    ? firec_xstrdup (err->message)
                    : jail_access_problem (f, &access, nf->uid, nf->gid);
    }
  if (problem == NULL)
    {
      *ret = (struct firec_preflight_file){ .where = f->where, .path = f->host_path, .use = use_of (nf->jailed, &s) };
      identity_of (&s.st, &ret->dev, &ret->ino);
    }
  if (s.fd >= 0)
    close (s.fd);
  return problem;
}

/* The VM's record names the file from now on (as the files of its start:
   record.h), so that the checks of later runs see it. */
static int
name_in_record (const struct firec_preflight_new_file *nf, const struct firec_preflight_file *file, firec_error_t *err)
{
  cleanup_close int dir_fd = -1;
  cleanup_free char *shown = firec_xasprintf ("%s/%s", nf->state->root, nf->name);
  if (firec_state_open_vm_dir (nf->state, nf->name, &dir_fd, err) < 0)
    return -1;
  cleanup_record struct firec_record *r = NULL;
  if (dir_fd >= 0 && firec_record_read (dir_fd, shown, &r, err) < 0)
    return -1;
  if (r == NULL)
    return firec_error_set (err, 0, "%s has no record to name %s in", shown, file->path);
  bool writable = file->use == FIREC_USE_WRITE;
  for (size_t i = 0; i < r->file_count; i++)
    if (r->files[i].dev == file->dev && r->files[i].ino == file->ino && (r->files[i].writable || !writable))
      return 0;
  firec_record_add_file (r, file->dev, file->ino, writable);
  return firec_record_write (dir_fd, shown, r, err);
}

int
firec_preflight_new_file (const struct firec_preflight_new_file *nf, bool claim, firec_error_t *err)
{
  struct firec_preflight_file file;
  cleanup_free char *problem = new_file_problem (nf, &file);
  if (problem)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s", problem);
  /* Checked and named in one step, as a start claims its files. */
  cleanup_close int lock = -1;
  if (claim && firec_state_lock_root (nf->state, FIREC_STATE_CLAIM_TIMEOUT_MS, &lock, err) < 0)
    return -1;
  struct firec_other_vm *seen = NULL;
  size_t seen_count = 0;
  char **found = vm_conflicts (nf->name, NULL, &file, 1, &seen, &seen_count);
  other_vms_free (seen, seen_count);
  struct firec_buf text = { 0 };
  for (size_t i = 0; found[i]; i++)
    firec_buf_printf (&text, "%s%s", i ? "; " : "", found[i]);
  strv_free (found);
  if (text.len)
    {
      firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s", text.data);
      firec_buf_release (&text);
      return -1;
    }
  return claim ? name_in_record (nf, &file, err) : 0;
}

/* The VM's files and the data files firec-run reads for it. */
static void
check_source_paths (struct firec_preflight *pf, const struct firec_step *step, const struct source *sources, size_t n)
{
  const struct firec_model *m = pf->plan->model;
  const struct firec_data_file *data[] = { &m->mmds_data_file, &m->cpu_config_file };
  struct firec_hostpath_query *q = firec_xcalloc (n + FIREC_N_ELEMENTS (data), sizeof *q);
  struct followed *what = firec_xcalloc (n + FIREC_N_ELEMENTS (data), sizeof *what);
  size_t count = 0;
  for (size_t i = 0; i < n; i++)
    {
      const struct firec_file *f = sources[i].file;
      /* A new output is made (and earlier ones renamed) in its directory; a
         FIFO output is opened as it is. */
      bool made = f->output && sources[i].kind != FIREC_OUTPUT_FIFO;
      q[count]
          = (struct firec_hostpath_query){ f->host_path, made ? FIREC_HOSTPATH_NEW_NAME : FIREC_HOSTPATH_OPEN, NULL };
      what[count++] = (struct followed){ f->where, f->output ? "write" : "read" };
    }
  for (size_t i = 0; i < FIREC_N_ELEMENTS (data); i++)
    if (data[i]->host_path)
      {
        q[count] = (struct firec_hostpath_query){ data[i]->host_path, FIREC_HOSTPATH_OPEN, NULL };
        what[count++] = (struct followed){ data[i]->where, "read" };
      }
  check_followed (pf, step, q, what, count);
  free (q);
  free (what);
}

/* Staging links or copies the very inputs checked here (no second lookup of
   their paths). */
static void
keep_input_fds (struct firec_preflight *pf, struct source *sources, size_t n)
{
  close_input_fds (pf);
  pf->input_fds = firec_xcalloc (n + 1, sizeof *pf->input_fds);
  for (size_t i = 0; i < n; i++)
    pf->input_fds[i] = !sources[i].file->output && sources[i].problem == NULL ? steal_fd (&sources[i].fd) : -1;
}

static void
check_sources (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  size_t n = m->file_count;
  struct source *sources = firec_xcalloc (n + 1, sizeof *sources);
  for (size_t i = 0; i < n; i++)
    {
      sources[i] = (struct source){ .file = &m->files[i], .fd = -1, .kind = -1 };
      sources[i].problem = m->files[i].output ? output_problem (&sources[i]) : input_problem (&sources[i]);
      if (sources[i].problem)
        fail (pf, step, "%s", sources[i].problem);
    }
  if (m->jailer)
    {
      check_source_paths (pf, step, sources, n);
      check_access (pf, step, sources, n);
    }
  collect_identities (pf, sources, n);
  check_same_files (pf, step);
  check_output_places (pf, step, sources, n);
  check_aside_chains (pf, step, sources, n);
  check_other_vms (pf, step);
  keep_input_fds (pf, sources, n);
  for (size_t i = 0; i < n; i++)
    {
      free (sources[i].problem);
      if (sources[i].fd >= 0)
        close (sources[i].fd);
    }
  free (sources);
}

/* ------------------------------------------------------------------ the jail */

/* The VM's cgroups must not exist: the run makes them, and one that is there
   is another's (another state root's VM of the name, another tool, or this
   VM's left by a run whose record is gone), which the jailer would join and a
   teardown would empty. */
static void
check_cgroups_free (struct firec_preflight *pf, const struct firec_step *step)
{
  char **dirs, **parents;
  firec_cgroup_dirs (pf->plan->model, &dirs, &parents);
  for (size_t i = 0; dirs[i]; i++)
    {
      struct stat st;
      if (lstat (dirs[i], &st) < 0)
        continue;
      cleanup_free char *what = firec_cgroup_describe (dirs[i]);
      fail (pf, step,
            "the cgroup %s exists already (%s): the run makes the VM's cgroup itself, and one that is there is "
            "another's (another VM of this name, or one left by a run whose record is gone): remove it, or give "
            "this VM another name or jailer.parent_cgroup",
            dirs[i], what);
    }
  strv_free (dirs);
  strv_free (parents);
}

/* firec-run makes the jail directory below the chroot base, and the
   teardown removes it, by path. */
static void
check_jail_path (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  struct firec_hostpath_query q = { m->jail_dir, FIREC_HOSTPATH_NEW_NAME, NULL };
  struct followed what = { m->chroot_base_where, "make and remove a directory tree in" };
  check_followed (pf, step, &q, &what, 1);
}

static void
check_jail (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  if (m->jailer)
    {
      char **problems = firec_cgroup_problems (m);
      for (size_t i = 0; problems[i]; i++)
        fail (pf, step, "%s", problems[i]);
      strv_free (problems);
      check_cgroups_free (pf, step);
      struct stat st;
      if (stat (m->chroot_base_dir, &st) < 0 || !S_ISDIR (st.st_mode))
        fail (pf, step, "%s: the chroot base %s does not exist; create it with `mkdir -p %s`", m->chroot_base_where,
              m->chroot_base_dir, m->chroot_base_dir);
      check_jail_path (pf, step);
    }
  /* Running, held by another run, or left by one: the VM is in the way. */
  cleanup_error firec_error_t err = NULL;
  if (firec_vm_check_absent (m, &err) < 0)
    {
      firec_preflight_add (pf, step, err->kind == FIREC_ERR_LOCKED, "%s", err->message);
      if (pf->remedy == FIREC_REMEDY_NONE && err->remedy != FIREC_REMEDY_NONE)
        {
          pf->remedy = err->remedy;
          pf->remedy_arg = firec_xstrdup (err->remedy_arg);
        }
    }
}

/* ------------------------------------------------------------------ network */

/* Who opens the TAPs, as the kernel's tun_not_capable judges it: jailed,
   Firecracker runs as the VM's uid and gid without capabilities; without the
   jailer it runs as firec-run, and with CAP_NET_ADMIN it may open any TAP. */
struct tap_user
{
  uid_t uid;
  gid_t gid;
  bool any; /* CAP_NET_ADMIN */
};

static struct tap_user
tap_user (const struct firec_model *m)
{
  if (m->jailer)
    return (struct tap_user){ (uid_t) m->uid, (gid_t) m->gid, false };
  struct firec_caps_needs needs = { .create_taps = true };
  cleanup_free char *missing = NULL;
  cleanup_error firec_error_t err = NULL;
  return (struct tap_user){ geteuid (), getegid (), firec_caps_check (&needs, &missing, &err) == 0 };
}

/* `ip ...` as the user types it in the TAP's namespace. */
static char *
ip_command (const struct firec_model *m, const char *args)
{
  if (m->jailer && m->netns)
    return firec_xasprintf ("nsenter --net=%s ip %s", m->netns, args);
  return firec_xasprintf ("ip %s", args);
}

static char *
owner_text (const struct firec_link *link)
{
  struct firec_buf buf = { 0 };
  if (link->has_owner)
    firec_buf_printf (&buf, "owner %lu", (unsigned long) link->owner);
  if (link->has_group)
    firec_buf_printf (&buf, "%sgroup %lu", buf.len ? ", " : "", (unsigned long) link->group);
  return firec_buf_steal (&buf);
}

/* An existing device that Firecracker's open (TUNSETIFF with IFF_TAP |
   IFF_NO_PI | IFF_VNET_HDR, as the VM's uid) would refuse, said before any
   change with the field and the fix, rather than as the kernel's bare
   "Operation not permitted" or "Device or resource busy" at PUT
   /network-interfaces. */
static void
check_existing_tap (struct firec_preflight *pf, const struct firec_step *step, const struct firec_tap *t,
                    const struct firec_link *link, const struct tap_user *user)
{
  const struct firec_model *m = pf->plan->model;
  if (strcmp (link->kind, "tun") != 0)
    {
      cleanup_free char *what = link->kind[0] ? firec_xasprintf ("a %s device", link->kind)
                                              : firec_xstrdup ("a network device of no virtual kind (a NIC?)");
      fail (pf, step, "%s: %s is %s, not a TAP: choose another host_dev_name (firec-run creates a missing TAP)",
            t->where, t->name, what);
      return;
    }
  if (!link->tun_known)
    return; /* a kernel before 4.15 does not say more */
  cleanup_free char *recreate_args = firec_xasprintf ("tuntap add %s mode tap user %lu group %lu", t->name,
                                                      (unsigned long) user->uid, (unsigned long) user->gid);
  cleanup_free char *recreate = ip_command (m, recreate_args);
  cleanup_free char *delete_args = firec_xasprintf ("link delete %s", t->name);
  cleanup_free char *delete = ip_command (m, delete_args);
  if (!link->tap)
    fail (pf, step, "%s: %s is a TUN (layer 3) device, not a TAP: remove it (`%s`) and firec-run creates a TAP",
          t->where, t->name, delete);
  else if (link->multi_queue)
    fail (pf, step,
          "%s: %s is a multi-queue TAP, which Firecracker's single-queue open refuses (EINVAL): remove "
          "it (`%s`) and firec-run creates one, or make it with `%s`",
          t->where, t->name, delete, recreate);
  else if (link->queues)
    {
      cleanup_free char *holders = firec_net_tap_holders (t->name);
      fail (pf, step,
            "%s: %s is in use: a process has it open (%s), another VM perhaps; Firecracker could not "
            "open it (EBUSY): stop that process, or choose another host_dev_name",
            t->where, t->name, holders ? holders : "its link has carrier");
    }
  else if (!user->any
           && ((link->has_owner && link->owner != user->uid) || (link->has_group && link->group != user->gid)))
    {
      cleanup_free char *owner = owner_text (link);
      fail (pf, step,
            "%s: %s (%s) cannot be opened by the VM's uid:gid %lu:%lu (Firecracker would fail with "
            "\"Operation not permitted\"): remove it (`%s`) and firec-run creates one for the VM, or give it to the "
            "VM: `%s && %s`",
            t->where, t->name, owner, (unsigned long) user->uid, (unsigned long) user->gid, delete, delete, recreate);
    }
  if (t->mtu && link->mtu != t->mtu)
    fail (pf, step,
          "%s: the existing TAP %s has MTU %u, not the %u asked: set it (`ip link set %s mtu %u`) or "
          "leave out mtu; firec-run changes nothing on a TAP it did not create",
          t->options_where, t->name, link->mtu, t->mtu, t->name, t->mtu);
}

/* A bridge to attach a created TAP to must be a bridge; an existing TAP must
   already be on it. */
static void
check_bridge (struct firec_preflight *pf, const struct firec_step *step, struct firec_net *net,
              const struct firec_tap *t, const struct firec_link *tap)
{
  struct firec_link bridge;
  cleanup_error firec_error_t err = NULL;
  if (firec_net_link (net, t->bridge, 0, &bridge, &err) < 0)
    fail (pf, step, "%s: %s", t->options_where, err->message);
  else if (!bridge.exists)
    fail (pf, step, "%s: the bridge %s does not exist: create it, or leave out bridge", t->options_where, t->bridge);
  else if (strcmp (bridge.kind, "bridge") != 0)
    fail (pf, step, "%s: %s is not a bridge (a %s device)", t->options_where, t->bridge,
          bridge.kind[0] ? bridge.kind : "plain");
  else if (tap->exists && tap->master != bridge.ifindex)
    fail (pf, step,
          "%s: the existing TAP %s is not on the bridge %s: attach it (`ip link set %s master %s`) or "
          "leave out bridge; firec-run changes nothing on a TAP it did not create",
          t->options_where, t->name, t->bridge, t->name, t->bridge);
}

static void
check_network (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  const char *netns = m->jailer ? m->netns : NULL;
  free (pf->tap_ifindex);
  pf->tap_ifindex = firec_xcalloc (m->tap_count + 1, sizeof *pf->tap_ifindex);
  cleanup_net struct firec_net *net = NULL;
  cleanup_error firec_error_t err = NULL;
  if (firec_net_open (netns, &net, &err) < 0)
    {
      fail (pf, step, "%s", err->message);
      return;
    }
  struct tap_user user = tap_user (m);
  bool create = false;
  for (size_t i = 0; i < m->tap_count; i++)
    {
      const struct firec_tap *t = &m->taps[i];
      struct firec_link link;
      if (firec_net_link (net, t->name, 0, &link, &err) < 0)
        {
          fail (pf, step, "%s: %s", t->where, err->message);
          firec_error_release (&err);
          continue;
        }
      if (link.exists)
        {
          pf->tap_ifindex[i] = link.ifindex;
          check_existing_tap (pf, step, t, &link, &user);
        }
      else
        create = true;
      if (t->bridge)
        check_bridge (pf, step, net, t, &link);
    }
  if (!create)
    return;
  struct firec_caps_needs needs = { .create_taps = true, .taps_in_netns = netns != NULL };
  cleanup_free char *missing = NULL;
  if (firec_caps_check (&needs, &missing, &err) < 0)
    {
      fail (pf, step, "%s", err->message);
      return;
    }
  char *save = NULL;
  for (char *line = strtok_r (missing, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    fail (pf, step, "missing capability %s; run firec-run as root, or create the TAP devices beforehand for %lu:%lu",
          line, (unsigned long) user.uid, (unsigned long) user.gid);
}

void
firec_preflight_step (struct firec_preflight *pf, const struct firec_step *step)
{
  switch (step->kind)
    {
    case FIREC_STEP_PREFLIGHT_CAPS:
      check_caps (pf, step);
      return;
    case FIREC_STEP_PREFLIGHT_KVM:
      check_kvm (pf, step);
      return;
    case FIREC_STEP_PREFLIGHT_BINARIES:
      start_binaries (pf, step);
      return;
    case FIREC_STEP_PREFLIGHT_SOURCES:
      check_sources (pf, step);
      return;
    case FIREC_STEP_PREFLIGHT_JAIL:
      check_jail (pf, step);
      return;
    case FIREC_STEP_PREFLIGHT_NETWORK:
      check_network (pf, step);
      return;
    case FIREC_STEP_STATE_CREATE:
    case FIREC_STEP_STAGE_JAIL:
    case FIREC_STEP_STAGE_FILE:
    case FIREC_STEP_NET_TAP:
    case FIREC_STEP_SPAWN:
    case FIREC_STEP_API_WAIT:
    case FIREC_STEP_API_REQUEST:
    case FIREC_STEP_API_CONFIRM:
    case FIREC_STEP_STATE_RECORD:
      return;
    }
}

static size_t
step_index (const struct firec_preflight *pf, const struct firec_step *step)
{
  return (size_t) (step - pf->plan->steps);
}

int
firec_preflight_finish (struct firec_preflight *pf, firec_error_t *err)
{
  finish_binaries (pf, true);
  if (pf->finding_count == 0)
    return 0;
  bool locked = false;
  struct firec_buf text = { 0 };
  /* In plan order (the version verdicts arrive last), stable within a step. */
  for (size_t s = 0; s < pf->plan->count; s++)
    for (size_t i = 0; i < pf->finding_count; i++)
      if (step_index (pf, pf->findings[i].step) == s)
        {
          firec_buf_printf (&text, "\n  - %s: %s", pf->findings[i].step->id, pf->findings[i].message);
          locked = locked || pf->findings[i].locked;
        }
  firec_error_set_kind (err, locked ? FIREC_ERR_LOCKED : FIREC_ERR_PRECONDITION, 0,
                        "preflight failed for %s (%zu problem%s):%s", pf->plan->model->name, pf->finding_count,
                        pf->finding_count == 1 ? "" : "s", text.data);
  firec_error_set_remedy (err, pf->remedy, pf->remedy_arg);
  firec_buf_release (&text);
  return -1;
}
