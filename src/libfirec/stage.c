/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "stage.h"
#include "jailfs.h"
#include "process.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* <linux/fs.h> clashes with <sys/mount.h> on some glibc versions; FICLONE is ABI. */
#ifndef FICLONE
#define FICLONE _IOW (0x94, 9, int)
#endif

/* A copy is done in slices of this size so that progress can be reported. */
#define COPY_SLICE (64LL << 20)
#define PROGRESS_INTERVAL_NS 100000000LL

void
firec_stage_test_disable_openat2 (bool disable)
{
  firec_jailfs_test_disable_openat2 (disable);
}

const char *
firec_stage_method_name (enum firec_stage_method method)
{
  switch (method)
    {
    case FIREC_STAGED_LINK:
      return "link";
    case FIREC_STAGED_REFLINK:
      return "reflink";
    case FIREC_STAGED_COPY:
      return "copy";
    case FIREC_STAGED_BIND:
      return "bind";
    }
  return "?";
}

void
firec_staged_release (struct firec_staged *s)
{
  if (s == NULL)
    return;
  free (s->vm_path);
  free (s->host_path);
  s->vm_path = NULL;
  s->host_path = NULL;
}

static bool
privileged (void)
{
  return geteuid () == 0;
}

/* The staged name must not exist yet: a symlink there is an attack (or a
   leftover), anything else a collision. */
static int
check_name_free (int root_fd, int parent, const char *name, const char *vm_path, firec_error_t *err)
{
  struct stat st;
  if (fstatat (parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    {
      if (S_ISLNK (st.st_mode))
        return firec_jailfs_error (err, ELOOP, root_fd, vm_path, "stage");
      cleanup_free char *root = firec_jailfs_describe (root_fd);
      return firec_error_set (err, EEXIST, "%s%s already exists in the VM root (two files staged at the same path?)",
                              root, vm_path);
    }
  if (errno != ENOENT)
    return firec_jailfs_error (err, errno, root_fd, vm_path, "inspect");
  return 0;
}

static int
commit_temp (int root_fd, int parent, const char *tmp, const char *name, const char *vm_path, firec_error_t *err)
{
  /* The data is written under a temporary name and renamed into place, so a
     crash never leaves a half-written file under the final name. */
  if (firec_jailfs_rename_noreplace (parent, tmp, parent, name) == 0)
    return 0;
  int e = errno;
  if (e == EEXIST)
    return check_name_free (root_fd, parent, name, vm_path, err) < 0
               ? -1
               : firec_error_set (err, EEXIST, "cannot rename the staged file into place as %s", vm_path);
  return firec_jailfs_error (err, e, root_fd, vm_path, "rename the staged file into place as");
}

/* ------------------------------------------------------------------ access checks */

/* What access_as's child reads and writes: it shares our memory. For each path,
   the errno of faccessat for R_OK, for R_OK|W_OK and for W_OK (0: allowed). */
struct access_probe
{
  const char *const *paths;
  size_t count;
  uid_t uid;
  gid_t gid;
  int setid_errno; /* could not become uid:gid */
  int *read_errno;
  int *write_errno;
  int *modify_errno;
};

/* Runs in a CLONE_VM|CLONE_VFORK child, on our memory and with our TLS: only raw
   system calls (glibc's setresuid would try to signal "our" other threads). Real
   ids equal the effective ones afterwards, so plain faccessat answers for them. */
static int
access_probe_child (void *data)
{
  struct access_probe *p = data;
  /* As the jailer leaves Firecracker: uid:gid and no supplementary groups. */
  if (syscall (SYS_setgroups, 0, NULL) < 0 || syscall (SYS_setresgid, p->gid, p->gid, p->gid) < 0
      || syscall (SYS_setresuid, p->uid, p->uid, p->uid) < 0)
    p->setid_errno = errno ? errno : EPERM;
  else
    for (size_t i = 0; i < p->count; i++)
      {
        if (syscall (SYS_faccessat, AT_FDCWD, p->paths[i], R_OK) < 0)
          p->read_errno[i] = errno ? errno : EACCES;
        if (syscall (SYS_faccessat, AT_FDCWD, p->paths[i], R_OK | W_OK) < 0)
          p->write_errno[i] = errno ? errno : EACCES;
        if (syscall (SYS_faccessat, AT_FDCWD, p->paths[i], W_OK) < 0)
          p->modify_errno[i] = errno ? errno : EACCES;
      }
  syscall (SYS_exit, 0);
  return 0;
}

/* Asks the kernel whether uid:gid may read, and read and write, each path, from
   one child that becomes them: a vfork-style child costs far less than fork ()
   (which copies our page tables, ~0.5 ms on a nested VM), yet still ~0.2 ms
   here, so a start checks all its files at once. Returns 0, -1 with *errno_out,
   or -2 when the child could not become uid:gid. */
static int
access_as (const char *const *paths, size_t count, uid_t uid, gid_t gid, int *read_errno, int *write_errno,
           int *modify_errno, int *errno_out)
{
  *errno_out = 0;
  memset (read_errno, 0, count * sizeof *read_errno);
  memset (write_errno, 0, count * sizeof *write_errno);
  memset (modify_errno, 0, count * sizeof *modify_errno);
  if (!privileged ())
    {
      for (size_t i = 0; i < count; i++)
        {
          if (faccessat (AT_FDCWD, paths[i], R_OK, AT_EACCESS) < 0)
            read_errno[i] = errno;
          if (faccessat (AT_FDCWD, paths[i], R_OK | W_OK, AT_EACCESS) < 0)
            write_errno[i] = errno;
          if (faccessat (AT_FDCWD, paths[i], W_OK, AT_EACCESS) < 0)
            modify_errno[i] = errno;
        }
      return 0;
    }
  struct access_probe probe = { .paths = paths,
                                .count = count,
                                .uid = uid,
                                .gid = gid,
                                .read_errno = read_errno,
                                .write_errno = write_errno,
                                .modify_errno = modify_errno };
  /* The child changes credentials of a task sharing our mm, which resets the mm's
     dumpable flag: put it back afterwards. */
  int dumpable = prctl (PR_GET_DUMPABLE);
  pid_t pid = firec_clone_vfork (access_probe_child, &probe);
  if (pid < 0)
    {
      *errno_out = errno;
      return -1;
    }
  int status;
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      break;
  if (dumpable >= 0 && prctl (PR_GET_DUMPABLE) != dumpable)
    prctl (PR_SET_DUMPABLE, dumpable);
  if (probe.setid_errno)
    {
      *errno_out = probe.setid_errno;
      return -2;
    }
  return 0;
}

/* One answer of access_as as firec_stage_can_access reports it: 1, 0 or < 0. */
static int
access_verdict (int e, int *errno_out)
{
  *errno_out = 0;
  if (e == 0)
    return 1;
  if (e == EACCES || e == EPERM)
    return 0;
  *errno_out = e;
  return -1;
}

static int
access_one (const char *path, uid_t uid, gid_t gid, bool write, int *errno_out)
{
  int read_e, write_e, modify_e;
  int r = access_as (&path, 1, uid, gid, &read_e, &write_e, &modify_e, errno_out);
  if (r < 0)
    return r;
  return access_verdict (write ? write_e : read_e, errno_out);
}

static int
access_result (int r, int e, const char *what, uid_t uid, gid_t gid, bool write, firec_error_t *err)
{
  if (r >= 0)
    return r;
  if (r == -2)
    return firec_error_set (err, e, "cannot switch to uid %u gid %u to check access to %s", (unsigned) uid,
                            (unsigned) gid, what);
  if (e == EROFS && write)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, e,
                                 "%s must be writable, but it is on a read-only filesystem", what);
  return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, e, "cannot check whether uid %u gid %u can %s %s",
                               (unsigned) uid, (unsigned) gid, write ? "read and write" : "read", what);
}

