/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "drift.h"
#include "fcapi.h"
#include "model.h"
#include "record.h"
#include "update.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define API_TIMEOUT_MS 10000L

const char *
firec_drift_action_name (enum firec_drift_action action)
{
  switch (action)
    {
    case FIREC_DRIFT_NONE:
      return "none";
    case FIREC_DRIFT_START:
      return "start";
    case FIREC_DRIFT_REPLACE:
      return "replace";
    case FIREC_DRIFT_UPDATE:
      return "update";
    case FIREC_DRIFT_RESUME:
      return "resume";
    }
  return "none";
}

const char *
firec_reconcile_name (enum firec_reconcile how)
{
  switch (how)
    {
    case FIREC_RECONCILE_LIVE:
      return "live";
    case FIREC_RECONCILE_RESTART:
      return "restart";
    case FIREC_RECONCILE_STATE:
      return "state";
    }
  return "restart";
}

/* ------------------------------------------------------------------ items */

static struct firec_drift_item *
add_item (struct firec_drift *d, const char *path, const cJSON *wanted, const cJSON *actual, enum firec_reconcile how,
          const char *source)
{
  d->items = firec_xrealloc (d->items, (d->count + 1) * sizeof *d->items);
  struct firec_drift_item *it = &d->items[d->count++];
  *it = (struct firec_drift_item){
    .path = firec_xstrdup (path),
    .wanted = wanted ? cJSON_Duplicate (wanted, 1) : NULL,
    .actual = actual ? cJSON_Duplicate (actual, 1) : NULL,
    .how = how,
    .source = source,
  };
  return it;
}

static void
item_release (struct firec_drift_item *it)
{
  free (it->path);
  cJSON_Delete (it->wanted);
  cJSON_Delete (it->actual);
  free (it->id);
  free (it->note);
}

__attribute__ ((format (printf, 2, 3))) static void
set_note (struct firec_drift_item *it, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  free (it->note);
  it->note = firec_xvasprintf (fmt, ap);
  va_end (ap);
}

