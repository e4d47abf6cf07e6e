/* SPDX-License-Identifier: Apache-2.0 */
/* Version gates: walks the schema for every x-firec-since annotation and proves
   that a manifest using the annotated node plans at least that version, with the
   node named as the reason, and that writing a gated field's default value
   leaves it out of the request and needs nothing. A new annotation without a
   sample manifest here fails the test. */
#include "config.h"

#include "manifest.h"
#include "model.h"
#include "plan.h"
#include "schema.h"
#include "util.h"
#include "yaml-load.h"

#include "tap.h"

/* One use of an annotated node: the spec sections to add to the base manifest
   (JSON), for the field itself (value NULL) or for one value of a value map. */
struct sample
{
  const char *pointer;
  const char *value;
  const char *spec;
};

static const struct sample samples[] = {
  { "/spec/machine-config/huge_pages", NULL,
    "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"2M\"}}" },
  { "/spec/machine-config/huge_pages", "Transparent",
    "{\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 128, \"huge_pages\": \"Transparent\"}}" },
  { "/spec/drives/0/socket", NULL,
    "{\"drives\": [{\"drive_id\": \"vu\", \"socket\": \"/run/vu.sock\", \"is_root_device\": false}, "
    "{\"drive_id\": \"root\", \"path_on_host\": \"/r\", \"is_root_device\": true}]}" },
  { "/spec/pmem", NULL, "{\"pmem\": [{\"id\": \"pm0\", \"path_on_host\": \"/pm\"}]}" },
  { "/spec/pmem/0/rate_limiter", NULL,
    "{\"pmem\": [{\"id\": \"pm0\", \"path_on_host\": \"/pm\", \"rate_limiter\": {\"ops\": {\"size\": 10, "
    "\"refill_time\": 100}}}]}" },
  { "/spec/network-interfaces/0/mtu", NULL,
    "{\"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\", \"mtu\": 9000}]}" },
  { "/spec/balloon/free_page_hinting", NULL,
    "{\"balloon\": {\"amount_mib\": 0, \"deflate_on_oom\": false, \"free_page_hinting\": true}}" },
  { "/spec/balloon/free_page_reporting", NULL,
    "{\"balloon\": {\"amount_mib\": 0, \"deflate_on_oom\": false, \"free_page_reporting\": true}}" },
  { "/spec/serial", NULL, "{\"serial\": {\"serial_out_path\": \"/tmp/serial.out\"}}" },
  { "/spec/serial/rate_limiter", NULL,
    "{\"serial\": {\"serial_out_path\": \"/tmp/serial.out\", \"rate_limiter\": {\"size\": 1000, \"refill_time\": "
    "100}}}" },
  { "/spec/logger/module", NULL, "{\"logger\": {\"log_path\": \"/tmp/fc.log\", \"module\": \"api_server\"}}" },
  { "/spec/metrics/emit_id", NULL, "{\"metrics\": {\"metrics_path\": \"/tmp/fc.metrics\", \"emit_id\": true}}" },
  { "/spec/metrics/properties", NULL,
    "{\"metrics\": {\"metrics_path\": \"/tmp/fc.metrics\", \"properties\": {\"team\": \"edge\"}}}" },
  { "/spec/mmds-config/imds_compat", NULL,
    "{\"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}], "
    "\"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"imds_compat\": true}}" },
  { "/spec/memory-hotplug", NULL, "{\"memory-hotplug\": {\"total_size_mib\": 1024}}" },
  { "/spec/snapshot/track_dirty_pages", NULL, "{\"snapshot\": {\"track_dirty_pages\": true}}" },
  { "/spec/snapshot/network_overrides", NULL,
    "{\"snapshot\": {\"network_overrides\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap1\"}]}}" },
  { "/spec/snapshot/vsock_override", NULL, "{\"snapshot\": {\"vsock_override\": {\"uds_path\": \"/v.sock\"}}}" },
  { "/spec/snapshot/clock_realtime", NULL, "{\"snapshot\": {\"clock_realtime\": true}}" },
  { "/spec/snapshot/huge_pages", NULL, "{\"snapshot\": {\"huge_pages\": \"None\"}}" },
};

