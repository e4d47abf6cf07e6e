/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "teardown.h"
#include "cgroup.h"
#include "discover.h"
#include "net.h"
#include "output.h"
#include "stage.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long the VM's processes get to disappear after SIGKILL. */
#define KILL_TIMEOUT_MS 10000

/* Kills until the host shows nothing of the VM: a jailer killed mid-start may
   have forked its child a moment before, so look again after each round. */
static void
kill_everything (const struct firec_record *r, struct firec_buf *left, size_t *count)
{
  for (int round = 0; round < 3; round++)
    {
      struct firec_vm_procs procs = { 0 };
      cleanup_error firec_error_t err = NULL;
      if (firec_vm_find_processes (r, &procs, &err) < 0)
        {
          firec_buf_printf (left, "\n  - cannot look for the VM's processes: %s", err->message);
          (*count)++;
          return;
        }
      size_t found = procs.count;
      struct firec_buf survivors = { 0 };
      size_t n = firec_vm_procs_kill (&procs, KILL_TIMEOUT_MS, &survivors);
      firec_vm_procs_release (&procs);
      if (n)
        {
          firec_buf_puts (left, survivors.data);
          *count += n;
        }
      firec_buf_release (&survivors);
      if (found == 0 || n)
        return;
    }
}

static void
note (firec_error_t *e, struct firec_buf *left, size_t *count)
{
  firec_buf_printf (left, "\n  - %s", (*e)->message);
  (*count)++;
  firec_error_release (e);
}

/* An output this run created, and only while it is still that file: a user's
   file that took the name since is not ours. */
static bool
output_is_ours (const struct firec_record *r, const struct firec_record_output *o, const struct stat *st)
{
  if (!S_ISREG (st->st_mode) || o->not_ours)
    return false;
  if (o->dev || o->ino)
    return st->st_dev == o->dev && st->st_ino == o->ino;
  /* Named before it was made (firec-run died in between): ours only if it is
     what we would have made, an empty file of the VM's uid (or of firec-run's
     own, on a filesystem where it is chowned once made: stage.c), and not the
     file that was there (it may not have been moved aside yet). */
  if (o->moved && st->st_dev == o->was_dev && st->st_ino == o->was_ino)
    return false;
  return st->st_size == 0 && (st->st_uid == r->uid || st->st_uid == geteuid ());
}

/* The outputs the start created go, and what was moved aside for them comes
   back (output.h); the last one first, as they were made. */
static void
remove_outputs (const struct firec_record *r, struct firec_buf *left, size_t *count)
{
  for (size_t i = r->output_count; i-- > 0;)
    {
      const struct firec_record_output *o = &r->outputs[i];
      struct stat st;
      if (lstat (o->path, &st) == 0 && output_is_ours (r, o, &st) && unlink (o->path) < 0 && errno != ENOENT)
        {
          firec_buf_printf (left, "\n  - cannot remove %s: %s", o->path, strerror (errno));
          (*count)++;
          continue;
        }
      cleanup_error firec_error_t e = NULL;
      if (o->moved && firec_output_restore (o->path, o->moved, o->was_dev, o->was_ino, &e) < 0)
        note (&e, left, count);
    }
}

/* A TAP this run created, and only while it is still that device: one that
   someone removed and made again under the name is not ours (another ifindex,
   or not the VM's). Named before it was made (firec-run died in between): ours
   only if it is what we would have made, a persistent TAP of the VM's uid and
   gid, that no process has open (the VM's Firecracker never started, so one in
   use is another VM's of that name). */
static bool
tap_is_ours (const struct firec_record *r, const struct firec_record_tap *t, const struct firec_link *link)
{
  if (!link->tun_known || !link->tap || !link->has_owner || link->owner != r->uid || !link->has_group
      || link->group != r->gid)
    return false;
  return t->ifindex ? link->ifindex == t->ifindex : link->persist && link->queues == 0;
}

static int
remove_tap (const struct firec_record *r, const struct firec_record_tap *t, firec_error_t *err)
{
  cleanup_net struct firec_net *net = NULL;
  if (firec_net_open (t->netns, &net, err) < 0)
    {
      /* A namespace that is gone took its devices with it. */
      if (t->netns && (*err)->errno_value == ENOENT)
        {
          firec_error_release (err);
          return 0;
        }
      firec_error_prefix (err, "cannot remove the TAP %s", t->name);
      return -1;
    }
  /* A namespace made again under that name is not the one the TAP was made in. */
  if (t->netns && firec_net_ns_ino (net) != t->netns_ino)
    return 0;
  struct firec_link link;
  if (firec_net_link (net, t->name, 0, &link, err) < 0)
    return -1;
  if (!link.exists || !tap_is_ours (r, t, &link))
    return 0;
  return firec_net_link_delete (net, link.ifindex, err);
}