int
firec_stage_can_access (const char *host_path, uid_t uid, gid_t gid, bool write, firec_error_t *err)
{
  int e;
  int r = access_one (host_path, uid, gid, write, &e);
  return access_result (r, e, host_path, uid, gid, write, err);
}

int
firec_stage_can_access_fd (int fd, const char *what, uid_t uid, gid_t gid, bool write, firec_error_t *err)
{
  /* /proc/self/fd/N jumps straight to the inode: no directory above it counts,
     exactly as for a hard link or a bind mount inside the jail. */
  cleanup_free char *path = firec_jailfs_proc_path (fd);
  int e;
  int r = access_one (path, uid, gid, write, &e);
  return access_result (r, e, what, uid, gid, write, err);
}

int
firec_stage_check_access (const int *fds, size_t count, uid_t uid, gid_t gid, struct firec_access *ret,
                          firec_error_t *err)
{
  char **paths = firec_xcalloc (count ? count : 1, sizeof *paths);
  int *read_e = firec_xcalloc (count ? count : 1, sizeof *read_e);
  int *write_e = firec_xcalloc (count ? count : 1, sizeof *write_e);
  int *modify_e = firec_xcalloc (count ? count : 1, sizeof *modify_e);
  int rc = 0;
  for (size_t i = 0; i < count; i++)
    {
      struct stat st;
      if (fstat (fds[i], &st) < 0)
        {
          rc = firec_error_set (err, errno, "cannot stat fd %d", fds[i]);
          break;
        }
      ret[i] = (struct firec_access){ .dev = st.st_dev, .ino = st.st_ino };
      paths[i] = firec_jailfs_proc_path (fds[i]);
    }
  int e = 0;
  if (rc == 0 && count > 0)
    {
      int r = access_as ((const char *const *) paths, count, uid, gid, read_e, write_e, modify_e, &e);
      if (r < 0)
        rc = access_result (r, e, "the VM's files", uid, gid, false, err);
    }
  for (size_t i = 0; rc == 0 && i < count; i++)
    {
      ret[i].read_errno = read_e[i];
      ret[i].write_errno = write_e[i];
      ret[i].modify_errno = modify_e[i];
    }
  for (size_t i = 0; i < count; i++)
    free (paths[i]);
  free (paths);
  free (read_e);
  free (write_e);
  free (modify_e);
  return rc;
}

int
firec_stage_access_verdict (const struct firec_access *a, const char *what, uid_t uid, gid_t gid, bool write,
                            firec_error_t *err)
{
  int e;
  int r = access_verdict (write ? a->write_errno : a->read_errno, &e);
  return access_result (r, e, what, uid, gid, write, err);
}