static bool
path_within (const char *path, const char *prefix)
{
  size_t n = strlen (prefix);
  return strncmp (path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Drops the items at prefix or below it: a live fact about the whole of it
   replaces what the manifests say. Returns how many. */
static size_t
drop_items_within (struct firec_drift *d, const char *prefix)
{
  size_t kept = 0, dropped = 0;
  for (size_t i = 0; i < d->count; i++)
    if (path_within (d->items[i].path, prefix))
      {
        item_release (&d->items[i]);
        dropped++;
      }
    else
      d->items[kept++] = d->items[i];
  d->count = kept;
  return dropped;
}

/* Whether path matches pattern, where a "*" segment matches any one segment. */
static bool
path_matches (const char *path, const char *pattern)
{
  while (*path && *pattern)
    {
      if (*path++ != '/' || *pattern++ != '/')
        return false;
      size_t n = strcspn (path, "/"), m = strcspn (pattern, "/");
      if (!(m == 1 && pattern[0] == '*') && (n != m || strncmp (path, pattern, n) != 0))
        return false;
      path += n;
      pattern += m;
    }
  return *path == '\0' && *pattern == '\0';
}

void
firec_drift_release (struct firec_drift *drift)
{
  for (size_t i = 0; i < drift->count; i++)
    item_release (&drift->items[i]);
  free (drift->items);
  memset (drift, 0, sizeof *drift);
}

/* ------------------------------------------------------------------ the manifests */

/* What one live call sets, or the record keeps as one, is compared as a whole. */
static const char *const units[] = {
  "/metadata/labels",
  "/metadata/annotations",
  "/spec/staging",
  "/spec/mmds",
  "/spec/drives/*/rate_limiter",
  "/spec/network-interfaces/*/rx_rate_limiter",
  "/spec/network-interfaces/*/tx_rate_limiter",
};

static bool
is_unit (const char *path)
{
  for (size_t i = 0; i < FIREC_N_ELEMENTS (units); i++)
    if (path_matches (path, units[i]))
      return true;
  return false;
}

/* x-* keys change nothing about the VM, except inside MMDS data, which is the
   guest's to read (as firec_model_digest counts them). */
static void
strip_annotations (cJSON *node, const char *path)
{
  if (strcmp (path, "/spec/mmds/data") == 0)
    return;
  cJSON *c = node ? node->child : NULL;
  size_t i = 0;
  while (c)
    {
      cJSON *next = c->next;
      if (c->string && strncmp (c->string, "x-", 2) == 0)
        cJSON_Delete (cJSON_DetachItemViaPointer (node, c));
      else
        {
          cleanup_free char *sub
              = c->string ? firec_json_pointer_append (path, c->string) : firec_json_pointer_append_index (path, i);
          strip_annotations (c, sub);
        }
      c = next;
      i++;
    }
}

static cJSON *
without_annotations (const cJSON *node, const char *path)
{
  if (node == NULL)
    return NULL;
  cJSON *copy = cJSON_Duplicate (node, 1);
  strip_annotations (copy, path);
  return copy;
}

/* Arrays whose elements are devices: compared element by element only while
   the same ids stand in the same places; otherwise the list as a whole. */
static const char *
id_field (const char *path)
{
  if (strcmp (path, "/spec/drives") == 0 || strcmp (path, "/spec/snapshot/drives") == 0)
    return "drive_id";
  if (strcmp (path, "/spec/network-interfaces") == 0)
    return "iface_id";
  if (strcmp (path, "/spec/pmem") == 0)
    return "id";
  return NULL;
}

static bool
same_places (const cJSON *a, const cJSON *b, const char *path)
{
  if (cJSON_GetArraySize (a) != cJSON_GetArraySize (b))
    return false;
  const char *key = id_field (path);
  for (const cJSON *x = a->child, *y = b->child; key && x && y; x = x->next, y = y->next)
    {
      const char *ix = firec_json_string (x, key), *iy = firec_json_string (y, key);
      if (ix == NULL || iy == NULL || strcmp (ix, iy) != 0)
        return false;
    }
  return true;
}

static void compare (struct firec_drift *d, const cJSON *actual, const cJSON *wanted, const char *path);

static void
compare_objects (struct firec_drift *d, const cJSON *actual, const cJSON *wanted, const char *path)
{
  for (const cJSON *m = wanted->child; m; m = m->next)
    if (strncmp (m->string, "x-", 2) != 0)
      {
        cleanup_free char *sub = firec_json_pointer_append (path, m->string);
        compare (d, cJSON_GetObjectItemCaseSensitive (actual, m->string), m, sub);
      }
  for (const cJSON *m = actual->child; m; m = m->next)
    if (strncmp (m->string, "x-", 2) != 0 && cJSON_GetObjectItemCaseSensitive (wanted, m->string) == NULL)
      {
        cleanup_free char *sub = firec_json_pointer_append (path, m->string);
        compare (d, m, NULL, sub);
      }
}

static void
compare (struct firec_drift *d, const cJSON *actual, const cJSON *wanted, const char *path)
{
  if (!is_unit (path))
    {
      if (cJSON_IsObject (actual) && cJSON_IsObject (wanted))
        {
          compare_objects (d, actual, wanted, path);
          return;
        }
      if (cJSON_IsArray (actual) && cJSON_IsArray (wanted) && same_places (actual, wanted, path))
        {
          size_t i = 0;
          for (const cJSON *x = actual->child, *y = wanted->child; x && y; x = x->next, y = y->next, i++)
            {
              cleanup_free char *sub = firec_json_pointer_append_index (path, i);
              compare (d, x, y, sub);
            }
          return;
        }
    }
  cleanup_cjson cJSON *a = without_annotations (actual, path);
  cleanup_cjson cJSON *w = without_annotations (wanted, path);
  if (a == NULL && w == NULL)
    return;
  if (a && w && cJSON_Compare (a, w, true))
    return;
  add_item (d, path, w, a, FIREC_RECONCILE_RESTART, "manifest");
}

/* ------------------------------------------------------------------ classes */

/* The element of spec.<section> the path (/spec/<section>/N/...) is in. */
static const cJSON *
element_of (const cJSON *manifest, const char *section, const char *path)
{
  cleanup_free char *prefix = firec_xasprintf ("/spec/%s/", section);
  if (strncmp (path, prefix, strlen (prefix)) != 0)
    return NULL;
  long index = strtol (path + strlen (prefix), NULL, 10);
  const cJSON *list = firec_json_member (firec_json_member (manifest, "spec"), section);
  return cJSON_IsArray (list) ? cJSON_GetArrayItem (list, (int) index) : NULL;
}

static void
set_live (struct firec_drift_item *it, enum firec_live_kind kind, const char *id)
{
  it->how = FIREC_RECONCILE_LIVE;
  it->live = kind;
  free (it->id);
  it->id = id ? firec_xstrdup (id) : NULL;
}

/* Balloon statistics cannot be switched on or off after boot. */
static void
classify_balloon_statistics (struct firec_drift_item *it)
{
  bool wanted_on = cJSON_GetNumberValue (it->wanted) > 0, actual_on = cJSON_GetNumberValue (it->actual) > 0;
  if (it->wanted && it->actual && wanted_on == actual_on)
    set_live (it, FIREC_LIVE_BALLOON_STATISTICS, NULL);
  else
    set_note (it, "balloon statistics cannot be switched on or off on a running VM");
}

/* The class of a difference between the manifests, from its place. */
static void
classify (struct firec_drift_item *it, const cJSON *wanted_manifest)
{
  static const char *const record_only[]
      = { "/metadata/labels", "/metadata/annotations", "/spec/staging", "/spec/run/start_timeout" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (record_only); i++)
    if (strcmp (it->path, record_only[i]) == 0)
      {
        set_live (it, FIREC_LIVE_RECORD, NULL);
        set_note (it, "nothing on the running VM depends on it: only the record changes");
        return;
      }
  const char *drive = firec_json_string (element_of (wanted_manifest, "drives", it->path), "drive_id");
  const char *iface = firec_json_string (element_of (wanted_manifest, "network-interfaces", it->path), "iface_id");
  if (path_matches (it->path, "/spec/drives/*/path_on_host") && it->wanted && it->actual)
    set_live (it, FIREC_LIVE_DRIVE_PATH, drive);
  else if (path_matches (it->path, "/spec/drives/*/rate_limiter"))
    set_live (it, FIREC_LIVE_DRIVE_RATE_LIMITER, drive);
  else if (path_matches (it->path, "/spec/network-interfaces/*/rx_rate_limiter")
           || path_matches (it->path, "/spec/network-interfaces/*/tx_rate_limiter"))
    set_live (it, FIREC_LIVE_IFACE_RATE_LIMITERS, iface);
  else if (strcmp (it->path, "/spec/balloon/amount_mib") == 0)
    set_live (it, FIREC_LIVE_BALLOON_TARGET, NULL);
  else if (strcmp (it->path, "/spec/balloon/stats_polling_interval_s") == 0)
    classify_balloon_statistics (it);
  else if (strcmp (it->path, "/spec/mmds") == 0)
    set_live (it, FIREC_LIVE_MMDS, NULL);
}

/* ------------------------------------------------------------------ live facts */

struct live
{
  cJSON *config; /* GET /vm/config */
  cJSON *mmds;   /* GET /mmds, when the manifest has spec.mmds */
};

static int
get_json (struct firec_fcapi *api, const char *path, cJSON **ret, firec_error_t *err)
{
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  if (firec_fcapi_call (api, "GET", path, NULL, API_TIMEOUT_MS, &resp, err) < 0)
    return -1;
  *ret = cJSON_Parse (resp.body);
  if (*ret == NULL)
    return firec_error_set (err, 0, "GET %s: Firecracker's answer is not JSON: %.200s", path, resp.body);
  return 0;
}

static int
read_live (const struct firec_plan *plan, const struct firec_record *r, struct live *live, firec_error_t *err)
{
  cleanup_close int sock = -1;
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_update_open_api (r->jailer ? r->vm_root : NULL, r->api_socket, &sock, &api, err) < 0
      || get_json (api, "/vm/config", &live->config, err) < 0)
    return -1;
  if (firec_plan_find_step (plan, "api.put.mmds") && get_json (api, "/mmds", &live->mmds, err) < 0)
    return -1;
  return 0;
}

/* A rate limiter as it limits: the buckets that limit (size and refill_time
   not 0), without a one_time_burst of 0 or null members; NULL when nothing
   limits. Firecracker's GET /vm/config and a manifest then compare. */
static cJSON *
limiter_effect (const cJSON *limiter)
{
  cJSON *out = cJSON_CreateObject ();
  static const char *const buckets[] = { "bandwidth", "ops" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (buckets); i++)
    {
      const cJSON *b = firec_json_member (limiter, buckets[i]);
      double size = cJSON_GetNumberValue (firec_json_member (b, "size"));
      double refill = cJSON_GetNumberValue (firec_json_member (b, "refill_time"));
      if (!(size > 0) || !(refill > 0))
        continue;
      cJSON *o = cJSON_AddObjectToObject (out, buckets[i]);
      cJSON_AddNumberToObject (o, "size", size);
      cJSON_AddNumberToObject (o, "refill_time", refill);
      double burst = cJSON_GetNumberValue (firec_json_member (b, "one_time_burst"));
      if (burst > 0)
        cJSON_AddNumberToObject (o, "one_time_burst", burst);
    }
  if (out->child == NULL)
    {
      cJSON_Delete (out);
      return NULL;
    }
  return out;
}

static bool
same_limiter (const cJSON *a, const cJSON *b)
{
  cleanup_cjson cJSON *x = limiter_effect (a);
  cleanup_cjson cJSON *y = limiter_effect (b);
  return (x == NULL && y == NULL) || (x && y && cJSON_Compare (x, y, true));
}

static const cJSON *
find_by_id (const cJSON *list, const char *key, const char *id)
{
  for (const cJSON *e = cJSON_IsArray (list) ? list->child : NULL; e; e = e->next)
    {
      const char *v = firec_json_string (e, key);
      if (v && strcmp (v, id) == 0)
        return e;
    }
  return NULL;
}

/* What the VM has now differs from what is wanted: the live fact replaces
   whatever the manifests said about path. */
static struct firec_drift_item *
live_item (struct firec_drift *d, const char *path, const cJSON *wanted, const cJSON *actual, enum firec_live_kind kind,
           const char *id, const char *source)
{
  drop_items_within (d, path);
  struct firec_drift_item *it = add_item (d, path, wanted, actual, FIREC_RECONCILE_LIVE, source);
  set_live (it, kind, id);
  return it;
}

/* A field of the wanted manifest's device whose request is step s (its
   source: /spec/SECTION/N). */
static const cJSON *
device_field (const cJSON *manifest, const char *section, const struct firec_step *s, const char *field)
{
  cleanup_free char *inside = firec_xasprintf ("%s/", s->source);
  return firec_json_member (element_of (manifest, section, inside), field);
}

static void
compare_live_drives (struct firec_drift *d, const struct firec_plan *plan, const struct live *live, bool jailed)
{
  const cJSON *manifest = plan->model->manifest;
  const cJSON *drives = firec_json_member (live->config, "drives");
  for (size_t i = 0; i < plan->count; i++)
    {
      const struct firec_step *s = &plan->steps[i];
      if (s->kind != FIREC_STEP_API_REQUEST || strncmp (s->id, "api.put.drives.", 15) != 0 || s->source == NULL)
        continue;
      const char *id = firec_json_string (s->body, "drive_id");
      const cJSON *now = find_by_id (drives, "drive_id", id ? id : "");
      if (now == NULL)
        continue;
      const char *wanted_path = firec_json_string (s->body, "path_on_host");
      const char *live_path = firec_json_string (now, "path_on_host");
      if (wanted_path && live_path && strcmp (wanted_path, live_path) != 0)
        {
          cleanup_free char *path = firec_xasprintf ("%s/path_on_host", s->source);
          struct firec_drift_item *it
              = live_item (d, path, device_field (manifest, "drives", s, "path_on_host"),
                           firec_json_member (now, "path_on_host"), FIREC_LIVE_DRIVE_PATH, id, "vm/config");
          if (jailed)
            set_note (it, "actual: the file Firecracker has open, as it sees it in the jail");
        }
      if (!same_limiter (firec_json_member (s->body, "rate_limiter"), firec_json_member (now, "rate_limiter")))
        {
          cleanup_free char *path = firec_xasprintf ("%s/rate_limiter", s->source);
          live_item (d, path, device_field (manifest, "drives", s, "rate_limiter"),
                     firec_json_member (now, "rate_limiter"), FIREC_LIVE_DRIVE_RATE_LIMITER, id, "vm/config");
        }
    }
}

static void
compare_live_ifaces (struct firec_drift *d, const struct firec_plan *plan, const struct live *live)
{
  const cJSON *manifest = plan->model->manifest;
  const cJSON *ifaces = firec_json_member (live->config, "network-interfaces");
  static const char *const limiters[] = { "rx_rate_limiter", "tx_rate_limiter" };
  for (size_t i = 0; i < plan->count; i++)
    {
      const struct firec_step *s = &plan->steps[i];
      if (s->kind != FIREC_STEP_API_REQUEST || strncmp (s->id, "api.put.network-interfaces.", 27) != 0
          || s->source == NULL)
        continue;
      const char *id = firec_json_string (s->body, "iface_id");
      const cJSON *now = find_by_id (ifaces, "iface_id", id ? id : "");
      for (size_t k = 0; now && k < FIREC_N_ELEMENTS (limiters); k++)
        if (!same_limiter (firec_json_member (s->body, limiters[k]), firec_json_member (now, limiters[k])))
          {
            cleanup_free char *path = firec_xasprintf ("%s/%s", s->source, limiters[k]);
            live_item (d, path, device_field (manifest, "network-interfaces", s, limiters[k]),
                       firec_json_member (now, limiters[k]), FIREC_LIVE_IFACE_RATE_LIMITERS, id, "vm/config");
          }
    }
}

static void
compare_live_balloon (struct firec_drift *d, const struct firec_plan *plan, const struct live *live)
{
  const struct firec_step *s = firec_plan_find_step (plan, "api.put.balloon");
  const cJSON *now = firec_json_member (live->config, "balloon");
  if (s == NULL || !cJSON_IsObject (now))
    return;
  static const char *const fields[] = { "amount_mib", "stats_polling_interval_s" };
  for (size_t k = 0; k < FIREC_N_ELEMENTS (fields); k++)
    {
      const cJSON *w = firec_json_member (s->body, fields[k]);
      const cJSON *a = firec_json_member (now, fields[k]);
      double wanted = w ? cJSON_GetNumberValue (w) : 0, actual = a ? cJSON_GetNumberValue (a) : 0;
      if (wanted == actual)
        continue;
      cleanup_free char *path = firec_xasprintf ("/spec/balloon/%s", fields[k]);
      struct firec_drift_item *it = live_item (
          d, path, w, a, k == 0 ? FIREC_LIVE_BALLOON_TARGET : FIREC_LIVE_BALLOON_STATISTICS, NULL, "vm/config");
      if (k == 1)
        {
          it->how = FIREC_RECONCILE_RESTART;
          classify_balloon_statistics (it);
        }
    }
}

/* MMDS is compared by its contents: a data_file may change with the manifest
   unchanged, and `mmds put` changes them outside apply. */
static void
compare_live_mmds (struct firec_drift *d, const struct firec_plan *plan, const struct live *live)
{
  const struct firec_step *s = firec_plan_find_step (plan, "api.put.mmds");
  const char *file = plan->model->mmds_data_file.host_path;
  if (s == NULL)
    {
      for (size_t i = 0; i < d->count; i++)
        if (path_within (d->items[i].path, "/spec/mmds"))
          {
            set_live (&d->items[i], FIREC_LIVE_RECORD, NULL);
            set_note (&d->items[i], "without spec.mmds the MMDS contents are left as they are");
          }
      return;
    }
  if (live->mmds && cJSON_Compare (s->body, live->mmds, true))
    {
      for (size_t i = 0; i < d->count; i++)
        if (path_within (d->items[i].path, "/spec/mmds"))
          {
            set_live (&d->items[i], FIREC_LIVE_RECORD, NULL);
            set_note (&d->items[i], "the MMDS contents are as wanted already");
          }
      return;
    }
  drop_items_within (d, "/spec/mmds");
  struct firec_drift_item *it = live_item (d, "/spec/mmds/data", s->body, live->mmds, FIREC_LIVE_MMDS, NULL, "mmds");
  if (file)
    set_note (it, "wanted: the contents of %s", file);
}

/* A new backing file goes where a start would have put it: a different file
   of the same name there can only be had by a restart. */
static void
check_drive_paths (struct firec_drift *d, const struct firec_model *model, const struct firec_record *r)
{
  for (size_t i = 0; r->jailer && i < d->count; i++)
    {
      struct firec_drift_item *it = &d->items[i];
      if (it->how != FIREC_RECONCILE_LIVE || it->live != FIREC_LIVE_DRIVE_PATH)
        continue;
      const struct firec_file *f = firec_model_find_file (model, it->path);
      struct firec_drive_update u = {
        .api_socket = r->api_socket,
        .vm_root = r->vm_root,
        .uid = r->uid,
        .gid = r->gid,
        .drive_id = it->id,
        .host_path = f ? f->host_path : NULL,
      };
      cleanup_error firec_error_t why = NULL;
      if (f == NULL || firec_update_drive_check (&u, &why) < 0)
        {
          it->how = FIREC_RECONCILE_RESTART;
          set_note (it, "%s", why ? why->message : "no such drive file in the manifest");
        }
    }
}

/* ------------------------------------------------------------------ the whole */

static int
compare_manifests (struct firec_drift *d, const struct firec_model *model, const struct firec_vm_info *info,
                   firec_error_t *err)
{
  cleanup_close int dir_fd = -1;
  cleanup_cjson cJSON *stored = NULL;
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, err) < 0)
    return -1;
  if (dir_fd >= 0 && firec_record_read_manifest (dir_fd, info->state_dir, &stored, err) < 0)
    {
      firec_error_set_remedy (err, FIREC_REMEDY_RESTART, info->name);
      return -1;
    }
  cleanup_cjson cJSON *wanted = firec_model_to_manifest (model);
  if (stored)
    {
      compare (d, stored, wanted, "");
      for (size_t i = 0; i < d->count; i++)
        classify (&d->items[i], wanted);
      return 0;
    }
  /* Only the digests can say whether it changed. */
  cleanup_free char *digest = firec_model_digest (model);
  const char *recorded = info->record->digest;
  if (recorded && strcmp (recorded, digest) == 0)
    return 0;
  cleanup_cjson cJSON *w = cJSON_CreateString (digest);
  cleanup_cjson cJSON *a = recorded ? cJSON_CreateString (recorded) : NULL;
  struct firec_drift_item *it = add_item (d, "", w, a, FIREC_RECONCILE_RESTART, "record");
  set_note (it, "the manifest %s runs as is not in %s: only the digests compare", info->name, info->state_dir);
  return 0;
}

