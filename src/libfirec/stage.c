#include "config.h"

#include "stage.h"
#include "process.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>
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
#define REMOVE_MAX_DEPTH 1024

static bool openat2_disabled_for_tests;
static bool openat2_missing;

void
firec_stage_test_disable_openat2 (bool disable)
{
  openat2_disabled_for_tests = disable;
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

/* Unprivileged runs (the test doubles) own everything they create already; a
   chown to other ids can only fail there, and is not needed. */
static int
chown_fd (int fd, uid_t uid, gid_t gid)
{
  if (fchownat (fd, "", uid, gid, AT_EMPTY_PATH) == 0)
    return 0;
  if (errno == EPERM && !privileged ())
    return 0;
  return -1;
}

static char *
proc_fd_path (int fd)
{
  return firec_xasprintf ("/proc/self/fd/%d", fd);
}

/* The host path of an fd, for messages only. */
static char *
fd_path_for_messages (int fd)
{
  cleanup_free char *link = proc_fd_path (fd);
  char buf[PATH_MAX];
  ssize_t n = readlink (link, buf, sizeof buf - 1);
  if (n <= 0)
    return firec_xstrdup ("<VM root>");
  buf[n] = '\0';
  return firec_xstrdup (buf);
}

/* ------------------------------------------------------------------ fd-relative walk */

/* O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR; say what it is. Returns -1. */
static int
symlink_means_eloop (int dirfd, const char *name)
{
  int e = errno;
  struct stat st;
  if (e == ENOTDIR && fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK (st.st_mode))
    e = ELOOP;
  errno = e;
  return -1;
}

/* Opens one path component (no '/') of the jail below dirfd: never follows a
   symlink (ELOOP), never leaves dirfd, and with no_xdev never enters another
   mount (EXDEV). openat2 does it in the kernel; without it (ENOSYS) O_NOFOLLOW
   plus an fstat check does the same for a single component. */
static int
open_component (int dirfd, const char *name, int flags, mode_t mode, bool no_xdev, struct stat *st_out)
{
  flags |= O_CLOEXEC | O_NOFOLLOW;
  if (strchr (name, '/') != NULL || strcmp (name, ".") == 0 || strcmp (name, "..") == 0 || name[0] == '\0')
    {
      errno = EINVAL;
      return -1;
    }
  cleanup_close int fd = -1;
  if (!openat2_disabled_for_tests && !openat2_missing)
    {
      struct open_how how = {
        .flags = (uint64_t) flags,
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | (no_xdev ? RESOLVE_NO_XDEV : 0),
      };
      fd = (int) syscall (SYS_openat2, dirfd, name, &how, sizeof how);
      if (fd < 0 && errno == ENOSYS)
        openat2_missing = true;
      else if (fd < 0)
        return symlink_means_eloop (dirfd, name);
    }
  if (fd < 0)
    {
      fd = openat (dirfd, name, flags, mode);
      if (fd < 0)
        return symlink_means_eloop (dirfd, name);
    }
  /* O_PATH|O_NOFOLLOW hands back the symlink itself, with openat2 too. */
  struct stat st;
  if (fstat (fd, &st) < 0)
    return -1;
  if (S_ISLNK (st.st_mode))
    {
      errno = ELOOP;
      return -1;
    }
  if (no_xdev)
    {
      struct stat parent;
      if (fstat (dirfd, &parent) < 0)
        return -1;
      if (parent.st_dev != st.st_dev)
        {
          errno = EXDEV;
          return -1;
        }
    }
  if (st_out)
    *st_out = st;
  return steal_fd (&fd);
}

static int
jail_error (firec_error_t *err, int errno_value, int root_fd, const char *shown, const char *what)
{
  cleanup_free char *root = fd_path_for_messages (root_fd);
  switch (errno_value)
    {
    case ELOOP:
      return firec_error_set (err, ELOOP,
                              "%s%s (in the VM root) is a symbolic link: refusing to follow it, since a link "
                              "planted in the jail could redirect the write to the host",
                              root, shown);
    case EXDEV:
      return firec_error_set (err, EXDEV, "%s%s (in the VM root) is on another mount: refusing to enter it", root,
                              shown);
    case ENOTDIR:
      return firec_error_set (err, ENOTDIR, "%s%s (in the VM root) is not a directory", root, shown);
    default:
      return firec_error_set (err, errno_value, "cannot %s %s%s in the VM root", what, root, shown);
    }
}

struct vm_path_parts
{
  char *copy;
  char **names;
  size_t count;
};

static void
vm_path_parts_release (struct vm_path_parts *p)
{
  free (p->copy);
  free (p->names);
}
#define cleanup_parts __attribute__ ((cleanup (vm_path_parts_release)))

static int
split_vm_path (const char *vm_path, struct vm_path_parts *parts, firec_error_t *err)
{
  memset (parts, 0, sizeof *parts);
  if (vm_path == NULL || vm_path[0] != '/')
    return firec_error_set (err, EINVAL, "the path in the VM root %s must be absolute", vm_path ? vm_path : "(null)");
  parts->copy = firec_xstrdup (vm_path);
  parts->names = firec_xcalloc (strlen (vm_path) + 1, sizeof *parts->names);
  char *save = NULL;
  for (char *t = strtok_r (parts->copy, "/", &save); t; t = strtok_r (NULL, "/", &save))
    {
      if (strcmp (t, ".") == 0 || strcmp (t, "..") == 0)
        return firec_error_set (err, EINVAL, "the path in the VM root %s must not contain \".\" or \"..\"", vm_path);
      parts->names[parts->count++] = t;
    }
  if (parts->count == 0)
    return firec_error_set (err, EINVAL, "the path in the VM root %s names no file", vm_path);
  return 0;
}

/* Opens the directory that holds the last component of vm_path, creating the
   missing ones (0700, owned by uid:gid) when create is true. With create false a
   missing directory is reported as *parent_fd = -1 and success. */
static int
open_parent_dir (int root_fd, const char *vm_path, bool create, bool no_xdev, uid_t uid, gid_t gid, int *parent_fd,
                 char **name, firec_error_t *err)
{
  *parent_fd = -1;
  *name = NULL;
  cleanup_parts struct vm_path_parts parts;
  if (split_vm_path (vm_path, &parts, err) < 0)
    return -1;
  cleanup_close int cur = fcntl (root_fd, F_DUPFD_CLOEXEC, 3);
  if (cur < 0)
    return firec_error_set (err, errno, "cannot duplicate the VM root fd");
  struct firec_buf shown = { 0 };
  for (size_t i = 0; i + 1 < parts.count; i++)
    {
      firec_buf_printf (&shown, "/%s", parts.names[i]);
      int fd = open_component (cur, parts.names[i], O_PATH | O_DIRECTORY, 0, no_xdev, NULL);
      if (fd < 0 && errno == ENOENT && create)
        {
          bool made = mkdirat (cur, parts.names[i], 0700) == 0;
          if (!made && errno != EEXIST)
            {
              int e = errno;
              jail_error (err, e, root_fd, shown.data, "create the directory");
              firec_buf_release (&shown);
              return -1;
            }
          fd = open_component (cur, parts.names[i], O_PATH | O_DIRECTORY, 0, no_xdev, NULL);
          if (fd >= 0 && made && chown_fd (fd, uid, gid) < 0)
            {
              int e = errno;
              close (fd);
              jail_error (err, e, root_fd, shown.data, "chown the directory");
              firec_buf_release (&shown);
              return -1;
            }
        }
      if (fd < 0 && errno == ENOENT && !create)
        {
          firec_buf_release (&shown);
          *name = firec_xstrdup (parts.names[parts.count - 1]);
          return 0;
        }
      if (fd < 0)
        {
          int e = errno;
          jail_error (err, e, root_fd, shown.data, "open the directory");
          firec_buf_release (&shown);
          return -1;
        }
      close (cur);
      cur = fd;
    }
  firec_buf_release (&shown);
  *name = firec_xstrdup (parts.names[parts.count - 1]);
  *parent_fd = steal_fd (&cur);
  return 0;
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
        return jail_error (err, ELOOP, root_fd, vm_path, "stage");
      cleanup_free char *root = fd_path_for_messages (root_fd);
      return firec_error_set (err, EEXIST, "%s%s already exists in the VM root (two files staged at the same path?)",
                              root, vm_path);
    }
  if (errno != ENOENT)
    return jail_error (err, errno, root_fd, vm_path, "inspect");
  return 0;
}

