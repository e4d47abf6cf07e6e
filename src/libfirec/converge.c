/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "converge.h"
#include "fcapi.h"
#include "model.h"
#include "record.h"
#include "update.h"
#include "util.h"

#include <string.h>

#define API_TIMEOUT_MS 10000L

/* A rate limiter as a PATCH must say it: a bucket left out of a PATCH is
   left as it is, so a bucket the manifest does not have is switched off
   (size and refill_time 0 disable it). */
static cJSON *
limiter_patch (const cJSON *wanted)
{
  cJSON *out = cJSON_CreateObject ();
  static const char *const buckets[] = { "bandwidth", "ops" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (buckets); i++)
    {
      const cJSON *b = firec_json_member (wanted, buckets[i]);
      cJSON *o = cJSON_AddObjectToObject (out, buckets[i]);
      static const char *const fields[] = { "size", "refill_time", "one_time_burst" };
      for (size_t k = 0; k < FIREC_N_ELEMENTS (fields); k++)
        {
          const cJSON *v = firec_json_member (b, fields[k]);
          if (cJSON_IsNumber (v))
            cJSON_AddNumberToObject (o, fields[k], v->valuedouble);
          else if (k < 2)
            cJSON_AddNumberToObject (o, fields[k], 0);
        }
    }
  return out;
}

static const cJSON *
wanted_device (const struct firec_model *model, const char *section, const char *key, const char *id)
{
  const cJSON *list = firec_json_member (firec_json_member (model->manifest, "spec"), section);
  for (const cJSON *e = cJSON_IsArray (list) ? list->child : NULL; e; e = e->next)
    {
      const char *v = firec_json_string (e, key);
      if (v && id && strcmp (v, id) == 0)
        return e;
    }
  return NULL;
}

struct session
{
  const struct firec_plan *plan;
  const struct firec_vm_info *info;
  struct firec_fcapi *api;
  bool *changed;
};

static int
call (struct session *s, const char *method, const char *path, const cJSON *body, firec_error_t *err)
{
  cleanup_free char *text = cJSON_PrintUnformatted (body);
  if (firec_fcapi_call (s->api, method, path, text, API_TIMEOUT_MS, NULL, err) < 0)
    return -1;
  *s->changed = true;
  return 0;
}

/* The update of a drive that it describes: *u borrows from plan and info. */
static int
drive_update (const struct firec_plan *plan, const struct firec_vm_info *info, const struct firec_drift_item *it,
              struct firec_drive_update *u, firec_error_t *err)
{
  const struct firec_record *r = info->record;
  const cJSON *drive = wanted_device (plan->model, "drives", "drive_id", it->id);
  *u = (struct firec_drive_update){
    .api_socket = r->api_socket,
    .vm_root = r->jailer ? r->vm_root : NULL,
    .uid = r->uid,
    .gid = r->gid,
    .drive_id = it->id,
    .writable = !cJSON_IsTrue (firec_json_member (drive, "is_read_only")),
    .state = &info->state_root,
    .name = info->name,
  };
  if (it->live != FIREC_LIVE_DRIVE_PATH)
    return 0;
  const struct firec_file *f = firec_model_find_file (plan->model, it->path);
  if (f == NULL)
    return firec_error_set (err, 0, "%s names no file", it->path);
  u->host_path = f->host_path;
  u->where = f->where;
  return 0;
}

static int
update_drive (struct session *s, const struct firec_drift_item *it, firec_error_t *err)
{
  struct firec_drive_update u;
  cleanup_cjson cJSON *limiter = NULL;
  if (drive_update (s->plan, s->info, it, &u, err) < 0)
    return -1;
  if (it->live != FIREC_LIVE_DRIVE_PATH)
    u.rate_limiter = limiter = limiter_patch (
        firec_json_member (wanted_device (s->plan->model, "drives", "drive_id", it->id), "rate_limiter"));
  if (firec_update_drive (&u, err) < 0)
    return -1;
  *s->changed = true;
  return 0;
}

static int
update_iface (struct session *s, const struct firec_drift_item *it, firec_error_t *err)
{
  const cJSON *iface = wanted_device (s->plan->model, "network-interfaces", "iface_id", it->id);
  cleanup_cjson cJSON *body = cJSON_CreateObject ();
  cJSON_AddStringToObject (body, "iface_id", it->id);
  cJSON_AddItemToObject (body, "rx_rate_limiter", limiter_patch (firec_json_member (iface, "rx_rate_limiter")));
  cJSON_AddItemToObject (body, "tx_rate_limiter", limiter_patch (firec_json_member (iface, "tx_rate_limiter")));
  cleanup_free char *path = firec_xasprintf ("/network-interfaces/%s", it->id);
  return call (s, "PATCH", path, body, err);
}