static int
compare_running (struct firec_drift *d, const struct firec_plan *plan, const struct firec_vm_info *info,
                 firec_error_t *err)
{
  const struct firec_record *r = info->record;
  if (compare_manifests (d, plan->model, info, err) < 0)
    return -1;
  struct live live = { 0 };
  int rc = read_live (plan, r, &live, err);
  if (rc == 0)
    {
      compare_live_drives (d, plan, &live, r->jailer);
      compare_live_ifaces (d, plan, &live);
      compare_live_balloon (d, plan, &live);
      compare_live_mmds (d, plan, &live);
      check_drive_paths (d, plan->model, r);
    }
  cJSON_Delete (live.config);
  cJSON_Delete (live.mmds);
  if (rc < 0)
    firec_error_prefix (err, "cannot see how %s runs now", info->name);
  return rc;
}

static void
state_item (struct firec_drift *d, const char *actual, const char *source, const char *note)
{
  cleanup_cjson cJSON *w = cJSON_CreateString ("running");
  cleanup_cjson cJSON *a = cJSON_CreateString (actual);
  struct firec_drift_item *it = add_item (d, "/status/state", w, a, FIREC_RECONCILE_STATE, source);
  if (note)
    set_note (it, "%s", note);
}

static int
by_path (const void *a, const void *b)
{
  return strcmp (((const struct firec_drift_item *) a)->path, ((const struct firec_drift_item *) b)->path);
}