/* A temporary name in the target directory: the data is written there and then
   renamed into place, so a crash never leaves a half-written file under the
   final name. */
static int
create_temp (int parent, mode_t mode, char **tmp_name)
{
  static unsigned counter;
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  for (int attempt = 0; attempt < 100; attempt++)
    {
      cleanup_free char *tmp = firec_xasprintf (".firec-tmp-%ld-%u-%lx", (long) getpid (), counter++,
                                                (unsigned long) ts.tv_nsec ^ (unsigned long) attempt * 2654435761UL);
      int fd = open_component (parent, tmp, O_RDWR | O_CREAT | O_EXCL, mode, false, NULL);
      if (fd >= 0)
        {
          *tmp_name = steal_pointer (&tmp);
          return fd;
        }
      if (errno != EEXIST)
        return -1;
    }
  errno = EEXIST;
  return -1;
}

static int
commit_temp (int root_fd, int parent, const char *tmp, const char *name, const char *vm_path, firec_error_t *err)
{
  if (renameat2 (parent, tmp, parent, name, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno == EINVAL || errno == ENOSYS)
    {
      /* No RENAME_NOREPLACE on this filesystem: link(2) never replaces either. */
      if (linkat (parent, tmp, parent, name, 0) == 0)
        {
          unlinkat (parent, tmp, 0);
          return 0;
        }
    }
  int e = errno;
  if (e == EEXIST)
    return check_name_free (root_fd, parent, name, vm_path, err) < 0
               ? -1
               : firec_error_set (err, EEXIST, "cannot rename the staged file into place as %s", vm_path);
  return jail_error (err, e, root_fd, vm_path, "rename the staged file into place as");
}

/* ------------------------------------------------------------------ access checks */

/* What access_as's child reads and writes: it shares our memory. For each path,
   the errno of faccessat for R_OK and for R_OK|W_OK (0: allowed). */
struct access_probe
{
  const char *const *paths;
  size_t count;
  uid_t uid;
  gid_t gid;
  int setid_errno; /* could not become uid:gid */
  int *read_errno;
  int *write_errno;
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
           int *errno_out)
{
  *errno_out = 0;
  memset (read_errno, 0, count * sizeof *read_errno);
  memset (write_errno, 0, count * sizeof *write_errno);
  if (!privileged ())
    {
      for (size_t i = 0; i < count; i++)
        {
          if (faccessat (AT_FDCWD, paths[i], R_OK, AT_EACCESS) < 0)
            read_errno[i] = errno;
          if (faccessat (AT_FDCWD, paths[i], R_OK | W_OK, AT_EACCESS) < 0)
            write_errno[i] = errno;
        }
      return 0;
    }
  struct access_probe probe = { .paths = paths, .count = count, .uid = uid, .gid = gid,
                                .read_errno = read_errno, .write_errno = write_errno };
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
  int read_e, write_e;
  int r = access_as (&path, 1, uid, gid, &read_e, &write_e, errno_out);
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
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, e, "%s must be writable, but it is on a read-only filesystem",
                                 what);
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
  cleanup_free char *path = proc_fd_path (fd);
  int e;
  int r = access_one (path, uid, gid, write, &e);
  return access_result (r, e, what, uid, gid, write, err);
}