/* The check for src_fd: a verdict found earlier for the same inode, or a new one. */
static int
can_access_src (const struct firec_stage_known *known, int src_fd, const struct stat *st, const char *what, uid_t uid,
                gid_t gid, bool write, firec_error_t *err)
{
  for (size_t i = 0; known && i < known->count; i++)
    if (known->items[i].dev == st->st_dev && known->items[i].ino == st->st_ino)
      return firec_stage_access_verdict (&known->items[i], what, uid, gid, write, err);
  return firec_stage_can_access_fd (src_fd, what, uid, gid, write, err);
}

/* ------------------------------------------------------------------ sources */

static int
open_source (const char *host_path, int *fd, struct stat *st, firec_error_t *err)
{
  *fd = open (host_path, O_PATH | O_CLOEXEC);
  if (*fd < 0)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot open %s", host_path);
  if (fstat (*fd, st) < 0)
    return firec_error_set (err, errno, "cannot stat %s", host_path);
  return 0;
}

/* A readable fd of the very inode src_fd holds (an O_PATH fd cannot be read). */
static int
reopen_source (int src_fd, const struct stat *src_st, const char *host_path, firec_error_t *err)
{
  cleanup_free char *path = firec_jailfs_proc_path (src_fd);
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && errno == ENOENT)
    {
      /* No /proc: open by name and make sure it is still the same file. */
      fd = open (host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
      struct stat st;
      if (fd >= 0 && (fstat (fd, &st) < 0 || st.st_dev != src_st->st_dev || st.st_ino != src_st->st_ino))
        {
          close (fd);
          errno = ESTALE;
          fd = -1;
        }
    }
  if (fd < 0)
    return firec_error_set (err, errno, "cannot open %s for reading", host_path);
  return fd;
}

static int
link_source (int src_fd, int parent, const char *name)
{
  cleanup_free char *path = firec_jailfs_proc_path (src_fd);
  if (linkat (AT_FDCWD, path, parent, name, AT_SYMLINK_FOLLOW) == 0)
    return 0;
  if (errno == ENOENT && access ("/proc/self/fd", F_OK) < 0)
    return linkat (src_fd, "", parent, name, AT_EMPTY_PATH);
  return -1;
}

/* ------------------------------------------------------------------ copies */

static long long
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct copy_state
{
  const char *what;
  const struct firec_stage_progress *progress; /* NULL: no reports */
  unsigned long long total;
  long long last_report_ns;
  bool no_copy_file_range;
  char *buffer;
};

static void
report (struct copy_state *c, unsigned long long done, bool final)
{
  if (c->progress == NULL || c->progress->fn == NULL)
    return;
  long long now = now_ns ();
  if (!final && now - c->last_report_ns < PROGRESS_INTERVAL_NS)
    return;
  c->last_report_ns = now;
  c->progress->fn (c->progress->data, c->what, done, c->total);
}

/* Copies [off, end) of src to the same offsets of dst. Returns the end reached
   (short when the source shrank), or -1 with errno. */
static off_t
copy_range (struct copy_state *c, int src, int dst, off_t off, off_t end)
{
  while (off < end)
    {
      off_t len = end - off < COPY_SLICE ? end - off : COPY_SLICE;
      ssize_t n = -1;
      if (!c->no_copy_file_range)
        {
          loff_t in = off, out = off;
          n = copy_file_range (src, &in, dst, &out, (size_t) len, 0);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0
              && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS || errno == EBADF
                  || errno == ETXTBSY || errno == EPERM))
            c->no_copy_file_range = true;
          else if (n < 0)
            return -1;
        }
      if (c->no_copy_file_range)
        {
          if (c->buffer == NULL)
            c->buffer = firec_xmalloc (1 << 20);
          size_t want = len < (1 << 20) ? (size_t) len : (size_t) (1 << 20);
          n = pread (src, c->buffer, want, off);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0)
            return -1;
          for (ssize_t written = 0; written < n;)
            {
              ssize_t w = pwrite (dst, c->buffer + written, (size_t) (n - written), off + written);
              if (w < 0 && errno == EINTR)
                continue;
              if (w < 0)
                return -1;
              written += w;
            }
        }
      if (n == 0)
        return off;
      off += n;
      report (c, (unsigned long long) off, false);
    }
  return off;
}

/* Only the data extents are read (SEEK_DATA/SEEK_HOLE), the holes are left as
   holes by ftruncate to the full size. */
int
firec_stage_copy_sparse (int src, int dst, off_t size, const char *what, const struct firec_stage_progress *progress)
{
  struct copy_state c = {
    .what = what,
    .progress = (unsigned long long) size > FIREC_STAGE_PROGRESS_MIN_SIZE ? progress : NULL,
    .total = (unsigned long long) size,
    .last_report_ns = now_ns (),
  };
  int rc = -1;
  if (ftruncate (dst, size) < 0)
    goto out;
  off_t off = 0;
  while (off < size)
    {
      off_t data = lseek (src, off, SEEK_DATA);
      if (data < 0 && errno == ENXIO)
        break; /* only a hole is left */
      off_t hole;
      if (data < 0 && (errno == EINVAL || errno == EOPNOTSUPP))
        {
          data = off; /* no hole support: all data */
          hole = size;
        }
      else if (data < 0)
        goto out;
      else
        {
          hole = lseek (src, data, SEEK_HOLE);
          if (hole < 0)
            hole = size;
        }
      if (data >= size)
        break;
      if (hole > size)
        hole = size;
      report (&c, (unsigned long long) data, false);
      off_t reached = copy_range (&c, src, dst, data, hole);
      if (reached < 0)
        goto out;
      if (reached < hole)
        break; /* the source shrank while we copied */
      off = hole;
    }
  report (&c, (unsigned long long) size, true);
  rc = 0;
out:;
  int e = errno;
  free (c.buffer);
  errno = e;
  return rc;
}