static enum firec_drift_action
decide (const struct firec_drift *d)
{
  bool restart = false, live = false;
  for (size_t i = 0; i < d->count; i++)
    {
      restart |= d->items[i].how == FIREC_RECONCILE_RESTART;
      live |= d->items[i].how == FIREC_RECONCILE_LIVE;
    }
  if (restart)
    return FIREC_DRIFT_REPLACE;
  if (live)
    return FIREC_DRIFT_UPDATE;
  return d->paused ? FIREC_DRIFT_RESUME : FIREC_DRIFT_NONE;
}

int
firec_drift_compute (const struct firec_plan *plan, const struct firec_vm_info *info, struct firec_drift *ret,
                     firec_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  switch (info->state)
    {
    case FIREC_VM_STARTING:
      return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0, "%s is being started by firec-run (pid %ld)", info->name,
                                   (long) info->holder);
    case FIREC_VM_DAMAGED:
      /* It may still run: nothing can be decided about it. */
      return firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0, "cannot tell what %s is: %s", info->name,
                                   info->detail);
    case FIREC_VM_ABSENT:
      state_item (ret, "absent", "record", NULL);
      ret->action = FIREC_DRIFT_START;
      return 0;
    case FIREC_VM_EXITED:
    case FIREC_VM_STALE:
      state_item (ret, firec_vm_state_name (info->state), "record", "what is left of it is removed first");
      ret->action = FIREC_DRIFT_START;
      return 0;
    case FIREC_VM_PAUSED:
    case FIREC_VM_RUNNING:
      break;
    }
  if (compare_running (ret, plan, info, err) < 0)
    {
      firec_drift_release (ret);
      return -1;
    }
  ret->paused = info->state == FIREC_VM_PAUSED;
  if (ret->paused)
    state_item (ret, "paused", "vm", NULL);
  if (ret->count > 1)
    qsort (ret->items, ret->count, sizeof *ret->items, by_path);
  ret->action = decide (ret);
  return 0;
}