static void
remove_taps (const struct firec_record *r, struct firec_buf *left, size_t *count)
{
  for (size_t i = 0; i < r->tap_count; i++)
    {
      firec_error_t e = NULL;
      if (r->taps[i].owned && remove_tap (r, &r->taps[i], &e) < 0)
        note (&e, left, count);
    }
}

/* A jail the record names but the run may not have made (it died between
   the record and its mkdir, or right after): ours only while it is what that
   mkdir leaves, the jail and its empty root; anything more is another run's.
   rmdir removes only empty directories. */
static void
remove_unmade_jail (const struct firec_record *r)
{
  size_t len = strlen (r->jail_dir);
  cleanup_close int jail = open (r->jail_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (jail < 0)
    return;
  if (strncmp (r->vm_root, r->jail_dir, len) == 0 && r->vm_root[len] == '/'
      && strchr (r->vm_root + len + 1, '/') == NULL)
    unlinkat (jail, r->vm_root + len + 1, AT_REMOVEDIR);
  rmdir (r->jail_dir);
}

/* The VM's root: without the jailer its run directory, in the state
   directory; with it, the jail, when the run made it (record.h). */
static void
remove_root (const struct firec_record *r, struct firec_buf *left, size_t *count)
{
  firec_error_t e = NULL;
  if (!r->jailer || r->jail_dir == NULL)
    {
      if (firec_stage_remove_tree (r->vm_root, &e) < 0)
        note (&e, left, count);
      return;
    }
  switch (r->jail)
    {
    case FIREC_JAIL_MADE:
      if (firec_stage_remove_tree (r->jail_dir, &e) < 0)
        note (&e, left, count);
      return;
    case FIREC_JAIL_INTENDED:
      remove_unmade_jail (r);
      return;
    case FIREC_JAIL_NOT_OURS:
      return;
    }
}

static size_t
line_count (const char *lines)
{
  size_t n = 0;
  for (const char *l = lines; l && (l = strstr (l, "\n  - ")); l++)
    n++;
  return n;
}

static int
teardown (const struct firec_state *st, const struct firec_record *r, enum firec_teardown_kind kind,
          const char *unknown, int *lock_fd, firec_error_t *err)
{
  struct firec_buf left = { 0 };
  size_t count = 0;
  firec_error_t e = NULL;
  if (unknown)
    firec_buf_puts (&left, unknown);
  kill_everything (r, &left, &count);
  if (count == 0)
    remove_root (r, &left, &count);
  count += line_count (unknown);
  if (kind == FIREC_TEARDOWN_ROLLBACK)
    remove_outputs (r, &left, &count);
  /* After the kill: no VMM sees its device vanish under it. */
  remove_taps (r, &left, &count);
  if (firec_cgroup_remove (r->cgroup_dirs, false, &e) < 0)
    note (&e, &left, &count);
  else if (firec_cgroup_remove (r->cgroup_parents, true, &e) < 0)
    note (&e, &left, &count);
  if (count == 0 && firec_state_remove_vm_dir (st, r->name, &e) < 0)
    note (&e, &left, &count);
  if (count == 0)
    {
      firec_state_unlock_remove (st, r->name, *lock_fd);
      *lock_fd = -1;
      return 0;
    }
  firec_error_set_kind (err, FIREC_ERR_LEFTOVERS, 0, "%zu leftover%s of %s:%s", count, count == 1 ? "" : "s", r->name,
                        left.data);
  firec_buf_release (&left);
  return -1;
}

int
firec_teardown (const struct firec_state *st, const struct firec_record *r, enum firec_teardown_kind kind, int *lock_fd,
                firec_error_t *err)
{
  return teardown (st, r, kind, NULL, lock_fd, err);
}

int
firec_teardown_found (const struct firec_state *st, const struct firec_record *r, const char *unknown, int *lock_fd,
                      firec_error_t *err)
{
  return teardown (st, r, FIREC_TEARDOWN_END, unknown, lock_fd, err);
}
