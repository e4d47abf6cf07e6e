/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "hostpath.h"
#include "stage.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

/* As the kernel's limit on symbolic links in one lookup. */
#define MAX_SYMLINKS 40

/* One lookup on the way to a query's path: a name in a directory. */
struct lookup
{
  size_t query;
  char *dir; /* as reached, for messages */
  struct stat dir_st;
  char *name; /* NULL: a new name is made there */
  bool found; /* the name is there: entry_st is what lstat says of it */
  struct stat entry_st;
  bool run; /* the file root runs */
};

struct walk
{
  struct lookup *items;
  size_t count;
};

static void
walk_release (struct walk *w)
{
  for (size_t i = 0; i < w->count; i++)
    {
      free (w->items[i].dir);
      free (w->items[i].name);
    }
  free (w->items);
}

static struct lookup *
add_lookup (struct walk *w, size_t query, const char *dir, const struct stat *dir_st)
{
  w->items = firec_xrealloc (w->items, (w->count + 1) * sizeof *w->items);
  struct lookup *l = &w->items[w->count++];
  *l = (struct lookup){ .query = query, .dir = firec_xstrdup (dir), .dir_st = *dir_st };
  return l;
}

static char *
join (const char *dir, const char *name, size_t len)
{
  return firec_xasprintf ("%s%s%.*s", dir, strcmp (dir, "/") == 0 ? "" : "/", (int) len, name);
}

/* The path to walk on from a symbolic link at link (in dir) with rest after it. */
static char *
through_link (const char *dir, const char *link, const char *rest, char **problem)
{
  char target[PATH_MAX];
  ssize_t n = readlink (link, target, sizeof target - 1);
  if (n < 0)
    {
      *problem = firec_xasprintf ("cannot read the symbolic link %s: %s", link, strerror (errno));
      return NULL;
    }
  target[n] = '\0';
  cleanup_free char *start = target[0] == '/' ? firec_xstrdup (target) : join (dir, target, (size_t) n);
  return *rest ? firec_xasprintf ("%s/%s", start, rest) : steal_pointer (&start);
}

/* Adds the lookups on the way to path to w, component by component, as the
   kernel makes them; a symbolic link is followed by walking its target (then
   the rest) from the top. Stops where a name is missing. *problem: what
   could not be inspected. */
static void
walk_path (struct walk *w, size_t query, const char *start, enum firec_hostpath_use use, char **problem)
{
  cleanup_free char *path = firec_xstrdup (start);
  cleanup_free char *dir = firec_xstrdup ("/");
  const char *p = path;
  for (unsigned links = 0;;)
    {
      p += strspn (p, "/");
      size_t n = strcspn (p, "/");
      const char *rest = p + n + strspn (p + n, "/");
      struct stat dir_st;
      if (n == 0 || (n == 1 && p[0] == '.'))
        {
          if (n == 0)
            return;
          p = rest;
          continue;
        }
      if (stat (dir, &dir_st) < 0)
        {
          /* (Found a moment ago: gone now is someone renaming it.) */
          *problem = errno == ENOENT ? firec_xasprintf ("%s went away while firec-run looked at it; run again", dir)
                                     : firec_xasprintf ("cannot inspect %s: %s", dir, strerror (errno));
          return;
        }
      struct lookup *l = add_lookup (w, query, dir, &dir_st);
      if (*rest == '\0' && use == FIREC_HOSTPATH_NEW_NAME)
        return;
      l->name = firec_xstrndup (p, n);
      cleanup_free char *next = join (dir, p, n);
      if (lstat (next, &l->entry_st) < 0)
        {
          if (errno != ENOENT)
            *problem = firec_xasprintf ("cannot inspect %s: %s", next, strerror (errno));
          return;
        }
      l->found = true;
      if (S_ISLNK (l->entry_st.st_mode))
        {
          char *further = ++links > MAX_SYMLINKS ? NULL : through_link (dir, next, rest, problem);
          if (further == NULL)
            {
              if (*problem == NULL)
                *problem = firec_xasprintf ("more than %d symbolic links on the way to %s", MAX_SYMLINKS, start);
              return;
            }
          free (path);
          path = further;
          p = path;
          free (dir);
          dir = firec_xstrdup ("/");
          continue;
        }
      l->run = *rest == '\0' && use == FIREC_HOSTPATH_RUN;
      free (dir);
      dir = steal_pointer (&next);
      p = rest;
    }
}

/* ------------------------------------------------------------------ the VM's rights */

/* Whether the kernel must be asked about an inode: one not of the VM's uid
   whose mode lets someone besides its owner write it. (With an ACL the group
   bits are its mask, which bounds every named user and group: no write
   there, no write for anyone but the owner.) */