static bool
reflink_unsupported (int e)
{
  return e == EOPNOTSUPP || e == ENOTTY || e == EXDEV || e == EINVAL || e == ENOSYS;
}

int
firec_stage_clone (int src, int dst, off_t size, const char *what, const struct firec_stage_progress *progress)
{
  if (ioctl (dst, FICLONE, src) == 0)
    return 0;
  if (!reflink_unsupported (errno))
    return -1;
  return firec_stage_copy_sparse (src, dst, size, what, progress);
}

/* Writes a new file owned by uid:gid at name: a reflink or a sparse copy of src. */
static int
stage_new_file (int root_fd, int parent, const char *name, const char *vm_path, int src_fd, const struct stat *src_st,
                const char *host_path, bool reflink, mode_t mode, uid_t uid, gid_t gid,
                const struct firec_stage_progress *progress, firec_error_t *err)
{
  cleanup_close int in = reopen_source (src_fd, src_st, host_path, err);
  if (in < 0)
    return -1;
  cleanup_free char *tmp = NULL;
  cleanup_close int out = firec_jailfs_create_temp (parent, 0600, &tmp);
  if (out < 0)
    return firec_jailfs_error (err, errno, root_fd, vm_path, "create a temporary file next to");
  int rc = -1;
  if (reflink)
    {
      if (ioctl (out, FICLONE, in) < 0)
        {
          int e = errno;
          if (reflink_unsupported (e))
            firec_error_set (err, e,
                             "cannot reflink %s into the jail (reflinks need a filesystem that has them, such as "
                             "btrfs or xfs, shared by the file and the jail); use `staging: copy` or `auto`",
                             host_path);
          else
            firec_error_set (err, e, "cannot reflink %s into the jail", host_path);
          goto out;
        }
    }
  else if (firec_stage_copy_sparse (in, out, src_st->st_size, host_path, progress) < 0)
    {
      firec_error_set (err, errno, "cannot copy %s into the jail", host_path);
      goto out;
    }
  if (firec_jailfs_chown (out, uid, gid) < 0)
    {
      firec_error_set (err, errno, "cannot chown the copy of %s to %u:%u", host_path, (unsigned) uid, (unsigned) gid);
      goto out;
    }
  if (fchmod (out, mode) < 0)
    {
      firec_error_set (err, errno, "cannot chmod the copy of %s", host_path);
      goto out;
    }
  if (commit_temp (root_fd, parent, tmp, name, vm_path, err) < 0)
    goto out;
  rc = 0;
out:
  if (rc < 0)
    unlinkat (parent, tmp, 0);
  return rc;
}

/* ------------------------------------------------------------------ bind mounts */

/* why: the reason a hard link did not do, for the error message. */
static int
stage_bind (int root_fd, int parent, const char *name, const char *vm_path, int src_fd, const char *host_path,
            const char *why, firec_error_t *err)
{
  /* The placeholder is empty, so a crash leaves nothing half-written; a mount
     point cannot be renamed, hence no temporary name here. */
  cleanup_close int target = firec_jailfs_open_component (parent, name, O_RDWR | O_CREAT | O_EXCL, 0600, false, NULL);
  if (target < 0)
    {
      if (errno == EEXIST)
        return check_name_free (root_fd, parent, name, vm_path, err) < 0
                   ? -1
                   : firec_error_set (err, EEXIST, "%s appeared in the VM root while staging", vm_path);
      return firec_jailfs_error (err, errno, root_fd, vm_path, "create the mount point");
    }
  cleanup_free char *source = firec_jailfs_proc_path (src_fd);
  cleanup_free char *target_path = firec_jailfs_proc_path (target);
  if (mount (source, target_path, NULL, MS_BIND, NULL) == 0)
    return 0;
  int e = errno;
  unlinkat (parent, name, 0);
  if (e == EPERM)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, e,
                                 "%s %s, so it has to be bind-mounted into the jail, which needs CAP_SYS_ADMIN "
                                 "(run as root); or put it on the jail's filesystem (chroot_base_dir), where a hard "
                                 "link does",
                                 host_path, why);
  return firec_error_set (err, e, "cannot bind-mount %s into the jail as %s", host_path, vm_path);
}

/* ------------------------------------------------------------------ output files */

/* A new, empty output file at host_path that is uid:gid's, 0640, from the
   instant its name appears (O_TMPFILE, then linkat): whenever firec-run dies, a
   new output of ours is an empty file of the VM's uid, which is how the
   teardown tells it from a user's file (teardown.c). A filesystem without
   O_TMPFILE gets O_EXCL, then chown: there the teardown also takes an empty
   file of firec-run's own uid. -1 with errno (EEXIST: the name is taken). */