/* ------------------------------------------------------------------ the schema walk */

struct annotation
{
  char *pointer;
  const cJSON *since;
  const cJSON *def; /* the node's default, or NULL */
};

struct annotations
{
  const cJSON *root;
  struct annotation *items;
  size_t count;
};

static const cJSON *
deref (const cJSON *root, const cJSON *node)
{
  const char *ref = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (node, "$ref"));
  if (ref == NULL || strncmp (ref, "#/$defs/", 8) != 0)
    return node;
  return cJSON_GetObjectItemCaseSensitive (cJSON_GetObjectItemCaseSensitive (root, "$defs"), ref + 8);
}

static void
note (struct annotations *a, const char *pointer, const cJSON *since, const cJSON *def)
{
  for (size_t i = 0; i < a->count; i++)
    if (strcmp (a->items[i].pointer, pointer) == 0)
      return; /* reached again through another branch */
  a->items = firec_xrealloc (a->items, (a->count + 1) * sizeof *a->items);
  a->items[a->count++] = (struct annotation){ firec_xstrdup (pointer), since, def };
}

/* Instance pointers use 0 for array items: the samples put the node first. */
static void
walk (struct annotations *a, const cJSON *node, const char *pointer, int depth)
{
  if (depth > 32 || !cJSON_IsObject (node))
    return;
  const cJSON *since = cJSON_GetObjectItemCaseSensitive (node, "x-firec-since");
  const cJSON *def = cJSON_GetObjectItemCaseSensitive (node, "default");
  const cJSON *target = deref (a->root, node);
  if (since == NULL)
    since = cJSON_GetObjectItemCaseSensitive (target, "x-firec-since");
  if (def == NULL)
    def = cJSON_GetObjectItemCaseSensitive (target, "default");
  if (since)
    note (a, pointer, since, def);
  const cJSON *properties = cJSON_GetObjectItemCaseSensitive (target, "properties");
  for (const cJSON *p = properties ? properties->child : NULL; p; p = p->next)
    {
      cleanup_free char *sub = firec_xasprintf ("%s/%s", pointer, p->string);
      walk (a, p, sub, depth + 1);
    }
  const cJSON *items = cJSON_GetObjectItemCaseSensitive (target, "items");
  if (items)
    {
      cleanup_free char *sub = firec_xasprintf ("%s/0", pointer);
      walk (a, items, sub, depth + 1);
    }
  static const char *const branches[] = { "oneOf", "anyOf", "allOf" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (branches); i++)
    {
      const cJSON *list = cJSON_GetObjectItemCaseSensitive (target, branches[i]);
      for (const cJSON *b = list ? list->child : NULL; b; b = b->next)
        walk (a, b, pointer, depth + 1);
    }
}

/* ------------------------------------------------------------------ planning a sample */

