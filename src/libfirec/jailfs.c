/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "jailfs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static bool openat2_disabled_for_tests;
static bool openat2_missing;
static void (*descend_hook) (int dirfd, unsigned long depth, void *data);
static void *descend_hook_data;

void
firec_jailfs_test_disable_openat2 (bool disable)
{
  openat2_disabled_for_tests = disable;
}

void
firec_jailfs_test_on_descend (void (*fn) (int dirfd, unsigned long depth, void *data), void *data)
{
  descend_hook = fn;
  descend_hook_data = data;
}

static bool
privileged (void)
{
  return geteuid () == 0;
}

int
firec_jailfs_chown (int fd, uid_t uid, gid_t gid)
{
  if (fchownat (fd, "", uid, gid, AT_EMPTY_PATH) == 0)
    return 0;
  if (errno == EPERM && !privileged ())
    return 0;
  return -1;
}

char *
firec_jailfs_proc_path (int fd)
{
  return firec_xasprintf ("/proc/self/fd/%d", fd);
}

char *
firec_jailfs_describe (int fd)
{
  cleanup_free char *link = firec_jailfs_proc_path (fd);
  char buf[PATH_MAX];
  ssize_t n = readlink (link, buf, sizeof buf - 1);
  if (n <= 0)
    return firec_xstrdup ("<VM root>");
  buf[n] = '\0';
  return firec_xstrdup (buf);
}

/* ------------------------------------------------------------------ one component */

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

static bool
is_component (const char *name)
{
  return name[0] != '\0' && strchr (name, '/') == NULL && strcmp (name, ".") != 0 && strcmp (name, "..") != 0;
}