static int
create_owned (const char *host_path, uid_t uid, gid_t gid)
{
  const char *slash = strrchr (host_path, '/');
  cleanup_free char *dir = slash && slash != host_path ? firec_xstrndup (host_path, (size_t) (slash - host_path))
                                                       : firec_xstrdup (slash ? "/" : ".");
  cleanup_close int fd = open (dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0640);
  bool tmpfile = fd >= 0;
  if (!tmpfile && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return -1;
  if (!tmpfile)
    fd = open (host_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0)
    return -1;
  /* Ours, not the user's: it may be given to the jail's ids. */
  if (firec_jailfs_chown (fd, uid, gid) < 0 || fchmod (fd, 0640) < 0)
    {
      int e = errno;
      if (!tmpfile)
        unlink (host_path);
      errno = e;
      return -1;
    }
  if (!tmpfile)
    return steal_fd (&fd);
  cleanup_free char *proc = firec_jailfs_proc_path (fd);
  if (linkat (AT_FDCWD, proc, AT_FDCWD, host_path, AT_SYMLINK_FOLLOW) < 0
      && (errno != ENOENT || linkat (fd, "", AT_FDCWD, host_path, AT_EMPTY_PATH) < 0))
    return -1;
  /* An fd of the name (a bind mount of the unnamed one is refused), checked to
     be the file just linked. */
  int named = open (host_path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  struct stat a, b;
  if (named >= 0 && (fstat (fd, &a) < 0 || fstat (named, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino))
    {
      close (named);
      errno = ESTALE;
      return -1;
    }
  return named;
}

static int
open_output (const char *host_path, uid_t uid, gid_t gid, int *fd_out, struct stat *st, bool *created,
             firec_error_t *err)
{
  *created = false;
  *fd_out = -1;
  cleanup_close int fd = create_owned (host_path, uid, gid);
  if (fd >= 0)
    {
      if (fstat (fd, st) < 0)
        return firec_error_set (err, errno, "cannot stat the new output file %s", host_path);
      *created = true;
      *fd_out = steal_fd (&fd);
      return 0;
    }
  if (errno == EPERM || errno == EINVAL)
    return firec_error_set (err, errno, "cannot give the new output file %s to %u:%u", host_path, (unsigned) uid,
                            (unsigned) gid);
  if (errno != EEXIST)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot create the output file %s", host_path);
  /* Only a FIFO is used as it is: Firecracker writes an output from its first
     byte, so an existing file is moved aside before (output.h), and one here
     now is not ours to give it. */
  if (open_source (host_path, &fd, st, err) < 0)
    return -1;
  if (!S_ISFIFO (st->st_mode))
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, EEXIST,
                                 "the output file %s exists: Firecracker would write over it from its first byte, so "
                                 "only a new file (or a FIFO) is given to it",
                                 host_path);
  int r = firec_stage_can_access_fd (fd, host_path, uid, gid, true, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "the output file %s exists but uid %u gid %u (Firecracker in the jail) cannot read "
                                 "and write it: chown %u:%u %s, or grant it with an ACL (setfacl -m u:%u:rw %s), or "
                                 "remove it so that firec-run creates it",
                                 host_path, (unsigned) uid, (unsigned) gid, (unsigned) uid, (unsigned) gid, host_path,
                                 (unsigned) uid, host_path);
  *fd_out = steal_fd (&fd);
  return 0;
}

int
firec_stage_prepare_output (const char *host_path, uid_t uid, gid_t gid, bool *created, firec_error_t *err)
{
  cleanup_close int fd = -1;
  struct stat st;
  return open_output (host_path, uid, gid, &fd, &st, created, err);
}

/* Removes an output file this call created, if it is still that file. */
static void
remove_created_output (const char *host_path, const struct stat *st)
{
  struct stat now;
  if (lstat (host_path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino)
    unlink (host_path);
}

/* ------------------------------------------------------------------ staging */

static int
error_not_readable (const char *host_path, uid_t uid, gid_t gid, firec_error_t *err)
{
  return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                               "%s is not readable by uid %u gid %u (Firecracker in the jail), so it cannot be "
                               "hard-linked into the jail: make it readable (chmod o+r %s, or an ACL: setfacl -m "
                               "u:%u:r %s), or set `staging: copy` for it",
                               host_path, (unsigned) uid, (unsigned) gid, host_path, (unsigned) uid, host_path);
}

static int
error_not_writable (const char *host_path, uid_t uid, gid_t gid, firec_error_t *err)
{
  return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                               "%s is a writable drive, but uid %u gid %u (Firecracker in the jail) cannot read and "
                               "write it: chown %u:%u %s, or grant it with an ACL (setfacl -m u:%u:rw %s), or set "
                               "`staging: copy` for it (the drive then becomes ephemeral: the guest's writes are "
                               "lost when the VM is removed)",
                               host_path, (unsigned) uid, (unsigned) gid, (unsigned) uid, (unsigned) gid, host_path,
                               (unsigned) uid, host_path);
}

static int
error_link_exdev (const char *host_path, firec_error_t *err)
{
  return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, EXDEV,
                               "%s cannot be hard-linked into the jail: it is on another filesystem than the jail's "
                               "chroot_base_dir; use `staging: auto`, `copy` or `reflink`, or put both on one "
                               "filesystem",
                               host_path);
}