int
firec_stage_check_access (const int *fds, size_t count, uid_t uid, gid_t gid, struct firec_access *out,
                          firec_error_t *err)
{
  char **paths = firec_xcalloc (count ? count : 1, sizeof *paths);
  int *read_e = firec_xcalloc (count ? count : 1, sizeof *read_e);
  int *write_e = firec_xcalloc (count ? count : 1, sizeof *write_e);
  int rc = 0;
  for (size_t i = 0; i < count; i++)
    {
      struct stat st;
      if (fstat (fds[i], &st) < 0)
        {
          rc = firec_error_set (err, errno, "cannot stat fd %d", fds[i]);
          break;
        }
      out[i] = (struct firec_access){ .dev = st.st_dev, .ino = st.st_ino };
      paths[i] = proc_fd_path (fds[i]);
    }
  int e = 0;
  if (rc == 0 && count > 0)
    {
      int r = access_as ((const char *const *) paths, count, uid, gid, read_e, write_e, &e);
      if (r < 0)
        rc = access_result (r, e, "the VM's files", uid, gid, false, err);
    }
  for (size_t i = 0; rc == 0 && i < count; i++)
    {
      out[i].read_errno = read_e[i];
      out[i].write_errno = write_e[i];
    }
  for (size_t i = 0; i < count; i++)
    free (paths[i]);
  free (paths);
  free (read_e);
  free (write_e);
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
can_access_src (const struct firec_stage_known *known, int src_fd, const struct stat *st, const char *what,
                uid_t uid, gid_t gid, bool write, firec_error_t *err)
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
  cleanup_free char *path = proc_fd_path (src_fd);
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
  cleanup_free char *path = proc_fd_path (src_fd);
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

/* A sparse-aware copy: only the data extents are read (SEEK_DATA/SEEK_HOLE), the
   holes are left as holes by ftruncate to the full size. */
static int
copy_sparse (int src, int dst, off_t size, const char *what, const struct firec_stage_progress *progress)
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

/* Writes a new file owned by uid:gid at name: a reflink or a sparse copy of src. */
static int
stage_new_file (int root_fd, int parent, const char *name, const char *vm_path, int src_fd,
                const struct stat *src_st, const char *host_path, bool reflink, mode_t mode, uid_t uid, gid_t gid,
                const struct firec_stage_progress *progress, firec_error_t *err)
{
  cleanup_close int in = reopen_source (src_fd, src_st, host_path, err);
  if (in < 0)
    return -1;
  cleanup_free char *tmp = NULL;
  cleanup_close int out = create_temp (parent, 0600, &tmp);
  if (out < 0)
    return jail_error (err, errno, root_fd, vm_path, "create a temporary file next to");
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
  else if (copy_sparse (in, out, src_st->st_size, host_path, progress) < 0)
    {
      firec_error_set (err, errno, "cannot copy %s into the jail", host_path);
      goto out;
    }
  if (chown_fd (out, uid, gid) < 0)
    {
      firec_error_set (err, errno, "cannot chown the copy of %s to %u:%u", host_path, (unsigned) uid,
                       (unsigned) gid);
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
  cleanup_close int target = open_component (parent, name, O_RDWR | O_CREAT | O_EXCL, 0600, false, NULL);
  if (target < 0)
    {
      if (errno == EEXIST)
        return check_name_free (root_fd, parent, name, vm_path, err) < 0
                   ? -1
                   : firec_error_set (err, EEXIST, "%s appeared in the VM root while staging", vm_path);
      return jail_error (err, errno, root_fd, vm_path, "create the mount point");
    }
  cleanup_free char *source = proc_fd_path (src_fd);
  cleanup_free char *target_path = proc_fd_path (target);
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

static int
open_output (const char *host_path, uid_t uid, gid_t gid, int *fd_out, struct stat *st, bool *created,
             firec_error_t *err)
{
  *created = false;
  *fd_out = -1;
  cleanup_close int fd = open (host_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd >= 0)
    {
      /* Ours, not the user's: it may be given to the jail's ids. */
      if (chown_fd (fd, uid, gid) < 0 || fchmod (fd, 0640) < 0 || fstat (fd, st) < 0)
        {
          int e = errno;
          unlink (host_path);
          return firec_error_set (err, e, "cannot give the new output file %s to %u:%u", host_path, (unsigned) uid,
                                  (unsigned) gid);
        }
      *created = true;
      *fd_out = steal_fd (&fd);
      return 0;
    }
  if (errno != EEXIST)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot create the output file %s", host_path);
  if (open_source (host_path, &fd, st, err) < 0)
    return -1;
  if (!S_ISREG (st->st_mode) && !S_ISFIFO (st->st_mode))
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "the output file %s exists and is neither a regular file nor a FIFO", host_path);
  int r = firec_stage_can_access_fd (fd, host_path, uid, gid, true, err);
  if (r < 0)
    return -1;
  if (r == 0)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "the output file %s exists but uid %u gid %u (Firecracker in the jail) cannot read "
                                 "and write it: chown %u:%u %s, or grant it with an ACL (setfacl -m u:%u:rw %s), or "
                                 "remove it so that firec-run creates it",
                                 host_path, (unsigned) uid, (unsigned) gid, (unsigned) uid, (unsigned) gid,
                                 host_path, (unsigned) uid, host_path);
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
try_hard_link (int root_fd, int parent, const char *name, const struct firec_file *file, int src_fd,
               int *link_errno, firec_error_t *err)
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
  const char *why = e == EXDEV   ? "is on another filesystem than the jail"
                    : e == EMLINK ? "has too many hard links already"
                                  : "cannot be hard-linked by this user (fs.protected_hardlinks)";
  if (stage_bind (root_fd, parent, name, file->vm_path, src_fd, file->host_path, why, err) < 0)
    return -1;
  *method = FIREC_STAGED_BIND;
  return 0;
}

static int
stage_read_only (int root_fd, int parent, const char *name, const struct firec_file *file, int src_fd,
                 const struct firec_stage_known *known,
                 const struct stat *st, uid_t uid, gid_t gid, const struct firec_stage_progress *progress,
                 enum firec_stage_method *method, firec_error_t *err)
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
      if (stage_new_file (root_fd, parent, name, file->vm_path, src_fd, st, file->host_path, true, 0400, uid, gid,
                          NULL, &reflink_err)
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
                const struct firec_stage_known *known,
                const struct stat *st, uid_t uid, gid_t gid, const struct firec_stage_progress *progress,
                enum firec_stage_method *method, firec_error_t *err)
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
  if (stage_new_file (root_fd, parent, name, file->vm_path, src_fd, st, file->host_path, ephemeral_reflink, 0600,
                      uid, gid, progress, err)
      < 0)
    return -1;
  *method = ephemeral_reflink ? FIREC_STAGED_REFLINK : FIREC_STAGED_COPY;
  return 0;
}