static int
update_balloon (struct session *s, const struct firec_drift_item *it, firec_error_t *err)
{
  bool target = it->live == FIREC_LIVE_BALLOON_TARGET;
  const char *field = target ? "amount_mib" : "stats_polling_interval_s";
  const struct firec_step *put = firec_plan_find_step (s->plan, "api.put.balloon");
  cleanup_cjson cJSON *body = cJSON_CreateObject ();
  cJSON_AddNumberToObject (body, field, cJSON_GetNumberValue (firec_json_member (put ? put->body : NULL, field)));
  return call (s, "PATCH", target ? "/balloon" : "/balloon/statistics", body, err);
}

static int
put_mmds (struct session *s, firec_error_t *err)
{
  const struct firec_step *put = firec_plan_find_step (s->plan, "api.put.mmds");
  if (put == NULL)
    return 0;
  return call (s, "PUT", "/mmds", put->body, err);
}

static int
apply_item (struct session *s, const struct firec_drift_item *it, firec_error_t *err)
{
  switch (it->live)
    {
    case FIREC_LIVE_RECORD:
      return 0;
    case FIREC_LIVE_DRIVE_PATH:
    case FIREC_LIVE_DRIVE_RATE_LIMITER:
      return update_drive (s, it, err);
    case FIREC_LIVE_IFACE_RATE_LIMITERS:
      return update_iface (s, it, err);
    case FIREC_LIVE_BALLOON_TARGET:
    case FIREC_LIVE_BALLOON_STATISTICS:
      return update_balloon (s, it, err);
    case FIREC_LIVE_MMDS:
      return put_mmds (s, err);
    }
  return 0;
}

/* The manifest that is now true of the VM, with its digest. Read and
   written under the state root's lock, as `update` names a new file in the
   record: neither loses the other's change. */
static int
record_manifest (const struct firec_plan *plan, const struct firec_vm_info *info, firec_error_t *err)
{
  const struct firec_model *model = plan->model;
  cleanup_close int dir_fd = -1, claim = -1;
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, err) < 0)
    return -1;
  if (dir_fd < 0)
    return firec_error_set (err, 0, "the state of %s is gone", info->name);
  cleanup_record struct firec_record *r = NULL;
  if (firec_state_lock_root (&info->state_root, FIREC_STATE_CLAIM_TIMEOUT_MS, &claim, err) < 0
      || firec_record_read (dir_fd, info->state_dir, &r, err) < 0)
    return -1;
  if (r == NULL)
    return firec_error_set (err, 0, "%s has no record", info->state_dir);
  free (r->digest);
  r->digest = firec_model_digest (model);
  free (r->manifest);
  r->manifest = firec_xstrdup (model->source);
  /* The manifest first: a record whose digest names a manifest not stored
     yet would make the next diff see none of this change. */
  cleanup_cjson cJSON *manifest = firec_model_to_manifest (model);
  if (firec_record_write_manifest (dir_fd, info->state_dir, manifest, err) < 0)
    return -1;
  return firec_record_write (dir_fd, info->state_dir, r, err);
}

int
firec_converge_check (const struct firec_plan *plan, const struct firec_vm_info *info, const struct firec_drift *drift,
                      firec_error_t *err)
{
  for (size_t i = 0; info->record && i < drift->count; i++)
    {
      const struct firec_drift_item *it = &drift->items[i];
      struct firec_drive_update u;
      if (it->how != FIREC_RECONCILE_LIVE || it->live != FIREC_LIVE_DRIVE_PATH)
        continue;
      if (drive_update (plan, info, it, &u, err) < 0)
        {
          firec_error_prefix (err, "%s", it->path);
          return -1;
        }
      /* (Its errors name the field with its position: u.where.) */
      if (firec_update_drive_check (&u, err) < 0)
        return -1;
    }
  return 0;
}

int
firec_converge (const struct firec_plan *plan, const struct firec_vm_info *info, const struct firec_drift *drift,
                bool *changed, firec_error_t *err)
{
  *changed = false;
  const struct firec_record *r = info->record;
  if (r == NULL || !firec_vm_alive (info))
    return firec_error_set (err, 0, "%s is not running", info->name);
  /* Every new file passes before the first change. */
  if (firec_converge_check (plan, info, drift, err) < 0)
    return -1;
  cleanup_close int sock = -1;
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_update_open_api (r->jailer ? r->vm_root : NULL, r->api_socket, &sock, &api, err) < 0)
    return -1;
  struct session s = { plan, info, api, changed };
  bool record = false;
  for (size_t i = 0; i < drift->count; i++)
    {
      const struct firec_drift_item *it = &drift->items[i];
      if (it->how != FIREC_RECONCILE_LIVE)
        continue;
      record = true;
      if (apply_item (&s, it, err) < 0)
        {
          firec_error_prefix (err, "%s", it->path);
          return -1;
        }
    }
  if (record)
    {
      if (record_manifest (plan, info, err) < 0)
        return -1;
      *changed = true;
    }
  if (drift->paused)
    {
      cleanup_cjson cJSON *body = cJSON_CreateObject ();
      cJSON_AddStringToObject (body, "state", "Resumed");
      return call (&s, "PATCH", "/vm", body, err);
    }
  return 0;
}
