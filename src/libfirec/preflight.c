#include "config.h"

#include "preflight.h"
#include "caps.h"
#include "cgroup.h"
#include "hostcheck.h"
#include "lifecycle.h"
#include "net.h"
#include "seam.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

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

void
firec_preflight_release (struct firec_preflight *pf)
{
  finish_binaries (pf, false); /* reaps probes a failure left running */
  for (size_t i = 0; i < pf->finding_count; i++)
    free (pf->findings[i].message);
  free (pf->findings);
  free (pf->firecracker_path);
  free (pf->jailer_path);
  free (pf->firecracker_version);
  free (pf->access);
  strv_free (pf->cgroup_dirs);
  strv_free (pf->cgroup_parents);
  free (pf->tap_ifindex);
  memset (pf, 0, sizeof *pf);
}

static void __attribute__ ((format (printf, 4, 0)))
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
  struct firec_caps_needs needs = { .jailer = true, .netns = m->netns != NULL, .cgroups = m->cgroups[0] != NULL,
                                    .raise_rlimits = raise };
  if (firec_caps_check (&needs, &missing, &err) < 0)
    {
      fail (pf, step, "%s", err->message);
      return;
    }
  char *save = NULL;
  for (char *line = strtok_r (missing, "\n", &save); line; line = strtok_r (NULL, "\n", &save))
    fail (pf, step, "missing capability %s; run firec-run as root", line);
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

/* ------------------------------------------------------------------ binaries */

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
  if (fc_changed)
    fail (pf, step, "spec.firecracker.binary changed while firec-run read the manifest: %s; run again", fc_changed);
  if (jailer_changed)
    fail (pf, step, "spec.jailer.binary changed while firec-run read the manifest: %s; run again", jailer_changed);
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
    fail (pf, step, "firecracker binary %s not found or not executable (spec.firecracker.binary%s)",
          m->firecracker_binary.path, strchr (m->firecracker_binary.written, '/') ? "" : ", looked up in PATH");
  else if (pf->firecracker_path == NULL)
    ; /* changed since it was resolved: said above */
  else if (fc_err)
    fail (pf, step, "%s", fc_err->message);
  else if (pf->firecracker_version)
    version_gate (pf, step);
  /* (The 1.5.1 jailer's rule that the exec file name contains "firecracker" is
     in the plan's version gate: jailer.spawn needs 1.13 otherwise.) */
  if (m->jailer && !m->jailer_binary.found)
    fail (pf, step, "jailer binary %s not found or not executable (spec.jailer.binary%s)", m->jailer_binary.path,
          strchr (m->jailer_binary.written, '/') ? "" : ", looked up in PATH");
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
  if (socket && fstat (*fd, &st) == 0 && !S_ISSOCK (st.st_mode))
    {
      close (*fd);
      *fd = -1;
      return firec_xasprintf ("%s: %s is not a Unix socket (a Uffd backend_path is the socket of the page-fault "
                              "handler, which must be listening before the run)",
                              f->where, f->host_path);
    }
  /* An output may be a FIFO or a device; an input must be a file or a block device. */
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
check_jail_access (struct firec_preflight *pf, const struct firec_step *step, const struct firec_file *f,
                   const struct firec_access *access)
{
  const struct firec_model *m = pf->plan->model;
  bool in_place = f->writable && f->mode != FIREC_STAGING_COPY && f->mode != FIREC_STAGING_REFLINK;
  bool needs_write = f->output || in_place;
  if (!needs_write && f->mode != FIREC_STAGING_LINK)
    return;
  cleanup_error firec_error_t err = NULL;
  int ok = access ? firec_stage_access_verdict (access, f->host_path, (uid_t) m->uid, (gid_t) m->gid, needs_write, &err)
                  : firec_error_set (&err, 0, "cannot open %s", f->host_path);
  if (ok < 0)
    fail (pf, step, "%s", err->message);
  else if (ok == 0)
    fail (pf, step,
          "%s: %s must be %s by the VM's uid %lu: fix it with `chown %lu:%lu %s`, an ACL (`setfacl -m u:%lu:%s %s`)%s",
          f->where, f->host_path, needs_write ? "readable and writable" : "readable", m->uid, m->uid, m->gid,
          f->host_path, m->uid, needs_write ? "rw" : "r", f->host_path,
          f->output || f->role == FIREC_FILE_UFFD_SOCKET ? ""
          : f->writable ? ", or `staging: copy` for this drive (which makes it ephemeral: its writes are discarded)"
                        : ", or `staging: copy`");
  if (f->mode == FIREC_STAGING_LINK && !f->writable && !same_filesystem (f->host_path, m->chroot_base_dir))
    fail (pf, step, "%s: %s: staging: link needs the file on the filesystem of %s; use auto or copy", f->where,
          f->host_path, m->chroot_base_dir);
}