static cJSON *
manifest_for (const char *spec_json)
{
  cJSON *spec = cJSON_Parse (spec_json);
  if (spec == NULL)
    return NULL;
  cJSON *m = cJSON_Parse ("{\"apiVersion\": \"firec/v1alpha1\", \"kind\": \"MicroVM\", \"metadata\": {\"name\": "
                          "\"gates\"}, \"spec\": {\"firecracker\": {\"binary\": \"/nonexistent/firecracker\"}, "
                          "\"jailer\": {\"binary\": \"/nonexistent/jailer\", \"uid\": 10001, \"gid\": 10001}}}");
  cJSON *base = cJSON_GetObjectItemCaseSensitive (m, "spec");
  if (cJSON_GetObjectItemCaseSensitive (spec, "snapshot") == NULL)
    {
      cJSON_AddItemToObject (base, "boot-source", cJSON_Parse ("{\"kernel_image_path\": \"/k\"}"));
      if (cJSON_GetObjectItemCaseSensitive (spec, "machine-config") == NULL)
        cJSON_AddItemToObject (base, "machine-config", cJSON_Parse ("{\"vcpu_count\": 1, \"mem_size_mib\": 128}"));
      if (cJSON_GetObjectItemCaseSensitive (spec, "drives") == NULL)
        cJSON_AddItemToObject (base, "drives",
                               cJSON_Parse ("[{\"drive_id\": \"root\", \"path_on_host\": \"/r\", "
                                            "\"is_root_device\": true}]"));
    }
  else
    {
      cJSON *snapshot = cJSON_GetObjectItemCaseSensitive (spec, "snapshot");
      cJSON_AddStringToObject (snapshot, "snapshot_path", "/s.snap");
      cJSON_AddItemToObject (snapshot, "mem_backend",
                             cJSON_Parse ("{\"backend_type\": \"File\", \"backend_path\": \"/s.mem\"}"));
    }
  while (spec->child)
    {
      cJSON *section = cJSON_DetachItemViaPointer (spec, spec->child);
      cJSON_AddItemToObject (base, section->string, section);
    }
  cJSON_Delete (spec);
  return m;
}

/* Plans the manifest; NULL (and the first diagnostic in *why) when it is invalid. */
static struct firec_plan *
plan_for (const cJSON *manifest, struct firec_model **model, char **why)
{
  cleanup_free char *text = cJSON_Print (manifest);
  struct firec_diags diags = { 0 };
  firec_error_t err = NULL;
  struct firec_doc *doc = NULL;
  struct firec_plan *plan = NULL;
  *model = NULL;
  *why = NULL;
  if (firec_yaml_load_buffer (text, strlen (text), "gates.yaml", &doc, &diags, &err) == 0
      && firec_manifest_validate (doc, &diags, &err) == 0 && firec_resolve (doc, model, &diags, &err) == 0)
    firec_plan_build (*model, &plan, &err);
  if (plan == NULL)
    *why = diags.count ? firec_diag_format (&diags.items[0]) : firec_xstrdup (err ? err->message : "not planned");
  firec_error_release (&err);
  firec_diags_release (&diags);
  firec_doc_free (doc);
  return plan;
}

static bool
plan_names (const struct firec_plan *plan, const char *pointer)
{
  for (size_t i = 0; i < plan->count; i++)
    for (char **r = plan->steps[i].min_version_reasons; r && *r; r++)
      if (strncmp (*r, pointer, strlen (pointer)) == 0 && (*r)[strlen (pointer)] == ' ')
        return true;
  return false;
}

static cJSON *
node_at (cJSON *root, const char *pointer)
{
  cJSON *node = root;
  for (const char *p = pointer; node && *p == '/';)
    {
      p++;
      size_t n = strcspn (p, "/");
      cleanup_free char *token = firec_xstrndup (p, n);
      p += n;
      node = cJSON_IsArray (node) ? cJSON_GetArrayItem (node, atoi (token))
                                  : cJSON_GetObjectItemCaseSensitive (node, token);
    }
  return node;
}

/* The same manifest with the field at its default: left out of every request,
   and needing nothing. */
static void
check_default (const struct annotation *a, const cJSON *sample_manifest)
{
  cleanup_cjson cJSON *manifest = cJSON_Duplicate (sample_manifest, 1);
  cJSON *node = node_at (manifest, a->pointer);
  if (node == NULL)
    {
      tap_ok (0, "%s: the sample has the field", a->pointer);
      return;
    }
  cleanup_free char *parent = firec_xstrndup (a->pointer, (size_t) (strrchr (a->pointer, '/') - a->pointer));
  cJSON_ReplaceItemInObjectCaseSensitive (node_at (manifest, parent), node->string, cJSON_Duplicate (a->def, 1));
  struct firec_model *model = NULL;
  cleanup_free char *why = NULL;
  struct firec_plan *plan = plan_for (manifest, &model, &why);
  if (plan == NULL)
    {
      tap_ok (0, "%s at its default: the manifest plans (%s)", a->pointer, why);
      return;
    }
  bool sent = false;
  for (size_t i = 0; i < plan->count; i++)
    {
      const struct firec_step *s = &plan->steps[i];
      size_t n = s->source ? strlen (s->source) : 0;
      if (s->body && n && strncmp (a->pointer, s->source, n) == 0 && a->pointer[n] == '/')
        sent |= node_at (s->body, a->pointer + n) != NULL;
    }
  cleanup_free char *def = cJSON_PrintUnformatted (a->def);
  tap_ok (!sent && !plan_names (plan, a->pointer),
          "%s: %s (its default) is left out of the request and needs no version", a->pointer, def);
  firec_plan_free (plan);
  firec_model_free (model);
}

