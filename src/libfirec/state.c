#include "config.h"

#include "state.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *
lock_path (const char *state_dir)
{
  return firec_xasprintf ("%s.lock", state_dir);
}

static int
make_parent (const char *path, firec_error_t *err)
{
  cleanup_free char *copy = firec_xstrdup (path);
  char *parent = dirname (copy);
  /* mkdir -p, root-only: the state of every VM lives below. */
  for (char *p = parent + 1; *p; p++)
    if (*p == '/')
      {
        *p = '\0';
        if (mkdir (parent, 0755) < 0 && errno != EEXIST)
          return firec_error_set (err, errno, "cannot create %s", parent);
        *p = '/';
      }
  if (mkdir (parent, 0700) < 0 && errno != EEXIST)
    return firec_error_set (err, errno, "cannot create %s", parent);
  return 0;
}

static pid_t
read_holder (int fd)
{
  char buf[32] = { 0 };
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
  return n > 0 ? (pid_t) strtol (buf, NULL, 10) : 0;
}

int
firec_state_lock (const char *state_dir, long timeout_ms, int *lock_fd, firec_error_t *err)
{
  if (make_parent (state_dir, err) < 0)
    return -1;
  cleanup_free char *path = lock_path (state_dir);
  cleanup_close int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot open the lock %s", path);
  long long start = firec_now_ms ();
  while (flock (fd, LOCK_EX | LOCK_NB) < 0)
    {
      if (errno != EWOULDBLOCK)
        return firec_error_set (err, errno, "cannot lock %s", path);
      if (timeout_ms >= 0 && firec_now_ms () - start >= timeout_ms)
        {
          pid_t holder = read_holder (fd);
          if (holder > 0)
            return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0,
                                         "%s is locked by another firec-run (pid %ld); wait for it, or pass "
                                         "--lock-timeout",
                                         state_dir, (long) holder);
          return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "%s is locked by another firec-run", state_dir);
        }
      /* flock has no timed wait; a short poll interval keeps the wait bounded. */
      poll (NULL, 0, 20);
    }
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%ld\n", (long) getpid ());
  if (ftruncate (fd, 0) < 0 || pwrite (fd, buf, (size_t) n, 0) != n)
    return firec_error_set (err, errno, "cannot write %s", path);
  *lock_fd = steal_fd (&fd);
  return 0;
}

int
firec_state_lock_held (const char *state_dir, pid_t *holder, firec_error_t *err)
{
  cleanup_free char *path = lock_path (state_dir);
  *holder = 0;
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      if (errno == ENOENT)
        return 0;
      return firec_error_set (err, errno, "cannot open the lock %s", path);
    }
  if (flock (fd, LOCK_SH | LOCK_NB) == 0)
    return 0; /* closing fd releases it */
  if (errno != EWOULDBLOCK)
    return firec_error_set (err, errno, "cannot test the lock %s", path);
  *holder = read_holder (fd);
  return 1;
}

int
firec_state_make_dir (const char *state_dir, firec_error_t *err)
{
  if (make_parent (state_dir, err) < 0)
    return -1;
  if (mkdir (state_dir, 0700) < 0 && errno != EEXIST)
    return firec_error_set (err, errno, "cannot create the state directory %s", state_dir);
  return 0;
}

int
firec_state_write (const char *state_dir, const cJSON *record, firec_error_t *err)
{
  cleanup_free char *text = cJSON_Print (record);
  cleanup_free char *tmp = firec_xasprintf ("%s/.state.json.tmp", state_dir);
  cleanup_free char *final = firec_xasprintf ("%s/state.json", state_dir);
  cleanup_close int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot write %s", tmp);
  size_t len = strlen (text);
  /* No fsync: the rename makes the update atomic for every reader, and what the
     record describes (processes, a jail) cannot outlive a crash of the host
     anyway; a record damaged by one is read as stale (firec_state_read). It
     saves a disk flush on each of the three writes of a start where /run is
     not a tmpfs. */
  if (write (fd, text, len) != (ssize_t) len || write (fd, "\n", 1) != 1)
    {
      int saved = errno;
      unlink (tmp);
      return firec_error_set (err, saved, "cannot write %s", tmp);
    }
  if (rename (tmp, final) < 0)
    {
      int saved = errno;
      unlink (tmp);
      return firec_error_set (err, saved, "cannot rename %s to %s", tmp, final);
    }
  return 0;
}

int
firec_state_read (const char *state_dir, cJSON **record, firec_error_t *err)
{
  cleanup_free char *path = firec_xasprintf ("%s/state.json", state_dir);
  cleanup_free char *text = NULL;
  size_t len;
  *record = NULL;
  if (firec_read_file (path, 1 << 20, &text, &len) < 0)
    {
      if (errno == ENOENT || errno == ENOTDIR)
        return 0;
      return firec_error_set (err, errno, "cannot read %s", path);
    }
  *record = cJSON_ParseWithLength (text, len);
  if (*record == NULL)
    return firec_error_set_errno (err, EBADMSG, "%s is damaged: not valid JSON", path);
  return 0;
}

int
firec_state_remove (const char *state_dir, firec_error_t *err)
{
  DIR *d = opendir (state_dir);
  if (d == NULL)
    {
      if (errno == ENOENT)
        return 0;
      return firec_error_set (err, errno, "cannot open %s", state_dir);
    }
  int rc = 0;
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    {
      if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
        continue;
      /* The state directory holds plain files only (state.json, its temporary). */
      if (unlinkat (dirfd (d), e->d_name, 0) < 0 && errno != ENOENT)
        rc = firec_error_set (err, errno, "cannot remove %s/%s", state_dir, e->d_name);
    }
  closedir (d);
  if (rc == 0 && rmdir (state_dir) < 0 && errno != ENOENT)
    rc = firec_error_set (err, errno, "cannot remove %s", state_dir);
  return rc;
}
