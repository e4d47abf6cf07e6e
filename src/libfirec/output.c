/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "output.h"
#include "jailfs.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A chain longer than this is not earlier runs' logs: refuse rather than rename
   them all. */
#define CHAIN_MAX 1000

int
firec_output_inspect (const char *path, struct stat *st)
{
  memset (st, 0, sizeof *st);
  struct stat link;
  if (lstat (path, &link) < 0)
    return errno == ENOENT ? FIREC_OUTPUT_ABSENT : -1;
  if (stat (path, st) < 0)
    {
      if (errno != ENOENT)
        return -1;
      *st = link; /* a symbolic link to nothing: the link moves aside */
      return FIREC_OUTPUT_ASIDE;
    }
  if (S_ISREG (st->st_mode))
    return FIREC_OUTPUT_ASIDE;
  if (S_ISFIFO (st->st_mode))
    return FIREC_OUTPUT_FIFO;
  return FIREC_OUTPUT_OTHER;
}

char *
firec_output_aside_name (const char *path, unsigned k)
{
  return k ? firec_xasprintf ("%s.%u", path, k) : firec_xstrdup (path);
}

/* The last component of path, and an O_PATH fd of its directory: every rename
   of one rotation happens in that one directory, whatever becomes of its name. */
static int
open_dir (const char *path, const char **name, firec_error_t *err)
{
  const char *slash = strrchr (path, '/');
  *name = slash ? slash + 1 : path;
  cleanup_free char *dir = slash == NULL   ? firec_xstrdup (".")
                           : slash == path ? firec_xstrdup ("/")
                                           : firec_xstrndup (path, (size_t) (slash - path));
  int fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    firec_error_set (err, errno, "cannot open %s, the directory of %s", dir, path);
  return fd;
}

/* The name of <path>.k in its directory. */
static char *
entry (const char *name, unsigned k)
{
  return firec_output_aside_name (name, k);
}

static bool
entry_exists (int dir, const char *name, unsigned k)
{
  cleanup_free char *e = entry (name, k);
  struct stat st;
  return fstatat (dir, e, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int
firec_output_chain (const char *path)
{
  cleanup_error firec_error_t ignored = NULL;
  const char *name;
  cleanup_close int dir = open_dir (path, &name, &ignored);
  if (dir < 0)
    return -1;
  unsigned count = 0;
  while (entry_exists (dir, name, count))
    if (++count > CHAIN_MAX)
      {
        errno = ELOOP;
        return -1;
      }
  return (int) count;
}

int
firec_output_rotate (const char *path, unsigned count, firec_error_t *err)
{
  const char *name;
  cleanup_close int dir = open_dir (path, &name, err);
  if (dir < 0)
    return -1;
  for (unsigned k = count; k-- > 0;)
    {
      cleanup_free char *from = entry (name, k);
      cleanup_free char *to = entry (name, k + 1);
      if (firec_jailfs_rename_noreplace (dir, from, dir, to) < 0 && errno != ENOENT)
        return firec_error_set (err, errno, "cannot move %s aside to %s.%u", k ? from : path, path, k + 1);
    }
  return 0;
}

int
firec_output_restore (const char *path, unsigned count, dev_t was_dev, ino_t was_ino, firec_error_t *err)
{
  const char *name;
  cleanup_close int dir = open_dir (path, &name, err);
  if (dir < 0)
    return -1;
  int rc = 0;
  for (unsigned k = 1; k <= count; k++)
    {
      cleanup_free char *from = entry (name, k);
      cleanup_free char *to = entry (name, k - 1);
      struct stat st;
      if (fstatat (dir, from, &st, AT_SYMLINK_NOFOLLOW) < 0 || entry_exists (dir, name, k - 1))
        continue;
      /* <path>.1 goes back only if the rotation moved it there: otherwise it
         is an earlier file still in its place, and <path> stays free. */
      if (k == 1 && (st.st_dev != was_dev || st.st_ino != was_ino))
        continue;
      if (firec_jailfs_rename_noreplace (dir, from, dir, to) < 0 && errno != ENOENT && rc == 0)
        {
          cleanup_free char *back = firec_output_aside_name (path, k - 1);
          rc = firec_error_set (err, errno, "cannot move %s.%u back to %s", path, k, back);
        }
    }
  return rc;
}

void
firec_output_trim (const char *path, unsigned count)
{
  cleanup_error firec_error_t ignored = NULL;
  const char *name;
  cleanup_close int dir = open_dir (path, &name, &ignored);
  if (dir < 0)
    return;
  for (unsigned k = FIREC_OUTPUT_KEEP + 1; k <= count; k++)
    {
      cleanup_free char *e = entry (name, k);
      struct stat st;
      if (fstatat (dir, e, &st, AT_SYMLINK_NOFOLLOW) == 0 && (S_ISREG (st.st_mode) || S_ISLNK (st.st_mode)))
        unlinkat (dir, e, 0);
    }
}