static const char *
version_of (const cJSON *since, const char *value)
{
  if (cJSON_IsString (since))
    return value ? NULL : since->valuestring;
  if (value == NULL)
    return cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (since, "field"));
  return cJSON_GetStringValue (
      cJSON_GetObjectItemCaseSensitive (cJSON_GetObjectItemCaseSensitive (since, "values"), value));
}

static void
check_use (const struct annotation *a, const char *value, const char *version)
{
  const struct sample *sample = NULL;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (samples) && sample == NULL; i++)
    if (strcmp (samples[i].pointer, a->pointer) == 0
        && (samples[i].value == value || (samples[i].value && value && strcmp (samples[i].value, value) == 0)))
      sample = &samples[i];
  if (sample == NULL)
    {
      tap_ok (0, "%s%s%s (>= %s): a sample manifest uses it (add one to test-gates.c)", a->pointer, value ? " = " : "",
              value ? value : "", version);
      return;
    }
  cleanup_cjson cJSON *manifest = manifest_for (sample->spec);
  struct firec_model *model = NULL;
  cleanup_free char *why = NULL;
  struct firec_plan *plan = manifest ? plan_for (manifest, &model, &why) : NULL;
  if (plan == NULL)
    tap_ok (0, "%s%s%s: the sample plans (%s)", a->pointer, value ? " = " : "", value ? value : "",
            why ? why : "bad JSON");
  else
    {
      tap_ok (firec_version_compare (plan->min_firecracker_version, version) >= 0 && plan_names (plan, a->pointer),
              "%s%s%s: the plan needs Firecracker >= %s (got %s) and names the field", a->pointer, value ? " = " : "",
              value ? value : "", version, plan->min_firecracker_version);
      if (value == NULL && a->def)
        check_default (a, manifest);
    }
  firec_plan_free (plan);
  firec_model_free (model);
}

int
main (void)
{
  size_t len = 0;
  const char *text = firec_schema_text (&len);
  cleanup_cjson cJSON *schema = cJSON_ParseWithLength (text, len);
  struct annotations a = { schema, NULL, 0 };
  walk (&a, schema, "", 0);
  tap_ok (a.count >= 19, "the walk finds the schema's x-firec-since annotations (%zu, 19 when written)", a.count);
  for (size_t i = 0; i < a.count; i++)
    {
      const cJSON *since = a.items[i].since;
      const char *field = version_of (since, NULL);
      if (field)
        check_use (&a.items[i], NULL, field);
      const cJSON *values = cJSON_GetObjectItemCaseSensitive (since, "values");
      for (const cJSON *v = values ? values->child : NULL; v; v = v->next)
        check_use (&a.items[i], v->string, v->valuestring);
      tap_ok (field || values, "%s: x-firec-since is a version or {field, values}", a.items[i].pointer);
    }
  for (size_t i = 0; i < FIREC_N_ELEMENTS (samples); i++)
    {
      bool annotated = false;
      for (size_t j = 0; j < a.count; j++)
        annotated |= strcmp (samples[i].pointer, a.items[j].pointer) == 0;
      tap_ok (annotated, "the sample for %s is for an annotated node", samples[i].pointer);
    }
  for (size_t i = 0; i < a.count; i++)
    free (a.items[i].pointer);
  free (a.items);
  return tap_done ();
}