/* Hard-links src_fd into the jail as name: 1 done; 0 not possible, *link_errno
   says why (the caller decides what it falls back to); -1 when the name was
   taken meanwhile (an error set). */
static int
try_hard_link (int root_fd, int parent, const char *name, const struct firec_file *file, int src_fd, int *link_errno,
               firec_error_t *err)
{
  if (link_source (src_fd, parent, name) == 0)
    return 1;
  *link_errno = errno;
  if (*link_errno != EEXIST)
    return 0;
  if (check_name_free (root_fd, parent, name, file->vm_path, err) == 0)
    firec_error_set (err, EEXIST, "%s appeared in the VM root while staging", file->vm_path);
  return -1;
}

/* Writable in place (writable drives, outputs): the guest's writes must reach the
   user's file, so a hard link, else a bind mount. */
static int
stage_in_place (int root_fd, int parent, const char *name, const struct firec_file *file, int src_fd,
                enum firec_stage_method *method, firec_error_t *err)
{
  int e;
  int linked = try_hard_link (root_fd, parent, name, file, src_fd, &e, err);
  if (linked < 0)
    return -1;
  if (linked > 0)
    {
      *method = FIREC_STAGED_LINK;
      return 0;
    }
  /* EPERM: fs.protected_hardlinks for an unprivileged caller. */
  if (e != EXDEV && e != EMLINK && e != EPERM)
    return firec_error_set (err, e, "cannot hard-link %s into the jail as %s", file->host_path, file->vm_path);
  const char *why = e == EXDEV    ? "is on another filesystem than the jail"
                    : e == EMLINK ? "has too many hard links already"
                                  : "cannot be hard-linked by this user (fs.protected_hardlinks)";
  if (stage_bind (root_fd, parent, name, file->vm_path, src_fd, file->host_path, why, err) < 0)
    return -1;
  *method = FIREC_STAGED_BIND;
  return 0;
}

/* Only a mode that lets someone besides the owner write is asked of the
   kernel (with an ACL, the group bits are its mask). */
int
firec_stage_vm_may_modify (const struct firec_stage_known *known, int src_fd, const struct stat *st, uid_t uid,
                           gid_t gid, firec_error_t *err)
{
  if (st->st_uid == uid)
    return 1;
  if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
    return 0;
  for (size_t i = 0; known && i < known->count; i++)
    if (known->items[i].dev == st->st_dev && known->items[i].ino == st->st_ino)
      return known->items[i].modify_errno == 0;
  struct firec_access a;
  if (firec_stage_check_access (&src_fd, 1, uid, gid, &a, err) < 0)
    return -1;
  return a.modify_errno == 0;
}

static int
error_vm_writes_input (const char *host_path, uid_t uid, gid_t gid, bool regular, firec_error_t *err)
{
  return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                               "%s is read-only for the VM but writable by the VM's uid %u gid %u: linked into the "
                               "jail, the VM could change it; take that write access away (chown, chmod go-w)%s",
                               host_path, (unsigned) uid, (unsigned) gid,
                               regular ? ", or set `staging: copy` or `auto` for it" : "");
}

static int
stage_read_only (int root_fd, int parent, const char *name, const struct firec_file *file, int src_fd,
                 const struct firec_stage_known *known, const struct stat *st, uid_t uid, gid_t gid,
                 const struct firec_stage_progress *progress, enum firec_stage_method *method, firec_error_t *err)
{
  bool regular = S_ISREG (st->st_mode);
  bool try_link = false, try_reflink = false, try_copy = false;
  switch (file->mode)
    {
    case FIREC_STAGING_LINK:
      try_link = true;
      break;
    case FIREC_STAGING_REFLINK:
      try_reflink = true;
      break;
    case FIREC_STAGING_COPY:
      try_copy = true;
      break;
    case FIREC_STAGING_AUTO:
      try_link = try_reflink = try_copy = true;
      break;
    }
  if (!regular && (try_reflink || try_copy) && !try_link)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s is not a regular file: it can only be staged with `staging: link` or `auto`",
                                 file->host_path);
  if (try_link)
    {
      int writable = firec_stage_vm_may_modify (known, src_fd, st, uid, gid, err);
      if (writable < 0)
        return -1;
      if (writable && (file->mode == FIREC_STAGING_LINK || !regular))
        return error_vm_writes_input (file->host_path, uid, gid, regular, err);
      try_link = !writable; /* auto: a reflink or a copy of it instead */
    }
  if (try_link)
    {
      int readable = can_access_src (known, src_fd, st, file->host_path, uid, gid, false, err);
      if (readable < 0)
        return -1;
      if (!readable && (file->mode == FIREC_STAGING_LINK || !regular))
        return error_not_readable (file->host_path, uid, gid, err);
      if (readable)
        {
          if (!regular)
            return stage_in_place (root_fd, parent, name, file, src_fd, method, err);
          int e;
          int linked = try_hard_link (root_fd, parent, name, file, src_fd, &e, err);
          if (linked < 0)
            return -1;
          if (linked > 0)
            {
              *method = FIREC_STAGED_LINK;
              return 0;
            }
          if (file->mode == FIREC_STAGING_LINK)
            return e == EXDEV ? error_link_exdev (file->host_path, err)
                              : firec_error_set (err, e, "cannot hard-link %s into the jail", file->host_path);
          if (e != EXDEV && e != EMLINK && e != EPERM)
            return firec_error_set (err, e, "cannot hard-link %s into the jail", file->host_path);
        }
    }
  if (try_reflink)
    {
      cleanup_error firec_error_t reflink_err = NULL;
      if (stage_new_file (root_fd, parent, name, file->vm_path, src_fd, st, file->host_path, true, 0400, uid, gid, NULL,
                          &reflink_err)
          == 0)
        {
          *method = FIREC_STAGED_REFLINK;
          return 0;
        }
      if (!try_copy || reflink_err == NULL || !reflink_unsupported (reflink_err->errno_value))
        {
          if (err && *err == NULL)
            *err = steal_pointer (&reflink_err);
          return -1;
        }
    }
  if (stage_new_file (root_fd, parent, name, file->vm_path, src_fd, st, file->host_path, false, 0400, uid, gid,
                      progress, err)
      < 0)
    return -1;
  *method = FIREC_STAGED_COPY;
  return 0;
}

