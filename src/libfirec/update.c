#include "config.h"

#include "update.h"
#include "fcapi.h"
#include "jailfs.h"
#include "model.h"
#include "stage.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#define API_TIMEOUT_MS 10000L

/* Stages the new file where a start would have put it, so that a snapshot
   taken now restores with snapshot.drives naming it. */
static int
stage_drive (const struct firec_drive_update *u, int root, struct firec_staged *staged, firec_error_t *err)
{
  const char *slash = strrchr (u->host_path, '/');
  cleanup_free char *vm_path = firec_xasprintf ("/drives/%s/%s", u->drive_id, slash ? slash + 1 : u->host_path);
  cleanup_close int parent = -1;
  cleanup_free char *name = NULL;
  if (firec_jailfs_open_parent (root, vm_path, FIREC_JAILFS_MISSING_OK | FIREC_JAILFS_NO_XDEV, NULL, &parent, &name,
                                err)
      < 0)
    return -1;
  struct stat st;
  if (parent >= 0 && fstatat (parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0,
                                 "drive %s already has a file named %s in the jail; give the new file another name",
                                 u->drive_id, name);
  cleanup_free char *host_path = firec_xstrdup (u->host_path);
  struct firec_file file = {
    .role = FIREC_FILE_DRIVE,
    .host_path = host_path,
    .vm_path = vm_path,
    .mode = FIREC_STAGING_AUTO,
    .writable = u->writable,
  };
  return firec_stage_file (root, &file, u->uid, u->gid, NULL, NULL, staged, err);
}

/* root: the VM root, to reach the socket through the walker; -1 without the
   jailer (the socket is then in firec-run's own run directory). */
static int
patch_drive (const struct firec_drive_update *u, int root, const char *path_on_host, firec_error_t *err)
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
  cleanup_free char *socket = NULL;
  if (root >= 0 && firec_jailfs_open_socket (root, u->vm_root, u->api_socket, &sock, err) < 0)
    return -1;
  socket = sock >= 0 ? firec_jailfs_proc_path (sock) : firec_xstrdup (u->api_socket);
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_fcapi_open (socket, &api, err) < 0)
    return -1;
  return firec_fcapi_call (api, "PATCH", path, text, API_TIMEOUT_MS, NULL, err);
}

int
firec_update_drive (const struct firec_drive_update *u, firec_error_t *err)
{
  const char *id = u->drive_id;
  if (id == NULL || id[0] == '\0' || strchr (id, '/') || strcmp (id, ".") == 0 || strcmp (id, "..") == 0)
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "\"%s\" is not a drive id", id ? id : "");
  if (u->vm_root == NULL)
    return patch_drive (u, -1, u->host_path, err);
  cleanup_close int root = open (u->vm_root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (root < 0)
    return firec_error_set (err, errno, "cannot open the VM root %s", u->vm_root);
  if (u->host_path == NULL)
    return patch_drive (u, root, NULL, err);
  if (u->host_path[0] != '/')
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "the new drive file %s must be an absolute path",
                                 u->host_path);
  struct firec_staged staged = { 0 };
  if (stage_drive (u, root, &staged, err) < 0)
    return -1;
  int rc = patch_drive (u, root, staged.vm_path, err);
  if (rc < 0)
    {
      cleanup_error firec_error_t undo_err = NULL;
      if (firec_stage_unstage (root, &staged, &undo_err) < 0)
        firec_error_prefix (err, "%s stays in the jail (%s); ", staged.vm_path, undo_err->message);
    }
  firec_staged_release (&staged);
  return rc;
}