int
firec_stage_file (int root_fd, const struct firec_file *file, uid_t uid, gid_t gid,
                  const struct firec_stage_known *known, const struct firec_stage_progress *progress,
                  struct firec_staged *out, firec_error_t *err)
{
  memset (out, 0, sizeof *out);
  cleanup_close int parent = -1;
  cleanup_free char *name = NULL;
  if (open_parent_dir (root_fd, file->vm_path, true, true, uid, gid, &parent, &name, err) < 0)
    return -1;
  if (check_name_free (root_fd, parent, name, file->vm_path, err) < 0)
    return -1;

  cleanup_close int src_fd = -1;
  struct stat st;
  bool created = false;
  if (file->output)
    {
      if (open_output (file->host_path, uid, gid, &src_fd, &st, &created, err) < 0)
        return -1;
    }
  else
    {
      if (open_source (file->host_path, &src_fd, &st, err) < 0)
        return -1;
      bool device = file->role == FIREC_FILE_DRIVE || file->role == FIREC_FILE_PMEM;
      if (file->role == FIREC_FILE_UFFD_SOCKET)
        {
          if (!S_ISSOCK (st.st_mode))
            return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s is not a Unix socket",
                                         file->host_path);
        }
      else if (!S_ISREG (st.st_mode) && !(device && S_ISBLK (st.st_mode)))
        return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "%s is not a regular file", file->host_path);
    }

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
  out->method = method;
  out->vm_path = firec_xstrdup (file->vm_path);
  out->host_path = firec_xstrdup (file->host_path);
  out->created_host_output = created;
  return 0;
}

