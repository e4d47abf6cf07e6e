/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "update.h"
#include "fcapi.h"
#include "hostpath.h"
#include "jailfs.h"
#include "model.h"
#include "preflight.h"
#include "stage.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define API_TIMEOUT_MS 10000L

char *
firec_update_drive_vm_path (const char *drive_id, const char *host_path, bool jailed)
{
  if (!jailed)
    return firec_xstrdup (host_path);
  const char *slash = strrchr (host_path, '/');
  return firec_xasprintf ("/drives/%s/%s", drive_id, slash ? slash + 1 : host_path);
}

/* How errors name the new file: its field and position in the manifest,
   when there is one, and the drive. Malloc'ed. */
static char *
drive_where (const struct firec_drive_update *u)
{
  return u->where ? firec_xasprintf ("%s (drive %s)", u->where, u->drive_id)
                  : firec_xasprintf ("drive %s", u->drive_id);
}

/* What is at the place the new file goes: 0 nothing (*same false), the new
   file itself (*same true), or an error naming the other file there. */
static int
staged_place (const struct firec_drive_update *u, int root, const char *vm_path, bool *same, firec_error_t *err)
{
  *same = false;
  cleanup_close int parent = -1;
  cleanup_free char *name = NULL;
  if (firec_jailfs_open_parent (root, vm_path, FIREC_JAILFS_MISSING_OK | FIREC_JAILFS_NO_XDEV, NULL, &parent, &name,
                                err)
      < 0)
    return -1;
  struct stat there, wanted;
  if (parent < 0 || fstatat (parent, name, &there, AT_SYMLINK_NOFOLLOW) < 0)
    return 0;
  /* A bind mount shows the mounted file; a hard link is the file. */
  *same = S_ISREG (there.st_mode) && stat (u->host_path, &wanted) == 0 && there.st_dev == wanted.st_dev
          && there.st_ino == wanted.st_ino;
  if (*same)
    return 0;
  return firec_error_set_kind (err, FIREC_ERR_INVALID, 0,
                               "drive %s already has a file named %s in the jail; give the new file another name",
                               u->drive_id, name);
}

/* The new file as it is staged (where a start would have put it, so that a
   snapshot taken now restores with snapshot.drives naming it); release it
   with drive_file_release. */
static struct firec_file
drive_file (const struct firec_drive_update *u)
{
  return (struct firec_file){
    .role = FIREC_FILE_DRIVE,
    .host_path = firec_xstrdup (u->host_path),
    .vm_path = firec_update_drive_vm_path (u->drive_id, u->host_path, u->vm_root != NULL),
    .where = drive_where (u),
    .mode = FIREC_STAGING_AUTO,
    .writable = u->writable,
  };
}

static void
drive_file_release (struct firec_file *f)
{
  free (f->host_path);
  free (f->vm_path);
  free (f->where);
}

/* The identity of a drive's file as the VMM has it (path_on_host of GET
   /vm/config): beneath the jail root without following a link there (a bind
   mount shows the host's file, a hard link is it, a copy is another). */
