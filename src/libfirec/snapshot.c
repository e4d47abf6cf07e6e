/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "snapshot.h"
#include "fcapi.h"
#include "hostpath.h"
#include "jailfs.h"
#include "stage.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

#define API_TIMEOUT_MS 10000L
/* Writing a large guest's memory out takes a while. */
#define CREATE_TIMEOUT_MS (30L * 60 * 1000)

/* What Firecracker writes in the private directory. */
#define STATE_NAME "vm.snap"
#define MEMORY_NAME "vm.mem"

struct destination
{
  const char *what; /* "the snapshot file" */
  const char *path; /* as given */
  char *name;       /* its last component */
  int dir_fd;       /* O_PATH of its directory */
  struct stat dir_st;
  bool exists;
  struct stat st;     /* the file there now, when it exists */
  char *tmp;          /* the result, under a temporary name in dir_fd until committed */
  struct stat result; /* that file's identity */
  bool committed;
};

static void
destination_release (struct destination *d)
{
  if (d->tmp && !d->committed)
    unlinkat (d->dir_fd, d->tmp, 0);
  if (d->dir_fd >= 0)
    close (d->dir_fd);
  free (d->name);
  free (d->tmp);
}

static bool
same_inode (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* ------------------------------------------------------------------ destinations */

static int
open_destination (const struct firec_snapshot_request *rq, struct destination *d, firec_error_t *err)
{
  const char *slash = strrchr (d->path, '/');
  const char *base = slash ? slash + 1 : d->path;
  if (*base == '\0' || strcmp (base, ".") == 0 || strcmp (base, "..") == 0)
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s \"%s\" must name a file", d->what, d->path);
  d->name = firec_xstrdup (base);
  cleanup_free char *dir = slash == NULL      ? firec_xstrdup (".")
                           : slash == d->path ? firec_xstrdup ("/")
                                              : firec_xstrndup (d->path, (size_t) (slash - d->path));
  /* The user's own path: symlinks in it are the user's choice (and none is
     the VM's: check_reach). */
  d->dir_fd = open (dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (d->dir_fd < 0 || fstat (d->dir_fd, &d->dir_st) < 0)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot use %s, the directory of %s %s", dir,
                                 d->what, d->path);
  cleanup_free char *proc = firec_jailfs_proc_path (d->dir_fd);
  if (faccessat (AT_FDCWD, proc, W_OK | X_OK, AT_EACCESS) < 0)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot write %s in %s", d->what, dir);
  if (fstatat (d->dir_fd, d->name, &d->st, AT_SYMLINK_NOFOLLOW) < 0)
    {
      if (errno != ENOENT)
        return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, errno, "cannot inspect %s", d->path);
      return 0;
    }
  d->exists = true;
  if (!rq->force)
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s %s exists: a snapshot never overwrites a file; choose another path, remove it, "
                                 "or pass --force to replace it (by rename: the old file is never written to)",
                                 d->what, d->path);
  if (!S_ISREG (d->st.st_mode))
    return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s %s exists and is not a regular file: not replacing it", d->what, d->path);
  return 0;
}

/* A snapshot is made, renamed and (--force) replaces a file in each
   destination's directory: never where the VM's uid could swap a name on the
   way (hostpath.h). Without the jailer there is no such uid. */
static int
check_reach (const struct firec_snapshot_request *rq, const struct destination *dest, firec_error_t *err)
{
  if (rq->vmm_uid == geteuid ())
    return 0;
  cleanup_free char *cwd = getcwd (NULL, 0);
  char *paths[2];
  struct firec_hostpath_query q[2];
  for (int i = 0; i < 2; i++)
    {
      paths[i] = dest[i].path[0] == '/' || cwd == NULL ? firec_xstrdup (dest[i].path)
                                                       : firec_xasprintf ("%s/%s", cwd, dest[i].path);
      q[i] = (struct firec_hostpath_query){ paths[i], FIREC_HOSTPATH_NEW_NAME, NULL };
    }
  int rc = firec_hostpath_check (q, 2, rq->vmm_uid, rq->vmm_gid, err);
  for (int i = 0; rc == 0 && i < 2; i++)
    if (q[i].problem)
      rc = firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                 "%s %s: %s: a snapshot is never put where the VM can swap names", dest[i].what,
                                 dest[i].path, q[i].problem);
  firec_hostpath_release (q, 2);
  free (paths[0]);
  free (paths[1]);
  return rc;
}