int
firec_stage_unstage (int root_fd, const struct firec_staged *staged, firec_error_t *err)
{
  cleanup_close int parent = -1;
  cleanup_free char *name = NULL;
  if (open_parent_dir (root_fd, staged->vm_path, false, true, 0, 0, &parent, &name, err) < 0)
    return -1;
  if (parent < 0)
    return 0; /* its directory is gone: so is the file */
  if (staged->method == FIREC_STAGED_BIND)
    {
      struct stat st;
      cleanup_close int target = open_component (parent, name, O_PATH, 0, false, &st);
      if (target < 0 && errno == ENOENT)
        return 0;
      /* A symlink cannot be a mount point of ours: nothing to unmount there. */
      if (target < 0 && errno != ELOOP)
        return jail_error (err, errno, root_fd, staged->vm_path, "open the mount point");
      if (target >= 0)
        {
          cleanup_free char *path = proc_fd_path (target);
          if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL)
            return firec_error_set (err, errno, "cannot unmount %s (the bind mount of %s) in the jail",
                                    staged->vm_path, staged->host_path ? staged->host_path : "?");
        }
    }
  if (unlinkat (parent, name, 0) < 0 && errno != ENOENT)
    return jail_error (err, errno, root_fd, staged->vm_path, "remove");
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
open_vm_root (const char *jail, const char *rel, const char *vm_root, int *root_fd, firec_error_t *err)
{
  cleanup_close int cur = open (jail, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (cur < 0)
    return firec_error_set (err, errno, "cannot open the jail directory %s", jail);
  if (*rel)
    {
      cleanup_parts struct vm_path_parts parts;
      if (split_vm_path (rel, &parts, err) < 0)
        return -1;
      for (size_t i = 0; i < parts.count; i++)
        {
          if (mkdirat (cur, parts.names[i], 0700) < 0 && errno != EEXIST)
            return firec_error_set (err, errno, "cannot create the VM root %s", vm_root);
          int fd = open_component (cur, parts.names[i], O_PATH | O_DIRECTORY, 0, true, NULL);
          if (fd < 0)
            return firec_error_set (err, errno, "cannot open the VM root %s", vm_root);
          close (cur);
          cur = fd;
        }
    }
  *root_fd = steal_fd (&cur);
  return 0;
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
          const char *name = strrchr (jail, '/') + 1;
          firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                "the jail directory %s already exists: a VM of that name is running, or an earlier "
                                "run crashed; run `firec-run rm %s`",
                                jail, name);
          if (err && *err)
            (*err)->errno_value = EEXIST;
          return -1;
        }
      return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot create the jail directory %s", jail);
    }
  chmod (jail, 0755);
  if (open_vm_root (jail, root + jail_len, vm_root, root_fd, err) < 0)
    {
      /* Ours since the mkdir above: leave nothing half-made. */
      cleanup_error firec_error_t ignored = NULL;
      firec_stage_remove_tree (jail, &ignored);
      return -1;
    }
  return 0;
}