static bool
live_identity (int root, const char *path, struct stat *ret)
{
  if (root < 0)
    return stat (path, ret) == 0;
  cleanup_close int parent = -1;
  cleanup_free char *name = NULL;
  cleanup_error firec_error_t ignored = NULL;
  return firec_jailfs_open_parent (root, path, FIREC_JAILFS_NO_XDEV, NULL, &parent, &name, &ignored) == 0 && parent >= 0
         && fstatat (parent, name, ret, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Another drive of this VM that has the new file now, one of the two
   writable: written through two block devices (two caches) it is lost, and a
   start refuses that too (preflight.c). */
static int
check_other_drives (const struct firec_drive_update *u, firec_error_t *err)
{
  struct stat wanted;
  if (stat (u->host_path, &wanted) < 0)
    return 0; /* (the file's own check says why) */
  cleanup_close int sock = -1;
  cleanup_close int root = u->vm_root ? open (u->vm_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
  cleanup_fcapi struct firec_fcapi *api = NULL;
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  if (firec_update_open_api (u->vm_root, u->api_socket, &sock, &api, err) < 0
      || firec_fcapi_call (api, "GET", "/vm/config", NULL, API_TIMEOUT_MS, &resp, err) < 0)
    return -1;
  cleanup_cjson cJSON *config = cJSON_Parse (resp.body);
  const cJSON *d;
  cJSON_ArrayForEach (d, firec_json_member (config, "drives"))
  {
    const char *id = firec_json_string (d, "drive_id"), *path = firec_json_string (d, "path_on_host");
    struct stat there;
    if (id == NULL || path == NULL || strcmp (id, u->drive_id) == 0 || !live_identity (root, path, &there)
        || there.st_dev != wanted.st_dev || there.st_ino != wanted.st_ino)
      continue;
    if (u->writable || !cJSON_IsTrue (firec_json_member (d, "is_read_only")))
      {
        cleanup_free char *where = drive_where (u);
        return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                                     "%s: %s is the file of drive %s of this VM, and one of the two writes it: two "
                                     "drives on one file lose what is written; give the new drive a file of its own",
                                     where, u->host_path, id);
      }
  }
  return 0;
}

/* The checks a start makes of its files, for the new one (preflight.h); with
   claim, the VM's record names it from now on. */
static int
check_new_file (const struct firec_drive_update *u, bool claim, firec_error_t *err)
{
  if (u->state == NULL || u->host_path == NULL)
    return 0;
  if (check_other_drives (u, err) < 0)
    return -1;
  struct firec_file file = drive_file (u);
  struct firec_preflight_new_file nf = { u->state, u->name, u->vm_root != NULL, u->uid, u->gid, &file };
  int rc = firec_preflight_new_file (&nf, claim, err);
  drive_file_release (&file);
  return rc;
}

static int
stage_drive (const struct firec_drive_update *u, int root, struct firec_staged *staged, firec_error_t *err)
{
  struct firec_file file = drive_file (u);
  int rc = firec_stage_file (root, &file, u->uid, u->gid, NULL, NULL, staged, err);
  drive_file_release (&file);
  return rc;
}

int
firec_update_open_api (const char *vm_root, const char *api_socket, int *sock_fd, struct firec_fcapi **api,
                       firec_error_t *err)
{
  *sock_fd = -1;
  if (vm_root == NULL)
    return firec_fcapi_open (api_socket, api, err);
  cleanup_close int root = open (vm_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0)
    return firec_error_set (err, errno, "cannot open the VM root %s", vm_root);
  if (firec_jailfs_open_socket (root, vm_root, api_socket, sock_fd, err) < 0)
    return -1;
  cleanup_free char *path = firec_jailfs_proc_path (*sock_fd);
  return firec_fcapi_open (path, api, err);
}

static int
patch_drive (const struct firec_drive_update *u, const char *path_on_host, firec_error_t *err)
{
  cleanup_cjson cJSON *body = cJSON_CreateObject ();
  cJSON_AddStringToObject (body, "drive_id", u->drive_id);
  if (path_on_host)
    cJSON_AddStringToObject (body, "path_on_host", path_on_host);
  if (u->rate_limiter)
    cJSON_AddItemToObject (body, "rate_limiter", cJSON_Duplicate (u->rate_limiter, 1));
  cleanup_free char *text = cJSON_PrintUnformatted (body);
  cleanup_free char *path = firec_xasprintf ("/drives/%s", u->drive_id);
  cleanup_close int sock = -1;
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_update_open_api (u->vm_root, u->api_socket, &sock, &api, err) < 0)
    return -1;
  return firec_fcapi_call (api, "PATCH", path, text, API_TIMEOUT_MS, NULL, err);
}

static int
check_request (const struct firec_drive_update *u, firec_error_t *err)
{
  const char *id = u->drive_id;
  if (id == NULL || id[0] == '\0' || strchr (id, '/') || strcmp (id, ".") == 0 || strcmp (id, "..") == 0)
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "\"%s\" is not a drive id", id ? id : "");
  if (u->vm_root && u->host_path && u->host_path[0] != '/')
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "the new drive file %s must be an absolute path",
                                 u->host_path);
  return 0;
}

/* The new file is opened by root to stage it: never through a directory the
   VM's uid could swap a name in (hostpath.h). */
static int
check_reach (const struct firec_drive_update *u, firec_error_t *err)
{
  if (u->vm_root == NULL || u->host_path == NULL || u->uid == geteuid ())
    return 0;
  struct firec_hostpath_query q = { u->host_path, FIREC_HOSTPATH_OPEN, NULL };
  int rc = firec_hostpath_check (&q, 1, u->uid, u->gid, err);
  if (rc == 0 && q.problem)
    rc = firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                               "the new drive file %s: %s: the VM's uid could swap a name on the way for a symbolic "
                               "link, and firec-run would stage another file of the host",
                               u->host_path, q.problem);
  firec_hostpath_release (&q, 1);
  return rc;
}

int
firec_update_drive_check (const struct firec_drive_update *u, firec_error_t *err)
{
  if (check_request (u, err) < 0 || check_reach (u, err) < 0)
    return -1;
  if (u->vm_root == NULL || u->host_path == NULL)
    return check_new_file (u, false, err);
  cleanup_close int root = open (u->vm_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0)
    return firec_error_set (err, errno, "cannot open the VM root %s", u->vm_root);
  cleanup_free char *vm_path = firec_update_drive_vm_path (u->drive_id, u->host_path, true);
  bool same;
  return staged_place (u, root, vm_path, &same, err) < 0 ? -1 : check_new_file (u, false, err);
}

int
firec_update_drive (const struct firec_drive_update *u, firec_error_t *err)
{
  if (check_request (u, err) < 0 || check_reach (u, err) < 0)
    return -1;
  if (u->vm_root == NULL || u->host_path == NULL)
    return check_new_file (u, true, err) < 0 ? -1 : patch_drive (u, u->host_path, err);
  cleanup_close int root = open (u->vm_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0)
    return firec_error_set (err, errno, "cannot open the VM root %s", u->vm_root);
  cleanup_free char *vm_path = firec_update_drive_vm_path (u->drive_id, u->host_path, true);
  bool same;
  if (staged_place (u, root, vm_path, &same, err) < 0 || check_new_file (u, true, err) < 0)
    return -1;
  if (same)
    return patch_drive (u, vm_path, err);
  struct firec_staged staged = { 0 };
  if (stage_drive (u, root, &staged, err) < 0)
    return -1;
  int rc = patch_drive (u, staged.vm_path, err);
  if (rc < 0)
    {
      cleanup_error firec_error_t undo_err = NULL;
      if (firec_stage_unstage (root, &staged, &undo_err) < 0)
        firec_error_prefix (err, "%s stays in the jail (%s)", staged.vm_path, undo_err->message);
    }
  firec_staged_release (&staged);
  return rc;
}
