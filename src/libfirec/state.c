/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "state.h"
#include "jailfs.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

char *
firec_state_root (void)
{
  /* FIREC_STATE_DIR moves all state (hosts without a writable /run, tests). */
  const char *dir = getenv ("FIREC_STATE_DIR");
  if (dir && dir[0] == '/')
    {
      char *root = firec_xstrdup (dir);
      for (size_t n = strlen (root); n > 1 && root[n - 1] == '/'; n--)
        root[n - 1] = '\0';
      return root;
    }
  if (geteuid () == 0)
    return firec_xstrdup ("/run/firec");
  const char *runtime = getenv ("XDG_RUNTIME_DIR");
  if (runtime && runtime[0] == '/')
    return firec_xasprintf ("%s/firec", runtime);
  /* Not a predictable name in /tmp, which another user could create first. */
  const char *cache = getenv ("XDG_CACHE_HOME");
  if (cache && cache[0] == '/')
    return firec_xasprintf ("%s/firec/state", cache);
  const char *home = getenv ("HOME");
  return firec_xasprintf ("%s/.cache/firec/state", home && home[0] == '/' ? home : "/nonexistent");
}

char *
firec_state_dir_for (const char *name)
{
  cleanup_free char *root = firec_state_root ();
  return firec_xstrjoin (strcmp (root, "/") == 0 ? "" : root, "/", name, NULL);
}

/* Whether what fd names may be believed: ours (or root's), of the expected
   type, and writable by nobody else. Anyone who could write it could plant a
   record naming a directory for us to remove, or a pid for us to kill. */
static int
check_trusted (int fd, const char *path, bool dir, firec_error_t *err)
{
  struct stat st;
  if (fstat (fd, &st) < 0)
    return firec_error_set (err, errno, "cannot stat %s", path);
  if (dir ? !S_ISDIR (st.st_mode) : !S_ISREG (st.st_mode))
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s is not a %s: refusing to use it as firec-run state", path,
                                 dir ? "directory" : "regular file");
  if (st.st_uid != geteuid () && st.st_uid != 0)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s belongs to uid %u, not to you (uid %u) or root: refusing to trust the firec-run "
                                 "state in it; remove it if it is not yours, or give it to you with `chown %u %s`",
                                 path, (unsigned) st.st_uid, (unsigned) geteuid (), (unsigned) geteuid (), path);
  if (st.st_mode & 022)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s may be written by others (mode %04o): refusing to trust the firec-run state in "
                                 "it; fix it with `chmod go-w %s`",
                                 path, (unsigned) (st.st_mode & 07777), path);
  return 0;
}

/* One directory above the state root (or where it will be made). */
static int
check_trusted_above (int fd, const struct stat *st, const char *path, firec_error_t *err)
{
  if (st->st_uid == geteuid () || st->st_uid == 0)
    {
      if (!(st->st_mode & 022) || (st->st_mode & S_ISVTX))
        return 0;
      cleanup_free char *shown = firec_jailfs_describe (fd);
      return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                   "%s, above the state directory %s, may be written by others (mode %04o): "
                                   "refusing to trust the firec-run state in it; fix it with `chmod go-w %s`",
                                   shown, path, (unsigned) (st->st_mode & 07777), shown);
    }
  cleanup_free char *shown = firec_jailfs_describe (fd);
  return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                               "%s, above the state directory %s, belongs to uid %u, not to you (uid %u) or root: "
                               "refusing to trust the firec-run state in it; choose a state directory "
                               "(FIREC_STATE_DIR) below directories only you or root can write",
                               shown, path, (unsigned) st->st_uid, (unsigned) geteuid ());
}

/* Whether the directories above the state root may be believed too: a user
   who can write one of them can put another directory in the root's place.
   Each is ours or root's, and writable by nobody else unless sticky (then
   nobody else can rename what is ours or root's in it, as in /tmp). Walked
   up by ".." from fd, so the spelling of the path (symbolic links) does not
   matter; with self, fd's directory is one of them. */