/* ------------------------------------------------------------------ removal */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *
unescape_mount_path (const char *s)
{
  char *out = firec_xmalloc (strlen (s) + 1);
  size_t n = 0;
  for (size_t i = 0; s[i]; i++)
    {
      if (s[i] == '\\' && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0'
          && s[i + 3] <= '7')
        {
          out[n++] = (char) ((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
          i += 3;
        }
      else
        out[n++] = s[i];
    }
  out[n] = '\0';
  return out;
}

struct strv
{
  char **items;
  size_t count;
};

static void
strv_release (struct strv *v)
{
  for (size_t i = 0; i < v->count; i++)
    free (v->items[i]);
  free (v->items);
  v->items = NULL;
  v->count = 0;
}
#define cleanup_strv __attribute__ ((cleanup (strv_release)))

static void
strv_push (struct strv *v, char *s)
{
  v->items = firec_xrealloc (v->items, (v->count + 1) * sizeof *v->items);
  v->items[v->count++] = s;
}

static int
compare_longest_first (const void *a, const void *b)
{
  size_t la = strlen (*(char *const *) a), lb = strlen (*(char *const *) b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

/* The mount points strictly below dir, relative to it, deepest first. */
static int
mounts_below (const char *dir, struct strv *out, firec_error_t *err)
{
  FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (f == NULL)
    return firec_error_set (err, errno, "cannot read /proc/self/mountinfo");
  size_t dir_len = strlen (dir);
  char *line = NULL;
  size_t cap = 0;
  while (getline (&line, &cap, f) > 0)
    {
      /* id parent major:minor root mount-point options ... */
      char *save = NULL, *field = strtok_r (line, " ", &save);
      for (int i = 0; field && i < 4; i++)
        field = strtok_r (NULL, " ", &save);
      if (field == NULL)
        continue;
      cleanup_free char *mp = unescape_mount_path (field);
      if (strncmp (mp, dir, dir_len) == 0 && mp[dir_len] == '/' && mp[dir_len + 1] != '\0')
        strv_push (out, firec_xstrdup (mp + dir_len + 1));
    }
  free (line);
  fclose (f);
  if (out->count > 1)
    qsort (out->items, out->count, sizeof *out->items, compare_longest_first);
  return 0;
}

static int
detach_mounts_below (int jail_fd, const char *jail, firec_error_t *err)
{
  /* Stacked mounts show up once each; a few rounds catch what a detach uncovers. */
  for (int round = 0; round < 16; round++)
    {
      cleanup_strv struct strv mounts = { 0 };
      if (mounts_below (jail, &mounts, err) < 0)
        return -1;
      if (mounts.count == 0)
        return 0;
      for (size_t i = 0; i < mounts.count; i++)
        {
          cleanup_free char *vm_path = firec_xasprintf ("/%s", mounts.items[i]);
          cleanup_close int parent = -1;
          cleanup_free char *name = NULL;
          if (open_parent_dir (jail_fd, vm_path, false, false, 0, 0, &parent, &name, err) < 0)
            return -1;
          if (parent < 0)
            continue; /* renamed meanwhile: the next round sees its new path */
          cleanup_close int target = open_component (parent, name, O_PATH, 0, false, NULL);
          if (target < 0 && errno == ENOENT)
            continue;
          if (target < 0)
            return jail_error (err, errno, jail_fd, vm_path, "open the mount point");
          cleanup_free char *path = proc_fd_path (target);
          if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL)
            return firec_error_set (err, errno, "cannot unmount %s/%s", jail, mounts.items[i]);
        }
    }
  return firec_error_set (err, EBUSY, "mounts below %s keep coming back", jail);
}

static int
mount_id_of (int fd, uint64_t *id)
{
  struct statx stx;
  if (statx (fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
    return -1;
  if (!(stx.stx_mask & STATX_MNT_ID))
    {
      errno = EOPNOTSUPP;
      return -1;
    }
  *id = stx.stx_mnt_id;
  return 0;
}

struct tree
{
  const char *top; /* for messages */
  dev_t dev;
  uint64_t mnt_id;
  bool have_mnt_id;
};

static int
remove_contents (const struct tree *t, int dirfd, const char *shown, int depth, firec_error_t *err)
{
  if (depth > REMOVE_MAX_DEPTH)
    return firec_error_set (err, ELOOP, "%s%s is nested too deeply to remove", t->top, shown);
  /* Unprivileged (the test doubles), a directory its owner made read-only cannot
     be emptied until it is writable again. */
  struct stat dst;
  if (fstat (dirfd, &dst) == 0 && dst.st_uid == geteuid () && (dst.st_mode & 0700) != 0700)
    fchmod (dirfd, (dst.st_mode & 07777) | 0700);
  cleanup_strv struct strv names = { 0 };
  {
    int listfd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (listfd < 0)
      return firec_error_set (err, errno, "cannot list %s%s", t->top, shown);
    DIR *d = fdopendir (listfd);
    if (d == NULL)
      {
        int e = errno;
        close (listfd);
        return firec_error_set (err, e, "cannot list %s%s", t->top, shown);
      }
    struct dirent *de;
    errno = 0;
    while ((de = readdir (d)) != NULL)
      {
        if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
          strv_push (&names, firec_xstrdup (de->d_name));
        errno = 0;
      }
    int e = errno;
    closedir (d);
    if (e)
      return firec_error_set (err, e, "cannot list %s%s", t->top, shown);
  }
  for (size_t i = 0; i < names.count; i++)
    {
      const char *name = names.items[i];
      cleanup_free char *child_shown = firec_xasprintf ("%s/%s", shown, name);
      struct stat st;
      if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        {
          if (errno == ENOENT)
            continue;
          return firec_error_set (err, errno, "cannot stat %s%s", t->top, child_shown);
        }
      if (S_ISDIR (st.st_mode))
        {
          cleanup_close int child = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
          if (child < 0 && errno == EACCES && st.st_uid == geteuid ())
            {
              /* Unprivileged, and the jail's owner made it unreadable: it is ours to
                 take back (AT_SYMLINK_NOFOLLOW: never a symlink's target). */
              if (fchmodat (dirfd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
                child = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
              else
                errno = EACCES;
            }
          if (child < 0)
            return firec_error_set (err, errno, "cannot open %s%s", t->top, child_shown);
          struct stat cst;
          uint64_t mnt_id = 0;
          if (fstat (child, &cst) < 0)
            return firec_error_set (err, errno, "cannot stat %s%s", t->top, child_shown);
          bool other_mount = cst.st_dev != t->dev;
          if (!other_mount && t->have_mnt_id && mount_id_of (child, &mnt_id) == 0)
            other_mount = mnt_id != t->mnt_id;
          if (other_mount)
            return firec_error_set (err, EXDEV, "%s%s is a mount point that could not be detached: not removing what "
                                    "is below it", t->top, child_shown);
          if (remove_contents (t, child, child_shown, depth + 1, err) < 0)
            return -1;
          if (unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return firec_error_set (err, errno, "cannot remove %s%s", t->top, child_shown);
        }
      else if (unlinkat (dirfd, name, 0) < 0 && errno != ENOENT)
        /* A file bind mount still in place fails with EBUSY: its source is safe. */
        return firec_error_set (err, errno, "cannot remove %s%s", t->top, child_shown);
    }
  return 0;
}

int
firec_stage_remove_tree (const char *jail_dir, firec_error_t *err)
{
  if (jail_dir == NULL || jail_dir[0] != '/')
    return firec_error_set (err, EINVAL, "the jail directory %s must be an absolute path",
                            jail_dir ? jail_dir : "(null)");
  cleanup_free char *stripped = strip_trailing_slashes (jail_dir);
  char *slash = strrchr (stripped, '/');
  const char *base = slash + 1;
  if (*base == '\0' || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    return firec_error_set (err, EINVAL, "refusing to remove %s", jail_dir);
  cleanup_free char *parent_path = slash == stripped ? firec_xstrdup ("/") : firec_xstrndup (stripped, (size_t) (slash - stripped));
  char real_parent[PATH_MAX];
  if (realpath (parent_path, real_parent) == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return firec_error_set (err, errno, "cannot resolve %s", parent_path);
    }
  cleanup_free char *jail = firec_xasprintf ("%s/%s", strcmp (real_parent, "/") == 0 ? "" : real_parent, base);

  cleanup_close int parent = open (real_parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (parent < 0)
    return firec_error_set (err, errno, "cannot open %s", real_parent);
  struct stat st;
  if (fstatat (parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return firec_error_set (err, errno, "cannot stat %s", jail);
    }
  if (S_ISLNK (st.st_mode))
    return firec_error_set (err, ELOOP, "the jail directory %s is a symbolic link: not removing it", jail);
  if (!S_ISDIR (st.st_mode))
    return firec_error_set (err, ENOTDIR, "the jail directory %s is not a directory: not removing it", jail);

  cleanup_close int jail_fd = openat (parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (jail_fd < 0)
    return firec_error_set (err, errno, "cannot open %s", jail);
  if (detach_mounts_below (jail_fd, jail, err) < 0)
    return -1;

  struct tree t = { .top = jail };
  if (fstat (jail_fd, &st) < 0)
    return firec_error_set (err, errno, "cannot stat %s", jail);
  t.dev = st.st_dev;
  t.have_mnt_id = mount_id_of (jail_fd, &t.mnt_id) == 0;
  if (remove_contents (&t, jail_fd, "", 0, err) < 0)
    return -1;
  if (unlinkat (parent, base, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return firec_error_set (err, errno, "cannot remove %s", jail);
  return 0;
}