/* ------------------------------------------------------------------ output */

cJSON *
firec_drift_to_json (const struct firec_drift *drift)
{
  cJSON *list = cJSON_CreateArray ();
  for (size_t i = 0; i < drift->count; i++)
    {
      const struct firec_drift_item *it = &drift->items[i];
      cJSON *o = cJSON_CreateObject ();
      cJSON_AddStringToObject (o, "path", it->path);
      cJSON_AddItemToObject (o, "wanted", it->wanted ? cJSON_Duplicate (it->wanted, 1) : cJSON_CreateNull ());
      cJSON_AddItemToObject (o, "actual", it->actual ? cJSON_Duplicate (it->actual, 1) : cJSON_CreateNull ());
      cJSON_AddStringToObject (o, "reconcile", firec_reconcile_name (it->how));
      cJSON_AddStringToObject (o, "source", it->source);
      if (it->note)
        cJSON_AddStringToObject (o, "note", it->note);
      cJSON_AddItemToArray (list, o);
    }
  return list;
}

/* A value on one line, long ones cut. */
static char *
short_value (const cJSON *v)
{
  if (v == NULL)
    return firec_xstrdup ("(absent)");
  char *text = cJSON_PrintUnformatted (v);
  if (strlen (text) > 160)
    strcpy (text + 150, "...");
  return text;
}

char *
firec_drift_to_text (const struct firec_drift *drift)
{
  struct firec_buf buf = { 0 };
  for (size_t i = 0; i < drift->count; i++)
    {
      const struct firec_drift_item *it = &drift->items[i];
      cleanup_free char *actual = short_value (it->actual);
      cleanup_free char *wanted = short_value (it->wanted);
      firec_buf_printf (&buf, "  %s: %s -> %s (%s%s%s)\n", it->path[0] ? it->path : "(digest)", actual, wanted,
                        firec_reconcile_name (it->how), it->note ? ": " : "", it->note ? it->note : "");
    }
  return firec_buf_steal (&buf);
}