static int
check_trusted_chain (int fd, const char *path, bool self, firec_error_t *err)
{
  cleanup_close int dir = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  struct stat here;
  if (dir < 0 || fstat (dir, &here) < 0)
    return firec_error_set (err, errno, "cannot check the directories above %s", path);
  if (self && check_trusted_above (dir, &here, path, err) < 0)
    return -1;
  for (;;)
    {
      struct stat up;
      cleanup_close int parent = openat (dir, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (parent < 0 || fstat (parent, &up) < 0)
        return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot check the directories above %s", path);
      if (here.st_dev == up.st_dev && here.st_ino == up.st_ino)
        return 0; /* the root directory */
      if (check_trusted_above (parent, &up, path, err) < 0)
        return -1;
      close (dir);
      dir = steal_fd (&parent);
      here = up;
    }
}

/* A state root not made yet: the directories it will be made in. */
static int
check_trusted_future (const char *root, firec_error_t *err)
{
  cleanup_free char *prefix = firec_xstrdup (root);
  for (char *slash = strrchr (prefix, '/'); slash; slash = strrchr (prefix, '/'))
    {
      *(slash == prefix ? slash + 1 : slash) = '\0';
      cleanup_close int fd = open (prefix, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd >= 0)
        return check_trusted_chain (fd, root, true, err);
      if (errno != ENOENT || slash == prefix)
        break;
    }
  return 0;
}

/* mkdir -p: parents 0755, the directory itself 0700. */
static int
make_dirs (const char *dir, firec_error_t *err)
{
  cleanup_free char *copy = firec_xstrdup (dir);
  for (char *p = strchr (copy + 1, '/'); p; p = strchr (p + 1, '/'))
    {
      *p = '\0';
      if (mkdir (copy, 0755) < 0 && errno != EEXIST)
        return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot create %s", copy);
      *p = '/';
    }
  if (mkdir (copy, 0700) < 0 && errno != EEXIST)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot create %s", copy);
  return 0;
}

int
firec_state_make_dir (const char *dir, firec_error_t *err)
{
  /* Nothing is made in a place someone else controls. */
  if (check_trusted_future (dir, err) < 0 || make_dirs (dir, err) < 0)
    return -1;
  cleanup_close int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot open %s", dir);
  return check_trusted (fd, dir, true, err);
}

int
firec_state_open (bool create, struct firec_state *st, firec_error_t *err)
{
  cleanup_free char *root = firec_state_root ();
  return firec_state_open_path (root, create, st, err);
}

int
firec_state_open_path (const char *root, bool create, struct firec_state *st, firec_error_t *err)
{
  st->root_fd = -1;
  st->root = firec_xstrdup (root);
  if (create && (check_trusted_future (st->root, err) < 0 || make_dirs (st->root, err) < 0))
    return -1;
  /* The root may be reached through symlinks (/var/run): what counts is the
     directory the fd names, and everything below is reached through it. */
  cleanup_close int fd = open (st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT && !create)
        return check_trusted_future (st->root, err);
      return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot open the state directory %s", st->root);
    }
  if (check_trusted (fd, st->root, true, err) < 0 || check_trusted_chain (fd, st->root, false, err) < 0)
    return -1;
  st->root_fd = steal_fd (&fd);
  return 0;
}

void
firec_state_close (struct firec_state *st)
{
  if (st->root_fd >= 0)
    close (st->root_fd);
  st->root_fd = -1;
  free (st->root);
  st->root = NULL;
}

static char *
shown (const struct firec_state *st, const char *name)
{
  return firec_xasprintf ("%s/%s", strcmp (st->root, "/") == 0 ? "" : st->root, name);
}

static pid_t
read_holder (int fd)
{
  char buf[32] = { 0 };
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
  return n > 0 ? (pid_t) strtol (buf, NULL, 10) : 0;
}

/* Whether fd is still the file the name names (its holder may have removed it
   between our open and our flock). */
static bool
still_named (int dir_fd, const char *name, int fd)
{
  struct stat a, b;
  return fstat (fd, &a) == 0 && fstatat (dir_fd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev
         && a.st_ino == b.st_ino;
}

static int
locked_error (const struct firec_state *st, const char *name, int fd, firec_error_t *err)
{
  pid_t holder = read_holder (fd);
  if (holder > 0)
    return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0,
                                 "%s is locked by another firec-run (pid %ld); wait for it, or pass --lock-timeout",
                                 name, (long) holder);
  (void) st;
  return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "%s is locked by another firec-run", name);
}

/* flock with a deadline (flock has no timed wait: a short poll interval keeps
   the wait bounded). 0 locked, 1 timed out, < 0 error. */
static int
flock_within (int fd, long timeout_ms)
{
  if (timeout_ms < 0)
    return flock (fd, LOCK_EX) == 0 ? 0 : -1;
  long long start = firec_now_ms ();
  while (flock (fd, LOCK_EX | LOCK_NB) < 0)
    {
      if (errno != EWOULDBLOCK)
        return -1;
      if (firec_now_ms () - start >= timeout_ms)
        return 1;
      poll (NULL, 0, 20);
    }
  return 0;
}