static int
stage_writable (int root_fd, int parent, const char *name, const struct firec_file *file, int src_fd,
                const struct firec_stage_known *known, const struct stat *st, uid_t uid, gid_t gid,
                const struct firec_stage_progress *progress, enum firec_stage_method *method, firec_error_t *err)
{
  bool ephemeral_reflink = false;
  switch (file->mode)
    {
    case FIREC_STAGING_AUTO:
    case FIREC_STAGING_LINK:
      {
        int ok = can_access_src (known, src_fd, st, file->host_path, uid, gid, true, err);
        if (ok < 0)
          return -1;
        if (!ok)
          return error_not_writable (file->host_path, uid, gid, err);
        return stage_in_place (root_fd, parent, name, file, src_fd, method, err);
      }
    case FIREC_STAGING_REFLINK:
      ephemeral_reflink = true;
      break;
    case FIREC_STAGING_COPY:
      break;
    }
  if (!S_ISREG (st->st_mode))
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s is not a regular file: it cannot be copied; use `staging: link` or `auto`",
                                 file->host_path);
  if (stage_new_file (root_fd, parent, name, file->vm_path, src_fd, st, file->host_path, ephemeral_reflink, 0600, uid,
                      gid, progress, err)
      < 0)
    return -1;
  *method = ephemeral_reflink ? FIREC_STAGED_REFLINK : FIREC_STAGED_COPY;
  return 0;
}

/* The input to stage, of a type its role reads: given_fd (what preflight
   checked), or host_path opened now (given_fd -1). */
static int
open_input (const struct firec_file *file, int given_fd, int *fd, struct stat *st, firec_error_t *err)
{
  if (given_fd < 0 && open_source (file->host_path, fd, st, err) < 0)
    return -1;
  if (given_fd >= 0 && ((*fd = fcntl (given_fd, F_DUPFD_CLOEXEC, 3)) < 0 || fstat (*fd, st) < 0))
    return firec_error_set (err, errno, "cannot use %s", file->host_path);
  bool device = file->role == FIREC_FILE_DRIVE || file->role == FIREC_FILE_PMEM;
  if (file->role == FIREC_FILE_UFFD_SOCKET)
    {
      if (!S_ISSOCK (st->st_mode))
        return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s is not a Unix socket", file->host_path);
    }
  else if (!S_ISREG (st->st_mode) && !(device && S_ISBLK (st->st_mode)))
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s is not a regular file", file->host_path);
  return 0;
}

int
firec_stage_input (int root_fd, const struct firec_file *file, int src, uid_t uid, gid_t gid,
                   const struct firec_stage_known *known, const struct firec_stage_progress *progress,
                   struct firec_staged *ret, firec_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  const struct firec_jailfs_mkdir mk = { 0700, uid, gid };
  cleanup_close int parent = -1;
  cleanup_free char *name = NULL;
  if (firec_jailfs_open_parent (root_fd, file->vm_path, FIREC_JAILFS_MKDIR | FIREC_JAILFS_NO_XDEV, &mk, &parent, &name,
                                err)
      < 0)
    return -1;
  if (check_name_free (root_fd, parent, name, file->vm_path, err) < 0)
    return -1;

  cleanup_close int src_fd = -1;
  struct stat st;
  bool created = false;
  if (file->output ? open_output (file->host_path, uid, gid, &src_fd, &st, &created, err) < 0
                   : open_input (file, src, &src_fd, &st, err) < 0)
    return -1;

  enum firec_stage_method method = FIREC_STAGED_LINK;
  int rc;
  if (file->output)
    rc = stage_in_place (root_fd, parent, name, file, src_fd, &method, err);
  else if (file->writable)
    rc = stage_writable (root_fd, parent, name, file, src_fd, known, &st, uid, gid, progress, &method, err);
  else
    rc = stage_read_only (root_fd, parent, name, file, src_fd, known, &st, uid, gid, progress, &method, err);
  if (rc < 0)
    {
      if (created)
        remove_created_output (file->host_path, &st);
      return -1;
    }
  ret->method = method;
  ret->vm_path = firec_xstrdup (file->vm_path);
  ret->host_path = firec_xstrdup (file->host_path);
  ret->created_host_output = created;
  return 0;
}