int
firec_jailfs_open_component (int dirfd, const char *name, int flags, mode_t mode, bool no_xdev, struct stat *st_out)
{
  flags |= O_CLOEXEC | O_NOFOLLOW;
  if (!is_component (name))
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

int
firec_jailfs_error (firec_error_t *err, int errno_value, int root_fd, const char *vm_path, const char *what)
{
  cleanup_free char *root = firec_jailfs_describe (root_fd);
  switch (errno_value)
    {
    case ELOOP:
      return firec_error_set (err, ELOOP,
                              "%s%s (in the VM root) is a symbolic link: refusing to follow it, since a link "
                              "planted in the jail could redirect the write to the host",
                              root, vm_path);
    case EXDEV:
      return firec_error_set (err, EXDEV, "%s%s (in the VM root) is on another mount: refusing to enter it", root,
                              vm_path);
    case ENOTDIR:
      return firec_error_set (err, ENOTDIR, "%s%s (in the VM root) is not a directory", root, vm_path);
    default:
      return firec_error_set (err, errno_value, "cannot %s %s%s in the VM root", what, root, vm_path);
    }
}

/* ------------------------------------------------------------------ walking a VM path */

/* EEXIST from open_made_dir: what was made is not what is there now. */
static int
swapped_error (firec_error_t *err, int root_fd, const char *vm_path)
{
  cleanup_free char *root = firec_jailfs_describe (root_fd);
  return firec_error_set (err, EEXIST,
                          "%s%s (in the VM root) was swapped for another directory while it was being created: "
                          "refusing to use it",
                          root, vm_path);
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
  return 0;
}

/* Whether the directory fd holds nothing but "." and "..". */
static int
dir_is_empty (int fd, bool *empty)
{
  char buf[512];
  *empty = true;
  for (;;)
    {
      ssize_t n = getdents64 (fd, buf, sizeof buf);
      if (n < 0)
        return -1;
      if (n == 0)
        return 0;
      for (ssize_t off = 0; off < n;)
        {
          struct dirent64 *de = (struct dirent64 *) (void *) (buf + off);
          if (strcmp (de->d_name, ".") != 0 && strcmp (de->d_name, "..") != 0)
            {
              *empty = false;
              return 0;
            }
          off += de->d_reclen;
        }
    }
}

/* After mkdirat (dirfd, name): opens what is there now and makes sure it is
   the directory just made, not one the jail uid renamed into its place
   meanwhile: ours (the jail uid cannot make a directory of root's), empty.
   Returns an O_RDONLY|O_DIRECTORY fd, or -1 with errno (EEXIST when it is not
   ours). */
static int
open_made_dir (int dirfd, const char *name, bool no_xdev)
{
  struct stat st;
  cleanup_close int fd = firec_jailfs_open_component (dirfd, name, O_RDONLY | O_DIRECTORY, 0, no_xdev, &st);
  if (fd < 0)
    return -1;
  bool empty;
  if (dir_is_empty (fd, &empty) < 0)
    return -1;
  if (st.st_uid != geteuid () || !empty)
    {
      errno = EEXIST;
      return -1;
    }
  return steal_fd (&fd);
}

/* The directory name below cur: opened, or made as mk says. Returns an
   O_PATH|O_DIRECTORY fd, or -1 with errno. */
static int
open_or_make (int cur, const char *name, bool create, bool no_xdev, const struct firec_jailfs_mkdir *mk)
{
  int fd = firec_jailfs_open_component (cur, name, O_PATH | O_DIRECTORY, 0, no_xdev, NULL);
  if (fd >= 0 || errno != ENOENT || !create)
    return fd;
  if (mkdirat (cur, name, mk->mode) < 0)
    {
      if (errno != EEXIST)
        return -1;
      return firec_jailfs_open_component (cur, name, O_PATH | O_DIRECTORY, 0, no_xdev, NULL);
    }
  cleanup_close int made = open_made_dir (cur, name, no_xdev);
  if (made < 0)
    return -1;
  if (firec_jailfs_chown (made, mk->uid, mk->gid) < 0)
    return -1;
  return openat (made, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* Walks the first count components of parts below root_fd. *fd = -1 when one
   is missing and FIREC_JAILFS_MISSING_OK is set. */
static int
walk (int root_fd, const struct vm_path_parts *parts, size_t count, unsigned flags, const struct firec_jailfs_mkdir *mk,
      int *fd, firec_error_t *err)
{
  static const struct firec_jailfs_mkdir default_mk = { 0700, (uid_t) -1, (gid_t) -1 };
  *fd = -1;
  cleanup_close int cur = fcntl (root_fd, F_DUPFD_CLOEXEC, 3);
  if (cur < 0)
    return firec_error_set (err, errno, "cannot duplicate the VM root fd");
  struct firec_buf shown = { 0 };
  for (size_t i = 0; i < count; i++)
    {
      firec_buf_printf (&shown, "/%s", parts->names[i]);
      int next = open_or_make (cur, parts->names[i], flags & FIREC_JAILFS_MKDIR, flags & FIREC_JAILFS_NO_XDEV,
                               mk ? mk : &default_mk);
      if (next < 0)
        {
          int e = errno;
          if (e == ENOENT && (flags & FIREC_JAILFS_MISSING_OK))
            {
              firec_buf_release (&shown);
              return 0;
            }
          if (e == EEXIST)
            swapped_error (err, root_fd, shown.data);
          else
            firec_jailfs_error (err, e, root_fd, shown.data,
                                (flags & FIREC_JAILFS_MKDIR) ? "create or open the directory" : "open the directory");
          firec_buf_release (&shown);
          return -1;
        }
      close (cur);
      cur = next;
    }
  firec_buf_release (&shown);
  *fd = steal_fd (&cur);
  return 0;
}

int
firec_jailfs_open_dir (int root_fd, const char *vm_path, unsigned flags, const struct firec_jailfs_mkdir *mk, int *fd,
                       firec_error_t *err)
{
  *fd = -1;
  cleanup_parts struct vm_path_parts parts;
  if (split_vm_path (vm_path, &parts, err) < 0)
    return -1;
  return walk (root_fd, &parts, parts.count, flags, mk, fd, err);
}

int
firec_jailfs_open_parent (int root_fd, const char *vm_path, unsigned flags, const struct firec_jailfs_mkdir *mk,
                          int *parent_fd, char **name, firec_error_t *err)
{
  *parent_fd = -1;
  *name = NULL;
  cleanup_parts struct vm_path_parts parts;
  if (split_vm_path (vm_path, &parts, err) < 0)
    return -1;
  if (parts.count == 0)
    return firec_error_set (err, EINVAL, "the path in the VM root %s names no file", vm_path);
  if (walk (root_fd, &parts, parts.count - 1, flags, mk, parent_fd, err) < 0)
    return -1;
  *name = firec_xstrdup (parts.names[parts.count - 1]);
  return 0;
}

int
firec_jailfs_open (int root_fd, const char *vm_path, int open_flags, unsigned flags, struct stat *st, int *fd,
                   firec_error_t *err)
{
  *fd = -1;
  cleanup_close int dir = -1;
  cleanup_free char *name = NULL;
  if (firec_jailfs_open_parent (root_fd, vm_path, flags & ~FIREC_JAILFS_MISSING_OK, NULL, &dir, &name, err) < 0)
    return -1;
  *fd = firec_jailfs_open_component (dir, name, open_flags, 0600, flags & FIREC_JAILFS_NO_XDEV, st);
  if (*fd < 0)
    return firec_jailfs_error (err, errno, root_fd, vm_path, "open");
  return 0;
}

int
firec_jailfs_open_socket (int root_fd, const char *root_path, const char *host_path, int *fd, firec_error_t *err)
{
  *fd = -1;
  size_t n = strlen (root_path);
  while (n > 1 && root_path[n - 1] == '/')
    n--;
  if (strncmp (host_path, root_path, n) != 0 || host_path[n] != '/')
    return firec_error_set (err, EINVAL, "the socket %s is not in the VM root %s", host_path, root_path);
  struct stat st;
  cleanup_close int sock = -1;
  if (firec_jailfs_open (root_fd, host_path + n, O_PATH, FIREC_JAILFS_NO_XDEV, &st, &sock, err) < 0)
    return -1;
  if (!S_ISSOCK (st.st_mode))
    return firec_error_set (err, ENOTSOCK, "%s is not a socket", host_path);
  *fd = steal_fd (&sock);
  return 0;
}

/* ------------------------------------------------------------------ new names */

/* A name nobody can guess ahead of us, to plant something there first. */
static char *
fresh_name (const char *prefix)
{
  static unsigned counter;
  unsigned long long r = 0;
  if (getrandom (&r, sizeof r, GRND_NONBLOCK) != (ssize_t) sizeof r)
    {
      struct timespec ts;
      clock_gettime (CLOCK_MONOTONIC, &ts);
      r = (unsigned long long) ts.tv_nsec * 2654435761ULL ^ (unsigned long long) getpid () << 32;
    }
  return firec_xasprintf ("%s%ld-%u-%016llx", prefix, (long) getpid (), counter++, r);
}

int
firec_jailfs_make_private_dir (int dirfd, const char *prefix, uid_t uid, gid_t gid, int *fd, char **name,
                               firec_error_t *err)
{
  *fd = -1;
  *name = NULL;
  for (int attempt = 0; attempt < 100; attempt++)
    {
      cleanup_free char *try = fresh_name (prefix);
      if (mkdirat (dirfd, try, 0700) < 0)
        {
          if (errno == EEXIST)
            continue;
          return firec_jailfs_error (err, errno, dirfd, "/", "create a directory in");
        }
      cleanup_close int made = open_made_dir (dirfd, try, true);
      if (made < 0)
        {
          int e = errno;
          cleanup_free char *shown = firec_xasprintf ("/%s", try);
          return e == EEXIST ? swapped_error (err, dirfd, shown) : firec_jailfs_error (err, e, dirfd, shown, "open");
        }
      if (firec_jailfs_chown (made, uid, gid) < 0)
        {
          int e = errno;
          unlinkat (dirfd, try, AT_REMOVEDIR);
          return firec_error_set (err, e, "cannot give a directory of the VM root to %u:%u", (unsigned) uid,
                                  (unsigned) gid);
        }
      *fd = steal_fd (&made);
      *name = steal_pointer (&try);
      return 0;
    }
  return firec_error_set (err, EEXIST, "cannot find a free name for a directory in the VM root");
}

int
firec_jailfs_create_temp (int dirfd, mode_t mode, char **name)
{
  for (int attempt = 0; attempt < 100; attempt++)
    {
      cleanup_free char *tmp = fresh_name (".firec-tmp-");
      int fd = firec_jailfs_open_component (dirfd, tmp, O_RDWR | O_CREAT | O_EXCL, mode, false, NULL);
      if (fd >= 0)
        {
          *name = steal_pointer (&tmp);
          return fd;
        }
      if (errno != EEXIST)
        return -1;
    }
  errno = EEXIST;
  return -1;
}

int
firec_jailfs_rename_noreplace (int old_dirfd, const char *old_name, int new_dirfd, const char *new_name)
{
  if (renameat2 (old_dirfd, old_name, new_dirfd, new_name, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -1;
  if (linkat (old_dirfd, old_name, new_dirfd, new_name, 0) < 0)
    return -1;
  unlinkat (old_dirfd, old_name, 0);
  return 0;
}

/* ------------------------------------------------------------------ removal */

/* How many directories the removal remembers on its way down: enough that a
   tree deeper than this costs a walk down from the top once per this many
   levels, small enough to be a fixed ~270 KiB whatever the depth. */
#define REMEMBERED_LEVELS 1024
/* Restarts and retries in a row without removing anything: the tree changes
   faster than it can be removed. */
#define STALL_LIMIT 10000

struct level
{
  dev_t dev;
  ino_t ino;
  char name[NAME_MAX + 1]; /* its name in the level above */
};

struct removal
{
  int top_fd;
  const char *what;
  struct stat top;
  uint64_t mnt_id;
  bool have_mnt_id;
  struct level *levels;     /* the directory at depth d is levels[d % REMEMBERED_LEVELS] */
  unsigned long depth;      /* of the current directory below the top */
  unsigned long known_from; /* the shallowest depth levels[] still holds */
  unsigned long stalls;
};

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

/* Where name below dirfd is, for messages: shortened in the middle when the
   tree is deeper than a reader cares about. */
static char *
where (const struct removal *r, int dirfd, const char *name)
{
  cleanup_free char *dir = firec_jailfs_describe (dirfd);
  size_t n = strlen (dir);
  const char *sep = *name ? "/" : "";
  if (n > 240)
    return firec_xasprintf ("%.100s/... (%lu levels below %s) ...%s%s%s", dir, r->depth, r->what, dir + n - 100, sep,
                            name);
  return firec_xasprintf ("%s%s%s", dir, sep, name);
}

static int
removal_error (const struct removal *r, firec_error_t *err, int e, const char *what, int dirfd, const char *name)
{
  cleanup_free char *shown = where (r, dirfd, name);
  return firec_error_set (err, e, "cannot %s %s", what, shown);
}

/* Unprivileged (the test doubles), a directory its owner made read-only cannot
   be emptied until it is writable again. */
static void
make_writable (int dirfd)
{
  struct stat st;
  if (fstat (dirfd, &st) == 0 && st.st_uid == geteuid () && (st.st_mode & 0700) != 0700)
    fchmod (dirfd, (st.st_mode & 07777) | 0700);
}

/* Opens the subdirectory name of dirfd to descend into it. Returns the fd, -2
   when it is no longer a directory (or gone), -1 on error. */
static int
open_subdir (const struct removal *r, int dirfd, const char *name, firec_error_t *err)
{
  int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  cleanup_close int fd = openat (dirfd, name, flags);
  if (fd < 0 && errno == EACCES && !privileged ())
    {
      /* Unprivileged, and its owner (us: the doubles' jail) made it unreadable:
         ours to take back (AT_SYMLINK_NOFOLLOW: never a symlink's target). */
      struct stat st;
      if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == geteuid ()
          && fchmodat (dirfd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
        fd = openat (dirfd, name, flags);
      else
        errno = EACCES;
    }
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
    return -2;
  if (fd < 0)
    return removal_error (r, err, errno, "open", dirfd, name);
  struct stat st;
  if (fstat (fd, &st) < 0)
    return removal_error (r, err, errno, "stat", dirfd, name);
  bool other_mount = st.st_dev != r->top.st_dev;
  uint64_t mnt_id;
  if (!other_mount && r->have_mnt_id && mount_id_of (fd, &mnt_id) == 0)
    other_mount = mnt_id != r->mnt_id;
  if (other_mount)
    {
      cleanup_free char *shown = where (r, dirfd, name);
      return firec_error_set (err, EXDEV,
                              "%s is a mount point that could not be detached: not removing what is below it", shown);
    }
  return steal_fd (&fd);
}

/* Removes every entry of dirfd but its subdirectories, and opens the first
   subdirectory found into *child (its name into child_name); *child = -1 when
   there is none left. */
static int
clear_dir (struct removal *r, int dirfd, int *child, char *child_name, firec_error_t *err)
{
  *child = -1;
  make_writable (dirfd);
  int listfd = openat (dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listfd < 0)
    return removal_error (r, err, errno, "list", dirfd, "");
  DIR *d = fdopendir (listfd);
  if (d == NULL)
    {
      int e = errno;
      close (listfd);
      return removal_error (r, err, e, "list", dirfd, "");
    }
  int rc = 0;
  struct dirent *de;
  errno = 0;
  while ((de = readdir (d)) != NULL)
    {
      const char *name = de->d_name;
      if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
        continue;
      bool is_dir = de->d_type == DT_DIR;
      if (de->d_type == DT_UNKNOWN)
        {
          struct stat st;
          if (fstatat (dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            {
              if (errno == ENOENT)
                continue;
              rc = removal_error (r, err, errno, "stat", dirfd, name);
              break;
            }
          is_dir = S_ISDIR (st.st_mode);
        }
      if (is_dir)
        {
          int fd = open_subdir (r, dirfd, name, err);
          if (fd == -1)
            {
              rc = -1;
              break;
            }
          if (fd >= 0)
            {
              snprintf (child_name, NAME_MAX + 1, "%s", name);
              *child = fd;
              break;
            }
          /* swapped for something else since readdir: remove that */
        }
      if (unlinkat (dirfd, name, 0) == 0)
        r->stalls = 0;
      else if (errno == EISDIR)
        r->stalls++; /* swapped for a directory: the next listing descends into it */
      else if (errno != ENOENT)
        {
          /* A file bind mount still in place fails with EBUSY: its source is safe. */
          rc = removal_error (r, err, errno, "remove", dirfd, name);
          break;
        }
      errno = 0;
    }
  if (rc == 0 && de == NULL && errno != 0)
    rc = removal_error (r, err, errno, "list", dirfd, "");
  closedir (d);
  return rc;
}

static void
descend (struct removal *r, int *cur, int child, const char *name)
{
  struct stat st;
  if (fstat (child, &st) < 0)
    memset (&st, 0, sizeof st);
  r->depth++;
  struct level *l = &r->levels[r->depth % REMEMBERED_LEVELS];
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  snprintf (l->name, sizeof l->name, "%s", name);
  if (r->depth >= REMEMBERED_LEVELS && r->depth - REMEMBERED_LEVELS + 1 > r->known_from)
    r->known_from = r->depth - REMEMBERED_LEVELS + 1;
  close (*cur);
  *cur = child;
  if (descend_hook)
    descend_hook (child, r->depth, descend_hook_data);
}

/* From the emptied directory *cur one level up, removing it on the way.
   Returns 1 when done, 0 when the way up cannot be trusted (the level above is
   not the one it came through, or was forgotten): start again from the top. */
static int
ascend (struct removal *r, int *cur, firec_error_t *err)
{
  unsigned long above = r->depth - 1;
  if (above > 0 && above < r->known_from)
    return 0;
  struct stat cur_st, parent_st;
  if (fstat (*cur, &cur_st) < 0)
    return removal_error (r, err, errno, "stat", *cur, "");
  cleanup_close int parent = openat (*cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (parent < 0 || fstat (parent, &parent_st) < 0)
    return 0;
  dev_t want_dev = above ? r->levels[above % REMEMBERED_LEVELS].dev : r->top.st_dev;
  ino_t want_ino = above ? r->levels[above % REMEMBERED_LEVELS].ino : r->top.st_ino;
  if (parent_st.st_dev != want_dev || parent_st.st_ino != want_ino)
    return 0;
  const char *name = r->levels[r->depth % REMEMBERED_LEVELS].name;
  struct stat st;
  if (fstatat (parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == cur_st.st_dev && st.st_ino == cur_st.st_ino)
    {
      if (unlinkat (parent, name, AT_REMOVEDIR) == 0)
        r->stalls = 0;
      else if (errno == ENOTEMPTY || errno == ENOENT)
        r->stalls++; /* filled again meanwhile: the next listing descends again */
      else
        return removal_error (r, err, errno, "remove", parent, name);
    }
  else
    r->stalls++; /* renamed meanwhile: the next listing finds it under its new name */
  close (*cur);
  *cur = steal_fd (&parent);
  r->depth--;
  return 1;
}

static int
reopen_top (struct removal *r, int *cur, firec_error_t *err)
{
  if (*cur >= 0)
    close (*cur);
  *cur = openat (r->top_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*cur < 0)
    return firec_error_set (err, errno, "cannot open %s", r->what);
  r->depth = 0;
  r->known_from = 1;
  return 0;
}

int
firec_jailfs_remove_contents (int dirfd, const char *what, firec_error_t *err)
{
  struct removal r = { .top_fd = dirfd, .what = what };
  if (fstat (dirfd, &r.top) < 0)
    return firec_error_set (err, errno, "cannot stat %s", what);
  r.have_mnt_id = mount_id_of (dirfd, &r.mnt_id) == 0;
  cleanup_free struct level *levels = firec_xcalloc (REMEMBERED_LEVELS, sizeof *levels);
  r.levels = levels;
  cleanup_close int cur = -1;
  if (reopen_top (&r, &cur, err) < 0)
    return -1;
  for (;;)
    {
      if (r.stalls > STALL_LIMIT)
        return firec_error_set (err, EBUSY, "%s keeps changing while it is being removed", what);
      int child;
      char name[NAME_MAX + 1];
      if (clear_dir (&r, cur, &child, name, err) < 0)
        return -1;
      if (child >= 0)
        {
          descend (&r, &cur, child, name);
          continue;
        }
      if (r.depth == 0)
        return 0;
      int up = ascend (&r, &cur, err);
      if (up < 0)
        return -1;
      if (up == 0)
        {
          r.stalls++;
          if (reopen_top (&r, &cur, err) < 0)
            return -1;
        }
    }
}

static bool
same_inode (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Removes the empty directory whose identity is *st, named name in dirfd if it
   still is. Returns 1 removed (or gone), 0 not that name, -1 error. */
static int
rmdir_if_same (int dirfd, const char *name, const struct stat *st)
{
  struct stat now;
  if (fstatat (dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : -1;
  if (!same_inode (&now, st))
    return 0;
  if (unlinkat (dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return -1;
  return 1;
}

int
firec_jailfs_remove_dir (int parent_fd, const char *name, int dirfd, firec_error_t *err)
{
  cleanup_free char *shown = firec_jailfs_describe (dirfd);
  if (firec_jailfs_remove_contents (dirfd, shown, err) < 0)
    return -1;
  struct stat st;
  if (fstat (dirfd, &st) < 0)
    return firec_error_set (err, errno, "cannot stat %s", shown);
  if (st.st_nlink == 0)
    return 0; /* removed already */
  int r = rmdir_if_same (parent_fd, name, &st);
  if (r != 0)
    return r < 0 ? firec_error_set (err, errno, "cannot remove %s", shown) : 0;
  /* Renamed (the jail owns the directory above it): find where it is now from
     its fd, then reach it from parent_fd like any other path in the jail. */
  cleanup_free char *parent_path = firec_jailfs_describe (parent_fd);
  size_t n = strlen (parent_path);
  if (strncmp (shown, parent_path, n) != 0 || shown[n] != '/')
    return firec_error_set (err, ENOENT, "cannot find %s below %s any more", name, parent_path);
  cleanup_close int dir = -1;
  cleanup_free char *now_name = NULL;
  if (firec_jailfs_open_parent (parent_fd, shown + n, FIREC_JAILFS_NO_XDEV, NULL, &dir, &now_name, err) < 0)
    return -1;
  r = rmdir_if_same (dir, now_name, &st);
  if (r < 0)
    return firec_error_set (err, errno, "cannot remove %s", shown);
  if (r == 0)
    return firec_error_set (err, ENOENT, "cannot find %s below %s any more", name, parent_path);
  return 0;
}

/* ------------------------------------------------------------------ removing a jail */

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
mounts_below (const char *dir, struct strv *ret, firec_error_t *err)
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
        strv_push (ret, firec_xstrdup (mp + dir_len + 1));
    }
  free (line);
  fclose (f);
  if (ret->count > 1)
    qsort (ret->items, ret->count, sizeof *ret->items, compare_longest_first);
  return 0;
}

static int
detach_mounts_below (int dir_fd, const char *dir, firec_error_t *err)
{
  /* Stacked mounts show up once each; a few rounds catch what a detach uncovers. */
  for (int round = 0; round < 16; round++)
    {
      cleanup_strv struct strv mounts = { 0 };
      if (mounts_below (dir, &mounts, err) < 0)
        return -1;
      if (mounts.count == 0)
        return 0;
      for (size_t i = 0; i < mounts.count; i++)
        {
          cleanup_free char *vm_path = firec_xasprintf ("/%s", mounts.items[i]);
          cleanup_close int parent = -1;
          cleanup_free char *name = NULL;
          if (firec_jailfs_open_parent (dir_fd, vm_path, FIREC_JAILFS_MISSING_OK, NULL, &parent, &name, err) < 0)
            return -1;
          if (parent < 0)
            continue; /* renamed meanwhile: the next round sees its new path */
          cleanup_close int target = firec_jailfs_open_component (parent, name, O_PATH, 0, false, NULL);
          if (target < 0 && errno == ENOENT)
            continue;
          if (target < 0)
            return firec_jailfs_error (err, errno, dir_fd, vm_path, "open the mount point");
          cleanup_free char *path = firec_jailfs_proc_path (target);
          if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL)
            return firec_error_set (err, errno, "cannot unmount %s/%s", dir, mounts.items[i]);
        }
    }
  return firec_error_set (err, EBUSY, "mounts below %s keep coming back", dir);
}

static char *
strip_trailing_slashes (const char *path)
{
  char *s = firec_xstrdup (path);
  size_t n = strlen (s);
  while (n > 1 && s[n - 1] == '/')
    s[--n] = '\0';
  return s;
}

int
firec_jailfs_remove_tree (const char *path, firec_error_t *err)
{
  if (path == NULL || path[0] != '/')
    return firec_error_set (err, EINVAL, "the directory to remove %s must be an absolute path", path ? path : "(null)");
  cleanup_free char *stripped = strip_trailing_slashes (path);
  char *slash = strrchr (stripped, '/');
  const char *base = slash + 1;
  if (*base == '\0' || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    return firec_error_set (err, EINVAL, "refusing to remove %s", path);
  cleanup_free char *parent_path
      = slash == stripped ? firec_xstrdup ("/") : firec_xstrndup (stripped, (size_t) (slash - stripped));
  /* The parents are the host's: symlinks in them are the administrator's choice. */
  char real_parent[PATH_MAX];
  if (realpath (parent_path, real_parent) == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return firec_error_set (err, errno, "cannot resolve %s", parent_path);
    }
  cleanup_free char *dir = firec_xasprintf ("%s/%s", strcmp (real_parent, "/") == 0 ? "" : real_parent, base);

  cleanup_close int parent = open (real_parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (parent < 0)
    return firec_error_set (err, errno, "cannot open %s", real_parent);
  struct stat st;
  if (fstatat (parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      return firec_error_set (err, errno, "cannot stat %s", dir);
    }
  if (S_ISLNK (st.st_mode))
    return firec_error_set (err, ELOOP, "the directory %s is a symbolic link: not removing it", dir);
  if (!S_ISDIR (st.st_mode))
    return firec_error_set (err, ENOTDIR, "%s is not a directory: not removing it", dir);

  cleanup_close int dir_fd = openat (parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0)
    return firec_error_set (err, errno, "cannot open %s", dir);
  if (detach_mounts_below (dir_fd, dir, err) < 0)
    return -1;
  if (firec_jailfs_remove_contents (dir_fd, dir, err) < 0)
    return -1;
  if (unlinkat (parent, base, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return firec_error_set (err, errno, "cannot remove %s", dir);
  return 0;
}