int
firec_state_lock_root (const struct firec_state *st, long timeout_ms, int *ret_fd, firec_error_t *err)
{
  /* An open of its own: flock belongs to the open file, not to root_fd. */
  cleanup_close int fd = openat (st->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot open the state directory %s", st->root);
  int rc = flock_within (fd, timeout_ms);
  if (rc < 0)
    return firec_error_set (err, errno, "cannot lock the state directory %s", st->root);
  if (rc > 0)
    return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "the state directory %s stayed locked for %ld ms", st->root,
                                 timeout_ms);
  *ret_fd = steal_fd (&fd);
  return 0;
}

int
firec_state_lock (const struct firec_state *st, const char *name, long timeout_ms, int *lock_fd, firec_error_t *err)
{
  cleanup_free char *file = firec_xasprintf ("%s.lock", name);
  cleanup_free char *path = shown (st, file);
  for (;;)
    {
      cleanup_close int fd = openat (st->root_fd, file, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0)
        return firec_error_set (err, errno, "cannot open the lock %s", path);
      if (check_trusted (fd, path, false, err) < 0)
        return -1;
      int rc = flock_within (fd, timeout_ms);
      if (rc < 0)
        return firec_error_set (err, errno, "cannot lock %s", path);
      if (rc > 0)
        return locked_error (st, name, fd, err);
      if (!still_named (st->root_fd, file, fd))
        continue; /* its holder removed the VM, and the lock with it: take the new one */
      char buf[32];
      int n = snprintf (buf, sizeof buf, "%ld\n", (long) getpid ());
      if (ftruncate (fd, 0) < 0 || pwrite (fd, buf, (size_t) n, 0) != n)
        return firec_error_set (err, errno, "cannot write %s", path);
      *lock_fd = steal_fd (&fd);
      return 0;
    }
}

/* Who holds the flock of the file st describes, from the kernel's lock table
   (/proc/locks: "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE ..."): 1 held
   (*holder), 0 not, -1 when there is no table to read. */
static int
lock_table_holder (const struct stat *st, pid_t *holder)
{
  cleanup_free char *locks = NULL;
  size_t len;
  if (firec_read_file ("/proc/locks", 16 << 20, &locks, &len) < 0)
    return -1;
  for (const char *line = locks; line && *line; line = strchr (line, '\n') ? strchr (line, '\n') + 1 : NULL)
    {
      int pid;
      unsigned maj, min;
      unsigned long long ino;
      if (sscanf (line, "%*d: FLOCK %*s %*s %d %x:%x:%llu", &pid, &maj, &min, &ino) == 4 && maj == major (st->st_dev)
          && min == minor (st->st_dev) && ino == (unsigned long long) st->st_ino)
        {
          *holder = (pid_t) pid;
          return 1;
        }
    }
  return 0;
}

int
firec_state_lock_held (const struct firec_state *st, const char *name, pid_t *holder, firec_error_t *err)
{
  *holder = 0;
  if (st->root_fd < 0)
    return 0;
  cleanup_free char *file = firec_xasprintf ("%s.lock", name);
  struct stat lk;
  if (fstatat (st->root_fd, file, &lk, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno == ENOENT)
        return 0;
      cleanup_free char *path = shown (st, file);
      return firec_error_set (err, errno, "cannot look at the lock %s", path);
    }
  /* Read, not tested by taking it: a LOCK_SH held for a moment would make a
     run taking the lock at that instant fail as "locked by another run". */
  int rc = lock_table_holder (&lk, holder);
  if (rc >= 0)
    return rc;
  cleanup_close int fd = openat (st->root_fd, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      cleanup_free char *path = shown (st, file);
      return firec_error_set (err, errno, "cannot open the lock %s", path);
    }
  if (flock (fd, LOCK_SH | LOCK_NB) == 0)
    return 0; /* closing fd releases it */
  if (errno != EWOULDBLOCK)
    {
      cleanup_free char *path = shown (st, file);
      return firec_error_set (err, errno, "cannot test the lock %s", path);
    }
  *holder = read_holder (fd);
  return 1;
}

void
firec_state_unlock_remove (const struct firec_state *st, const char *name, int lock_fd)
{
  if (lock_fd < 0)
    return;
  cleanup_free char *file = firec_xasprintf ("%s.lock", name);
  /* Unlinked while held: a waiter that then gets the old file sees that the
     name is gone (firec_state_lock) and opens the new one. */
  if (still_named (st->root_fd, file, lock_fd))
    unlinkat (st->root_fd, file, 0);
  close (lock_fd);
}