int
firec_stage_file (int root_fd, const struct firec_file *file, uid_t uid, gid_t gid,
                  const struct firec_stage_known *known, const struct firec_stage_progress *progress,
                  struct firec_staged *ret, firec_error_t *err)
{
  return firec_stage_input (root_fd, file, -1, uid, gid, known, progress, ret, err);
}

int
firec_stage_unstage (int root_fd, const struct firec_staged *staged, firec_error_t *err)
{
  cleanup_close int parent = -1;
  cleanup_free char *name = NULL;
  if (firec_jailfs_open_parent (root_fd, staged->vm_path, FIREC_JAILFS_MISSING_OK | FIREC_JAILFS_NO_XDEV, NULL, &parent,
                                &name, err)
      < 0)
    return -1;
  if (parent < 0)
    return 0; /* its directory is gone: so is the file */
  if (staged->method == FIREC_STAGED_BIND)
    {
      struct stat st;
      cleanup_close int target = firec_jailfs_open_component (parent, name, O_PATH, 0, false, &st);
      if (target < 0 && errno == ENOENT)
        return 0;
      /* A symlink cannot be a mount point of ours: nothing to unmount there. */
      if (target < 0 && errno != ELOOP)
        return firec_jailfs_error (err, errno, root_fd, staged->vm_path, "open the mount point");
      if (target >= 0)
        {
          cleanup_free char *path = firec_jailfs_proc_path (target);
          if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL)
            return firec_error_set (err, errno, "cannot unmount %s (the bind mount of %s) in the jail", staged->vm_path,
                                    staged->host_path ? staged->host_path : "?");
        }
    }
  if (unlinkat (parent, name, 0) < 0 && errno != ENOENT)
    return firec_jailfs_error (err, errno, root_fd, staged->vm_path, "remove");
  return 0;
}

/* ------------------------------------------------------------------ the jail root */

static char *
strip_trailing_slashes (const char *path)
{
  char *s = firec_xstrdup (path);
  size_t n = strlen (s);
  while (n > 1 && s[n - 1] == '/')
    s[--n] = '\0';
  return s;
}

/* Creates rel (a path below the new jail directory, or "") fd-relative, 0700. */
static int
open_vm_root (const char *jail, const char *rel, int *root_fd, firec_error_t *err)
{
  cleanup_close int jail_fd = open (jail, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (jail_fd < 0)
    return firec_error_set (err, errno, "cannot open the jail directory %s", jail);
  return firec_jailfs_open_dir (jail_fd, *rel ? rel : "/", FIREC_JAILFS_MKDIR | FIREC_JAILFS_NO_XDEV, NULL, root_fd,
                                err);
}

int
firec_stage_make_root (const char *jail_dir, const char *vm_root, int *root_fd, firec_error_t *err)
{
  *root_fd = -1;
  if (jail_dir == NULL || jail_dir[0] != '/' || vm_root == NULL)
    return firec_error_set (err, EINVAL, "the jail directory %s must be an absolute path",
                            jail_dir ? jail_dir : "(null)");
  cleanup_free char *jail = strip_trailing_slashes (jail_dir);
  cleanup_free char *root = strip_trailing_slashes (vm_root);
  size_t jail_len = strlen (jail);
  if (strcmp (jail, "/") == 0)
    return firec_error_set (err, EINVAL, "the jail directory must not be /");
  if (strncmp (root, jail, jail_len) != 0 || (root[jail_len] != '\0' && root[jail_len] != '/'))
    return firec_error_set (err, EINVAL, "the VM root %s is not inside the jail directory %s", vm_root, jail_dir);

  /* The parents are the host's: symlinks in them are the administrator's choice. */
  for (char *p = strchr (jail + 1, '/'); p; p = strchr (p + 1, '/'))
    {
      *p = '\0';
      if (mkdir (jail, 0755) == 0)
        chmod (jail, 0755); /* whatever the umask */
      else
        {
          struct stat st;
          int e = errno;
          if (e == EEXIST)
            e = stat (jail, &st) < 0 ? errno : S_ISDIR (st.st_mode) ? 0 : ENOTDIR;
          if (e)
            {
              firec_error_set_kind (err, FIREC_ERR_PRECONDITION, e, "cannot create the directory %s", jail);
              *p = '/';
              return -1;
            }
        }
      *p = '/';
    }
  if (mkdir (jail, 0755) < 0)
    {
      if (errno == EEXIST)
        {
          /* Preflight found none: another run made it meanwhile, or it is
             left from one that crashed since. */
          firec_error_set_errno (err, EEXIST,
                                 "the jail directory %s appeared since preflight: another run of a VM of that name "
                                 "made it, or left it",
                                 jail);
          firec_error_reclassify (err, FIREC_ERR_PRECONDITION);
          return -1;
        }
      return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot create the jail directory %s", jail);
    }
  chmod (jail, 0755);
  if (open_vm_root (jail, root + jail_len, root_fd, err) < 0)
    {
      /* Ours since the mkdir above: leave nothing half-made. */
      cleanup_error firec_error_t ignored = NULL;
      firec_stage_remove_tree (jail, &ignored);
      return -1;
    }
  return 0;
}

/* ------------------------------------------------------------------ removal */

int
firec_stage_remove_tree (const char *jail_dir, firec_error_t *err)
{
  return firec_jailfs_remove_tree (jail_dir, err);
}