static bool
needs_asking (const struct stat *st, uid_t uid)
{
  return st->st_uid != uid && (st->st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

/* The kernel's verdicts on the inodes the modes leave open, all from one
   child that becomes uid:gid (stage.h). Not root, we cannot become them:
   then the mode bits answer alone (asked false). */
struct rights
{
  struct firec_access *items;
  size_t count;
  bool asked;
};

/* Opens path (O_PATH) for asking when st is an inode to ask about, once. */
static void
add_question (int *fds, size_t *n, struct stat *asked, const char *path, const struct stat *st, uid_t uid)
{
  if (!needs_asking (st, uid))
    return;
  for (size_t i = 0; i < *n; i++)
    if (asked[i].st_dev == st->st_dev && asked[i].st_ino == st->st_ino)
      return;
  int fd = open (path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return; /* gone meanwhile: not known, so assumed writable */
  asked[*n] = *st;
  fds[(*n)++] = fd;
}

static int
ask_kernel (const struct walk *w, uid_t uid, gid_t gid, struct rights *ret, firec_error_t *err)
{
  *ret = (struct rights){ .asked = geteuid () == 0 };
  if (!ret->asked)
    return 0;
  int *fds = firec_xcalloc (2 * w->count + 1, sizeof *fds);
  struct stat *asked = firec_xcalloc (2 * w->count + 1, sizeof *asked);
  size_t n = 0;
  for (size_t i = 0; i < w->count; i++)
    {
      const struct lookup *l = &w->items[i];
      add_question (fds, &n, asked, l->dir, &l->dir_st, uid);
      if (l->run)
        {
          cleanup_free char *file = join (l->dir, l->name, strlen (l->name));
          add_question (fds, &n, asked, file, &l->entry_st, uid);
        }
    }
  ret->items = firec_xcalloc (n + 1, sizeof *ret->items);
  int rc = n ? firec_stage_check_access (fds, n, uid, gid, ret->items, err) : 0;
  if (rc == 0)
    ret->count = n;
  for (size_t i = 0; i < n; i++)
    close (fds[i]);
  free (fds);
  free (asked);
  return rc;
}

/* Whether uid:gid may change the inode st: its names (a directory) or its
   bytes (a file). */
static bool
vm_may_write (const struct rights *r, const struct stat *st, uid_t uid, gid_t gid)
{
  if (st->st_uid == uid)
    return true;
  if (!needs_asking (st, uid))
    return false;
  if (!r->asked)
    return (st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid == gid);
  for (size_t i = 0; i < r->count; i++)
    if (r->items[i].dev == st->st_dev && r->items[i].ino == st->st_ino)
      return r->items[i].modify_errno == 0;
  return true; /* not asked (gone meanwhile): assume the worst */
}

/* ------------------------------------------------------------------ verdicts */

/* Why the VM's uid could redirect the lookup l, or NULL. */
static char *
lookup_problem (const struct lookup *l, const struct rights *r, uid_t uid, gid_t gid)
{
  if (l->dir_st.st_uid == uid)
    return firec_xasprintf ("%s, a directory on the way, belongs to the VM's uid %u", l->dir, (unsigned) uid);
  if (vm_may_write (r, &l->dir_st, uid, gid))
    {
      bool sticky = (l->dir_st.st_mode & S_ISVTX) != 0;
      if (!sticky)
        return firec_xasprintf ("%s, a directory on the way, is writable by the VM's uid %u or gid %u", l->dir,
                                (unsigned) uid, (unsigned) gid);
      /* Sticky: the VM's uid adds names there, and renames its own. A name
         missing there now can be its own next: it may have renamed its own
         away for the moment of this lookup, to bring it back before use. */
      if (l->name && !l->found)
        return firec_xasprintf ("%s%s%s is missing from %s, which the VM's uid %u can write (sticky): it could put "
                                "a name of its own there",
                                l->dir, strcmp (l->dir, "/") == 0 ? "" : "/", l->name, l->dir, (unsigned) uid);
      if (l->found && l->entry_st.st_uid == uid)
        return firec_xasprintf ("%s%s%s belongs to the VM's uid %u, which may rename it in %s (sticky, but "
                                "writable by it)",
                                l->dir, strcmp (l->dir, "/") == 0 ? "" : "/", l->name, (unsigned) uid, l->dir);
    }
  if (l->run && vm_may_write (r, &l->entry_st, uid, gid))
    return firec_xasprintf ("%s%s%s, which root runs, can be written by the VM's uid %u or gid %u", l->dir,
                            strcmp (l->dir, "/") == 0 ? "" : "/", l->name, (unsigned) uid, (unsigned) gid);
  return NULL;
}

int
firec_hostpath_check (struct firec_hostpath_query *queries, size_t count, uid_t uid, gid_t gid, firec_error_t *err)
{
  struct walk w = { 0 };
  for (size_t i = 0; i < count; i++)
    {
      queries[i].problem = NULL;
      walk_path (&w, i, queries[i].path, queries[i].use, &queries[i].problem);
    }
  struct rights rights;
  int rc = ask_kernel (&w, uid, gid, &rights, err);
  for (size_t i = 0; rc == 0 && i < w.count; i++)
    {
      struct firec_hostpath_query *q = &queries[w.items[i].query];
      if (q->problem == NULL)
        q->problem = lookup_problem (&w.items[i], &rights, uid, gid);
    }
  free (rights.items);
  walk_release (&w);
  return rc;
}

void
firec_hostpath_release (struct firec_hostpath_query *queries, size_t count)
{
  for (size_t i = 0; i < count; i++)
    {
      free (queries[i].problem);
      queries[i].problem = NULL;
    }
}