static void
check_sources (struct firec_preflight *pf, const struct firec_step *step)
{
  const struct firec_model *m = pf->plan->model;
  size_t n = m->file_count;
  char **problems = firec_xcalloc (n + 1, sizeof *problems);
  int *fds = firec_xcalloc (n + 1, sizeof *fds);
  ssize_t *slot = firec_xcalloc (n + 1, sizeof *slot);
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
  free (pf->access);
  pf->access = firec_xcalloc (open_count + 1, sizeof *pf->access);
  pf->access_count = 0;
  cleanup_error firec_error_t err = NULL;
  bool checked = open_count == 0
                 || firec_stage_check_access (fds, open_count, (uid_t) m->uid, (gid_t) m->gid, pf->access, &err) == 0;
  if (checked)
    pf->access_count = open_count;
  else
    fail (pf, step, "%s", err->message);
  for (size_t i = 0; i < open_count; i++)
    close (fds[i]);
  for (size_t i = 0; i < n; i++)
    {
      const struct firec_file *f = &m->files[i];
      if (problems[i])
        fail (pf, step, "%s", problems[i]);
      else if (m->jailer && checked && (!f->output || slot[i] >= 0))
        check_jail_access (pf, step, f, slot[i] >= 0 ? &pf->access[slot[i]] : NULL);
      free (problems[i]);
    }
  free (problems);
  free (fds);
  free (slot);
}

/* ------------------------------------------------------------------ the jail */

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
      firec_cgroup_dirs (m, &pf->cgroup_dirs, &pf->cgroup_parents);
      struct stat st;
      if (stat (m->chroot_base_dir, &st) < 0 || !S_ISDIR (st.st_mode))
        fail (pf, step,
              "the chroot base %s does not exist (spec.jailer.chroot_base_dir); create it with `mkdir -p %s`",
              m->chroot_base_dir, m->chroot_base_dir);
    }
  else
    {
      pf->cgroup_dirs = firec_xcalloc (1, sizeof *pf->cgroup_dirs);
      pf->cgroup_parents = firec_xcalloc (1, sizeof *pf->cgroup_parents);
    }
  /* Running, held by another run, or left by one: the VM is in the way. */
  cleanup_error firec_error_t err = NULL;
  if (firec_vm_check_absent (m, &err) < 0)
    firec_preflight_add (pf, step, err->kind == FIREC_ERR_LOCKED, "%s", err->message);
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
    fail (pf, step, "%s: %s is a multi-queue TAP, which Firecracker's single-queue open refuses (EINVAL): remove "
          "it (`%s`) and firec-run creates one, or make it with `%s`",
          t->where, t->name, delete, recreate);
  else if (link->queues)
    {
      cleanup_free char *holders = firec_net_tap_holders (t->name);
      fail (pf, step, "%s: %s is in use: a process has it open (%s), another VM perhaps; Firecracker could not "
            "open it (EBUSY): stop that process, or choose another host_dev_name",
            t->where, t->name, holders ? holders : "its link has carrier");
    }
  else if (!user->any && ((link->has_owner && link->owner != user->uid) || (link->has_group && link->group != user->gid)))
    {
      cleanup_free char *owner = owner_text (link);
      fail (pf, step, "%s: %s (%s) cannot be opened by the VM's uid:gid %lu:%lu (Firecracker would fail with "
            "\"Operation not permitted\"): remove it (`%s`) and firec-run creates one for the VM, or give it to the "
            "VM: `%s && %s`",
            t->where, t->name, owner, (unsigned long) user->uid, (unsigned long) user->gid, delete, delete, recreate);
    }
  if (t->mtu && link->mtu != t->mtu)
    fail (pf, step, "%s: the existing TAP %s has MTU %u, not the %u asked: set it (`ip link set %s mtu %u`) or "
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
    fail (pf, step, "%s: the existing TAP %s is not on the bridge %s: attach it (`ip link set %s master %s`) or "
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
  firec_buf_release (&text);
  return -1;
}