static int
check_destinations (const struct firec_snapshot_request *rq, struct destination *dest, firec_error_t *err)
{
  if (check_reach (rq, dest, err) < 0)
    return -1;
  for (int i = 0; i < 2; i++)
    if (open_destination (rq, &dest[i], err) < 0)
      return -1;
  if ((same_inode (&dest[0].dir_st, &dest[1].dir_st) && strcmp (dest[0].name, dest[1].name) == 0)
      || (dest[0].exists && dest[1].exists && same_inode (&dest[0].st, &dest[1].st)))
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s %s and %s %s are the same file: give two paths",
                                 dest[0].what, dest[0].path, dest[1].what, dest[1].path);
  for (int i = 0; i < 2; i++)
    for (size_t j = 0; dest[i].exists && j < rq->input_count; j++)
      {
        struct stat st;
        if (stat (rq->inputs[j], &st) == 0 && same_inode (&st, &dest[i].st))
          return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                       "%s %s is %s, a file the VM uses: a snapshot never replaces it", dest[i].what,
                                       dest[i].path, rq->inputs[j]);
      }
  return 0;
}

/* ------------------------------------------------------------------ the API */

/* Through the walker, so that a socket the jail uid swapped for a symlink
   never gets our requests elsewhere. *sock stays open while the client is. */
static int
open_api (const struct firec_snapshot_request *rq, int root, int *sock, struct firec_fcapi **api, firec_error_t *err)
{
  if (firec_jailfs_open_socket (root, rq->vm_root, rq->api_socket, sock, err) < 0)
    return -1;
  cleanup_free char *path = firec_jailfs_proc_path (*sock);
  return firec_fcapi_open (path, api, err);
}

static int
vm_state (struct firec_fcapi *api, char **state, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  if (firec_fcapi_call (api, "GET", "/", NULL, API_TIMEOUT_MS, &resp, err) < 0)
    return -1;
  cleanup_cjson cJSON *vm = cJSON_Parse (resp.body);
  const char *s = firec_json_string (vm, "state");
  *state = firec_xstrdup (s ? s : "?");
  return 0;
}

static int
set_state (struct firec_fcapi *api, const char *state, firec_error_t *err)
{
  cleanup_free char *body = firec_xasprintf ("{\"state\":\"%s\"}", state);
  return firec_fcapi_call (api, "PATCH", "/vm", body, API_TIMEOUT_MS, NULL, err);
}

static int
put_create (const struct firec_snapshot_request *rq, struct firec_fcapi *api, const char *dir_name, firec_error_t *err)
{
  cleanup_free char *dir = firec_xasprintf ("%s/%s", rq->chrooted ? "" : rq->vm_root, dir_name);
  cleanup_free char *state = firec_xasprintf ("%s/" STATE_NAME, dir);
  cleanup_free char *memory = firec_xasprintf ("%s/" MEMORY_NAME, dir);
  cleanup_cjson cJSON *body = cJSON_CreateObject ();
  cJSON_AddStringToObject (body, "snapshot_type", rq->diff ? "Diff" : "Full");
  cJSON_AddStringToObject (body, "snapshot_path", state);
  cJSON_AddStringToObject (body, "mem_file_path", memory);
  cleanup_free char *text = cJSON_PrintUnformatted (body);
  return firec_fcapi_call (api, "PUT", "/snapshot/create", text, CREATE_TIMEOUT_MS, NULL, err);
}

/* ------------------------------------------------------------------ taking the files out */

static const char *
file_type (mode_t mode)
{
  return S_ISDIR (mode)                     ? "a directory"
         : S_ISFIFO (mode)                  ? "a FIFO"
         : S_ISSOCK (mode)                  ? "a socket"
         : S_ISCHR (mode) || S_ISBLK (mode) ? "a device"
                                            : "not a regular file";
}