int
firec_state_make_vm_dir (const struct firec_state *st, const char *name, firec_error_t *err)
{
  if (mkdirat (st->root_fd, name, 0700) < 0 && errno != EEXIST)
    {
      cleanup_free char *path = shown (st, name);
      return firec_error_set (err, errno, "cannot create the state directory %s", path);
    }
  return 0;
}

int
firec_state_open_vm_dir (const struct firec_state *st, const char *name, int *dir_fd, firec_error_t *err)
{
  *dir_fd = -1;
  if (st->root_fd < 0)
    return 0;
  cleanup_free char *path = shown (st, name);
  cleanup_close int fd = openat (st->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      if (errno == ENOTDIR || errno == ELOOP)
        return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                     "%s is not a directory: refusing to use it as firec-run state", path);
      return firec_error_set (err, errno, "cannot open %s", path);
    }
  if (check_trusted (fd, path, true, err) < 0)
    return -1;
  *dir_fd = steal_fd (&fd);
  return 0;
}

int
firec_state_open_file (int dir_fd, const char *shown_dir, const char *file, int *fd_out, firec_error_t *err)
{
  *fd_out = -1;
  cleanup_free char *path = firec_xasprintf ("%s/%s", shown_dir, file);
  cleanup_close int fd = openat (dir_fd, file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return firec_error_set (err, errno, "cannot open %s", path);
    }
  if (check_trusted (fd, path, false, err) < 0)
    return -1;
  *fd_out = steal_fd (&fd);
  return 0;
}

int
firec_state_write_file (int dir_fd, const char *shown_dir, const char *file, const char *text, firec_error_t *err)
{
  cleanup_free char *tmp = firec_xasprintf (".%s.tmp", file);
  cleanup_close int fd = openat (dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot write %s/%s", shown_dir, tmp);
  size_t len = strlen (text);
  /* No fsync: the rename makes the update atomic for every reader, and what a
     record describes (processes, a jail) does not outlive a crash of the host;
     a record a crash damages anyway is an error that `rm` can finish. */
  if (write (fd, text, len) != (ssize_t) len)
    {
      int saved = errno ? errno : EIO;
      unlinkat (dir_fd, tmp, 0);
      return firec_error_set (err, saved, "cannot write %s/%s", shown_dir, tmp);
    }
  if (renameat (dir_fd, tmp, dir_fd, file) < 0)
    {
      int saved = errno;
      unlinkat (dir_fd, tmp, 0);
      return firec_error_set (err, saved, "cannot rename %s/%s to %s", shown_dir, tmp, file);
    }
  return 0;
}

int
firec_state_remove_vm_dir (const struct firec_state *st, const char *name, firec_error_t *err)
{
  cleanup_free char *path = shown (st, name);
  cleanup_close int fd = openat (st->root_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : firec_error_set (err, errno, "cannot open %s", path);
  DIR *d = fdopendir (fd);
  if (d == NULL)
    return firec_error_set (err, errno, "cannot list %s", path);
  fd = -1; /* the DIR owns it */
  int rc = 0;
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    {
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      /* Plain files only (the record, the manifest, logs): a VM root that is
         still here is the teardown's to remove, through the jail walker. */
      if (unlinkat (dirfd (d), e->d_name, 0) < 0 && errno != ENOENT)
        rc = firec_error_set (err, errno, "cannot remove %s/%s", path, e->d_name);
    }
  closedir (d);
  if (rc == 0 && unlinkat (st->root_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    rc = firec_error_set (err, errno, "cannot remove %s", path);
  return rc;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
firec_state_list (const struct firec_state *st, char ***names, size_t *count, firec_error_t *err)
{
  *names = firec_xcalloc (1, sizeof **names);
  *count = 0;
  if (st->root_fd < 0)
    return 0;
  int fd = openat (st->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd >= 0 ? fdopendir (fd) : NULL;
  if (d == NULL)
    {
      int e = errno;
      if (fd >= 0)
        close (fd);
      return firec_error_set (err, e, "cannot read %s", st->root);
    }
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    {
      struct stat sb;
      if (e->d_name[0] == '.' || fstatat (dirfd (d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR (sb.st_mode))
        continue;
      *names = firec_xrealloc (*names, (*count + 2) * sizeof **names);
      (*names)[(*count)++] = firec_xstrdup (e->d_name);
      (*names)[*count] = NULL;
    }
  closedir (d);
  if (*count)
    qsort (*names, *count, sizeof **names, compare_names);
  return 0;
}