/* The file Firecracker left as name in the (locked) private directory, if it
   is what it should be: a regular file with no other name, the VM's. */
static int
open_result (const struct firec_snapshot_request *rq, int dir_fd, const char *name, const struct destination *d,
             struct stat *st, firec_error_t *err)
{
  cleanup_close int fd = firec_jailfs_open_component (dir_fd, name, O_PATH, 0, true, st);
  if (fd < 0 && errno == ELOOP)
    return firec_error_set (err, 0, "%s Firecracker wrote is not a regular file but a symbolic link: refusing it",
                            d->what);
  if (fd < 0)
    return firec_error_set (err, errno, "cannot open %s Firecracker wrote", d->what);
  if (!S_ISREG (st->st_mode))
    return firec_error_set (err, 0, "%s Firecracker wrote is not a regular file (%s): refusing it", d->what,
                            file_type (st->st_mode));
  if (st->st_nlink != 1)
    return firec_error_set (err, 0, "%s Firecracker wrote has %lu links: refusing a file with other names", d->what,
                            (unsigned long) st->st_nlink);
  if (st->st_uid != rq->vmm_uid)
    return firec_error_set (err, 0, "%s Firecracker wrote belongs to uid %u, not the VM's %u: refusing it", d->what,
                            (unsigned) st->st_uid, (unsigned) rq->vmm_uid);
  /* A regular file now, and the directory is locked: opening it for reading
     cannot block or reach anything else. */
  cleanup_free char *proc = firec_jailfs_proc_path (fd);
  int in = open (proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (in < 0)
    return firec_error_set (err, errno, "cannot read %s Firecracker wrote", d->what);
  return in;
}

/* A new file of root's next to d's path, under a temporary name, mode 0600,
   on disk, with the content of the result name of the private directory:
   never the jail's inode itself, which the VM's uid may still hold open and
   write (or grow) through after the snapshot. A reflink where the
   filesystem has them, else a copy with the holes kept; the jail's file
   goes with the private directory. */
static int
take_result (const struct firec_snapshot_request *rq, int dir_fd, const char *name, struct destination *d,
             firec_error_t *err)
{
  struct stat st;
  cleanup_close int in = open_result (rq, dir_fd, name, d, &st, err);
  if (in < 0)
    return -1;
  cleanup_close int out = firec_jailfs_create_temp (d->dir_fd, 0600, &d->tmp);
  if (out < 0)
    return firec_error_set (err, errno, "cannot create a file next to %s", d->path);
  if (firec_stage_clone (in, out, st.st_size, NULL, NULL) < 0 || fsync (out) < 0 || fstat (out, &d->result) < 0)
    return firec_error_set (err, errno, "cannot copy %s next to %s", d->what, d->path);
  struct stat now;
  if (fstatat (d->dir_fd, d->tmp, &now, AT_SYMLINK_NOFOLLOW) < 0 || !same_inode (&now, &d->result))
    return firec_error_set (err, errno, "%s changed while it was copied next to %s", d->what, d->path);
  return 0;
}

/* Has Firecracker write into a fresh private directory of the VM root, then
   takes both files out of it. The directory is removed whatever happened. */
static int
create_in_jail (const struct firec_snapshot_request *rq, int root, struct firec_fcapi *api, struct destination *dest,
                firec_error_t *err)
{
  cleanup_close int dir = -1;
  cleanup_free char *dir_name = NULL;
  if (firec_jailfs_make_private_dir (root, ".firec-snapshot-", rq->vmm_uid, rq->vmm_gid, &dir, &dir_name, err) < 0)
    return -1;
  int rc = put_create (rq, api, dir_name, err);
  /* Locked: from now on the VM's uid can neither add nor swap a name in it. */
  if (rc == 0 && (firec_jailfs_chown (dir, geteuid (), getegid ()) < 0 || fchmod (dir, 0700) < 0))
    rc = firec_error_set (err, errno, "cannot take back the snapshot directory %s of the VM root", dir_name);
  if (rc == 0)
    rc = take_result (rq, dir, MEMORY_NAME, &dest[1], err);
  if (rc == 0)
    rc = take_result (rq, dir, STATE_NAME, &dest[0], err);
  cleanup_error firec_error_t rm_err = NULL;
  if (firec_jailfs_remove_dir (root, dir_name, dir, &rm_err) < 0)
    {
      firec_error_prefix (&rm_err, "cannot remove the snapshot directory from the VM root");
      if (err && *err == NULL)
        *err = steal_pointer (&rm_err);
      rc = -1;
    }
  return rc;
}

/* ------------------------------------------------------------------ into place */

static int
commit (const struct firec_snapshot_request *rq, struct destination *d, firec_error_t *err)
{
  int rc = rq->force ? renameat (d->dir_fd, d->tmp, d->dir_fd, d->name)
                     : firec_jailfs_rename_noreplace (d->dir_fd, d->tmp, d->dir_fd, d->name);
  if (rc < 0 && errno == EEXIST)
    return firec_error_set (err, 0, "%s %s appeared meanwhile: not replacing it", d->what, d->path);
  if (rc < 0)
    return firec_error_set (err, errno, "cannot rename %s into place as %s", d->what, d->path);
  d->committed = true;
  return 0;
}

/* The memory file first: the state file names a complete pair. */
static int
commit_both (const struct firec_snapshot_request *rq, struct destination *dest, firec_error_t *err)
{
  if (commit (rq, &dest[1], err) < 0)
    return -1;
  if (commit (rq, &dest[0], err) == 0)
    return 0;
  struct stat st;
  if (!dest[1].exists && fstatat (dest[1].dir_fd, dest[1].name, &st, AT_SYMLINK_NOFOLLOW) == 0
      && same_inode (&st, &dest[1].result))
    unlinkat (dest[1].dir_fd, dest[1].name, 0);
  else
    firec_error_prefix (err, "%s %s was replaced, but", dest[1].what, dest[1].path);
  return -1;
}

int
firec_snapshot_create (const struct firec_snapshot_request *rq, bool *paused, firec_error_t *err)
{
  struct destination dest[2] = {
    { .what = "the snapshot file", .path = rq->snapshot_path, .dir_fd = -1 },
    { .what = "the memory file", .path = rq->mem_path, .dir_fd = -1 },
  };
  cleanup_close int root = -1, sock = -1;
  cleanup_fcapi struct firec_fcapi *api = NULL;
  cleanup_free char *state = NULL;
  int rc = check_destinations (rq, dest, err);
  if (rc == 0)
    {
      root = open (rq->vm_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (root < 0)
        rc = firec_error_set (err, errno, "cannot open the VM root %s", rq->vm_root);
    }
  if (rc == 0)
    rc = open_api (rq, root, &sock, &api, err);
  if (rc == 0)
    rc = vm_state (api, &state, err);
  bool running = rc == 0 && strcmp (state, "Running") == 0;
  if (rc == 0 && !running && strcmp (state, "Paused") != 0)
    rc = firec_error_set (err, 0, "the VM is not started (Firecracker says \"%s\")", state);
  bool paused_here = false;
  if (rc == 0 && running)
    {
      rc = set_state (api, "Paused", err);
      paused_here = rc == 0;
    }
  if (rc == 0)
    rc = create_in_jail (rq, root, api, dest, err);
  if (rc == 0)
    rc = commit_both (rq, dest, err);
  /* Resumed after a failure too: it was running when we came. */
  bool resumed = false;
  if (paused_here && !rq->keep_paused)
    {
      cleanup_error firec_error_t resume_err = NULL;
      resumed = set_state (api, "Resumed", &resume_err) == 0;
      if (!resumed)
        {
          firec_error_prefix (&resume_err, "%sthe VM stays paused", rc == 0 ? "the snapshot was written, but " : "");
          if (err && *err == NULL)
            *err = steal_pointer (&resume_err);
          rc = -1;
        }
    }
  if (paused)
    *paused = (paused_here && !resumed) || (state && strcmp (state, "Paused") == 0);
  for (int i = 0; i < 2; i++)
    destination_release (&dest[i]);
  return rc;
}
