/* SPDX-License-Identifier: Apache-2.0 */
/* lower: the resolved model becomes the ordered steps the interpreter runs.
   Order follows Firecracker's rules: logger and metrics first; mmds-config after
   the interfaces it names; MMDS data before InstanceStart; for a snapshot load,
   only logger, metrics, serial and cpu-config before the load. */
#include "config.h"

#include "manifest.h"
#include "plan.h"
#include "schema.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define FIREC_OLDEST_FIRECRACKER "1.5.1"

/* ------------------------------------------------------------------ string lists */

struct strv
{
  char **items;
  size_t count;
  size_t cap;                /* allocated slots, the terminating NULL included */
  struct firec_arena *arena; /* where the strings are copied (a plan's); NULL: malloc */
};

static void
strv_add (struct strv *v, const char *s)
{
  if (v->count + 2 > v->cap)
    {
      v->cap = v->cap ? v->cap * 2 : 4;
      v->items = firec_xrealloc (v->items, v->cap * sizeof *v->items);
    }
  v->items[v->count++] = v->arena ? firec_arena_strdup (v->arena, s) : firec_xstrdup (s);
  v->items[v->count] = NULL;
}

__attribute__ ((format (printf, 2, 3))) static void
strv_addf (struct strv *v, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *s = firec_xvasprintf (fmt, ap);
  va_end (ap);
  strv_add (v, s);
}

/* A number as an argument, without printf: its conversion costs ten times the digits. */
static void
strv_add_integer (struct strv *v, long long n)
{
  char buf[1 + FIREC_DECIMAL_MAX];
  char *digits = firec_decimal (n < 0 ? -(unsigned long long) n : (unsigned long long) n, buf + 1);
  if (n < 0)
    *--digits = '-';
  strv_add (v, digits);
}

static char **
strv_steal (struct strv *v)
{
  if (v->items == NULL)
    return firec_xcalloc (1, sizeof (char *));
  char **items = v->items;
  *v = (struct strv){ 0 };
  return items;
}

static void
strv_free (char **v)
{
  for (char **p = v; p && *p; p++)
    free (*p);
  free (v);
}

/* ------------------------------------------------------------------ versions */

int
firec_version_compare (const char *a, const char *b)
{
  while (*a == 'v')
    a++;
  while (*b == 'v')
    b++;
  for (;;)
    {
      char *ea, *eb;
      unsigned long x = strtoul (a, &ea, 10), y = strtoul (b, &eb, 10);
      if (x != y)
        return x < y ? -1 : 1;
      bool more_a = *ea == '.', more_b = *eb == '.';
      if (!more_a && !more_b)
        return 0;
      a = more_a ? ea + 1 : "0";
      b = more_b ? eb + 1 : "0";
      if (!more_a && !more_b)
        return 0;
    }
}

/* ------------------------------------------------------------------ building */

struct builder
{
  const struct firec_model *model;
  struct firec_plan *plan;
  firec_error_t *err;
  size_t steps_cap; /* allocated plan->steps; grown geometrically, not once per step */
};

static void
reserve_steps (struct builder *b, size_t more)
{
  struct firec_plan *p = b->plan;
  if (p->count + more <= b->steps_cap)
    return;
  size_t cap = b->steps_cap ? b->steps_cap : 16;
  while (cap < p->count + more)
    cap *= 2;
  p->steps = firec_xrealloc (p->steps, cap * sizeof *p->steps);
  b->steps_cap = cap;
}

/* A step's prose (what it does, touches, undoes) is not stored: see
   firec_step_prose. */
static struct firec_step *
add_step (struct builder *b, enum firec_step_kind kind, const char *id, const char *source)
{
  struct firec_plan *p = b->plan;
  reserve_steps (b, 1);
  struct firec_step *s = &p->steps[p->count++];
  memset (s, 0, sizeof *s);
  s->kind = kind;
  s->id = firec_arena_strdup (&p->strings, id);
  s->source = source ? firec_arena_strdup (&p->strings, source) : NULL;
  return s;
}

/* The step needs version for reason; so does the plan. */
static void
require_version (struct firec_plan *plan, struct firec_step *s, const char *version, const char *reason)
{
  if (s->min_version == NULL || firec_version_compare (version, s->min_version) > 0)
    s->min_version = firec_arena_strdup (&plan->strings, version);
  size_t count = 0;
  while (s->min_version_reasons && s->min_version_reasons[count])
    count++;
  s->min_version_reasons = firec_xrealloc (s->min_version_reasons, (count + 2) * sizeof (char *));
  s->min_version_reasons[count] = firec_arena_strdup (&plan->strings, reason);
  s->min_version_reasons[count + 1] = NULL;
  if (firec_version_compare (version, plan->min_firecracker_version) > 0)
    plan->min_firecracker_version = firec_arena_strdup (&plan->strings, version);
}

static const cJSON *
spec_section (const struct firec_model *m, const char *name)
{
  return firec_json_member (firec_json_member (m->manifest, "spec"), name);
}

/* Firecracker rejects unknown fields; x-* keys are ours, so they never reach it. */
static void
strip_extensions (cJSON *node)
{
  if (!cJSON_IsObject (node) && !cJSON_IsArray (node))
    return;
  cJSON *c = node->child;
  while (c)
    {
      cJSON *next = c->next;
      if (c->string && strncmp (c->string, "x-", 2) == 0)
        cJSON_Delete (cJSON_DetachItemViaPointer (node, c));
      else
        strip_extensions (c);
      c = next;
    }
}

static cJSON *
pointer_target (cJSON *root, const char *relative)
{
  cJSON *node = root;
  const char *p = relative;
  while (node && *p == '/')
    {
      p++;
      size_t n = strcspn (p, "/");
      /* On the stack unless long: every request body is found this way. */
      char small[64];
      cleanup_free char *large = n < sizeof small ? NULL : firec_xmalloc (n + 1);
      char *token = large ? large : small;
      memcpy (token, p, n);
      token[n] = '\0';
      p += n;
      node = cJSON_IsArray (node) ? cJSON_GetArrayItem (node, atoi (token)) : firec_json_member (node, token);
    }
  return node;
}

/* A copy of the manifest part at pointer, as Firecracker must receive it: x-*
   keys gone, every staged host path replaced by the path Firecracker sees. */
static cJSON *
request_body (const struct firec_model *m, const char *pointer)
{
  const cJSON *source = pointer_target (m->manifest, pointer);
  if (source == NULL)
    return NULL;
  cJSON *body = cJSON_Duplicate (source, 1);
  strip_extensions (body);
  size_t n = strlen (pointer);
  for (size_t i = 0; i < m->file_count; i++)
    {
      const struct firec_file *f = &m->files[i];
      if (strncmp (f->pointer, pointer, n) != 0 || f->pointer[n] != '/')
        continue;
      cJSON *target = pointer_target (body, f->pointer + n);
      if (cJSON_IsString (target))
        {
          free (target->valuestring);
          target->valuestring = firec_xstrdup (f->vm_path);
        }
    }
  return body;
}

/* Sockets Firecracker creates: inside the jail they are VM-root paths as written;
   without the jailer, Firecracker is not chrooted and binds the host path. */
static void
rewrite_vm_root_path (const struct firec_model *m, cJSON *object, const char *field)
{
  cJSON *v = cJSON_GetObjectItemCaseSensitive (object, field);
  if (m->jailer || !cJSON_IsString (v))
    return;
  char *host = firec_xstrjoin (m->vm_root, v->valuestring, NULL);
  free (v->valuestring);
  v->valuestring = host;
}

/* Files read as data are small JSON documents; a bound keeps a huge or endless
   file from taking the memory. */
#define DATA_FILE_MAX_BYTES (16u << 20)

/* Reads a data file the manifest names as JSON. Its problems are the manifest's
   (exit 2, like a missing file), named with the field's position: a FIFO, a
   device or a directory is refused before any read (a FIFO would block plan
   and run forever), and the size is bounded. */
static int
read_json_file (const struct firec_data_file *f, const char *what, cJSON **ret, firec_error_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  mode_t type;
  if (firec_read_regular_file (f->host_path, DATA_FILE_MAX_BYTES, &text, &len, &type) < 0)
    {
      if (type != 0)
        return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s: the %s %s is %s, not a regular file", f->where,
                                     what, f->host_path, firec_file_type_name (type));
      if (errno == EFBIG)
        return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s: the %s %s is larger than %u MiB", f->where, what,
                                     f->host_path, DATA_FILE_MAX_BYTES >> 20);
      return firec_error_set_kind (err, FIREC_ERR_INVALID, errno, "%s: cannot read the %s %s", f->where, what,
                                   f->host_path);
    }
  const char *end = NULL;
  *ret = cJSON_ParseWithLengthOpts (text, len, &end, 0);
  if (*ret == NULL)
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s: the %s %s is not valid JSON (near byte %td)", f->where,
                                 what, f->host_path, end ? end - text : 0);
  return 0;
}

/* Firecracker refuses a request body over --http-api-max-payload-size, and MMDS
   data over --mmds-size-limit: a data file is checked here, inline data by
   validation (firec_api_body_limit). */
static int
check_body_size (const struct firec_data_file *f, const char *what, const cJSON *body, long long limit,
                 const char *which, firec_error_t *err)
{
  cleanup_free char *text = cJSON_PrintUnformatted (body);
  size_t size = text ? strlen (text) : 0;
  if (size <= (size_t) limit)
    return 0;
  return firec_error_set_kind (err, FIREC_ERR_INVALID, 0,
                               "%s: the %s %s is %zu bytes as JSON, more than the %lld of %s", f->where, what,
                               f->host_path, size, limit, which);
}

static struct firec_step *
add_request (struct builder *b, const char *id, const char *method, const char *path, const char *source, cJSON *body)
{
  struct firec_step *s = add_step (b, FIREC_STEP_API_REQUEST, id, source);
  s->method = firec_arena_strdup (&b->plan->strings, method);
  s->path = firec_arena_strdup (&b->plan->strings, path);
  s->body = body;
  return s;
}

static void
add_section_request (struct builder *b, const char *section, const char *api_path)
{
  if (spec_section (b->model, section) == NULL)
    return;
  cleanup_free char *pointer = firec_xstrjoin ("/spec/", section, NULL);
  cleanup_free char *id = firec_xstrjoin ("api.put.", section, NULL);
  cJSON *body = request_body (b->model, pointer);
  if (strcmp (section, "vsock") == 0)
    rewrite_vm_root_path (b->model, body, "uds_path");
  add_request (b, id, "PUT", api_path, pointer, body);
}

static void
add_list_requests (struct builder *b, const char *section, const char *id_field, const char *api_prefix)
{
  const cJSON *list = spec_section (b->model, section);
  size_t i = 0;
  for (const cJSON *item = cJSON_IsArray (list) ? list->child : NULL; item; item = item->next, i++)
    {
      const char *id = firec_json_string (item, id_field);
      char index[FIREC_DECIMAL_MAX];
      cleanup_free char *pointer = firec_xstrjoin ("/spec/", section, "/", firec_decimal (i, index), NULL);
      cleanup_free char *step_id = firec_xstrjoin ("api.put.", section, ".", id, NULL);
      cleanup_free char *path = firec_xstrjoin (api_prefix, "/", id, NULL);
      cJSON *body = request_body (b->model, pointer);
      /* Firecracker 1.5.1 requires is_read_only on every file-backed drive. */
      if (strcmp (section, "drives") == 0 && firec_json_member (body, "path_on_host") != NULL
          && firec_json_member (body, "is_read_only") == NULL)
        cJSON_AddBoolToObject (body, "is_read_only", 0);
      if (strcmp (section, "drives") == 0)
        rewrite_vm_root_path (b->model, body, "socket");
      add_request (b, step_id, "PUT", path, pointer, body);
    }
}

static int
add_cpu_config (struct builder *b)
{
  const cJSON *cpu = spec_section (b->model, "cpu-config");
  if (cpu == NULL)
    return 0;
  cJSON *body;
  if (cJSON_IsString (cpu))
    {
      const struct firec_data_file *f = &b->model->cpu_config_file;
      const char *which;
      long long limit = firec_api_body_limit (b->model->http_api_max_payload_size, 0, &which);
      if (read_json_file (f, "cpu-config file", &body, b->err) < 0)
        return -1;
      if (check_body_size (f, "cpu-config file", body, limit, which, b->err) < 0)
        {
          cJSON_Delete (body);
          return -1;
        }
    }
  else
    body = request_body (b->model, "/spec/cpu-config");
  add_request (b, "api.put.cpu-config", "PUT", "/cpu-config", "/spec/cpu-config", body);
  return 0;
}

static int
add_mmds_data (struct builder *b)
{
  const cJSON *mmds = spec_section (b->model, "mmds");
  if (mmds == NULL)
    return 0;
  const cJSON *data = cJSON_GetObjectItemCaseSensitive (mmds, "data");
  const char *file = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (mmds, "data_file"));
  cJSON *body;
  if (data)
    body = cJSON_Duplicate (data, 1); /* MMDS data is the user's: x-* keys stay */
  else
    {
      const struct firec_data_file *f = &b->model->mmds_data_file;
      const char *which;
      long long limit = firec_api_body_limit (b->model->http_api_max_payload_size, b->model->mmds_size_limit, &which);
      if (read_json_file (f, "MMDS data file", &body, b->err) < 0)
        return -1;
      if (!cJSON_IsObject (body))
        {
          cJSON_Delete (body);
          return firec_error_set_kind (b->err, FIREC_ERR_INVALID, 0,
                                       "%s: the MMDS data file %s must hold a JSON object (Firecracker's MMDS store "
                                       "is one)",
                                       f->where, file);
        }
      if (check_body_size (f, "MMDS data file", body, limit, which, b->err) < 0)
        {
          cJSON_Delete (body);
          return -1;
        }
    }
  add_request (b, "api.put.mmds", "PUT", "/mmds", "/spec/mmds", body);
  return 0;
}

static void
add_snapshot_load (struct builder *b)
{
  cJSON *body = request_body (b->model, "/spec/snapshot");
  /* firec-run's own: the drives it staged for the snapshot, not a load parameter. */
  cJSON_DeleteItemFromObjectCaseSensitive (body, "drives");
  cJSON *override = cJSON_GetObjectItemCaseSensitive (body, "vsock_override");
  rewrite_vm_root_path (b->model, override, "uds_path");
  add_request (b, "api.put.snapshot-load", "PUT", "/snapshot/load", "/spec/snapshot", body);
}

static void
firecracker_argv_tail (const struct firec_model *m, struct strv *argv)
{
  strv_add (argv, "--api-sock");
  strv_add (argv, m->api_socket_vm);
  switch (m->seccomp)
    {
    case FIREC_SECCOMP_DEFAULT:
      break;
    case FIREC_SECCOMP_NONE:
      strv_add (argv, "--no-seccomp");
      break;
    case FIREC_SECCOMP_FILTER:
      strv_add (argv, "--seccomp-filter");
      strv_add (argv, firec_model_find_file (m, "/spec/firecracker/seccomp/filter")->vm_path);
      break;
    }
  if (m->boot_timer)
    strv_add (argv, "--boot-timer");
  if (m->http_api_max_payload_size)
    {
      strv_add (argv, "--http-api-max-payload-size");
      strv_add_integer (argv, m->http_api_max_payload_size);
    }
  if (m->mmds_size_limit)
    {
      strv_add (argv, "--mmds-size-limit");
      strv_add_integer (argv, m->mmds_size_limit);
    }
}

static void
add_spawn (struct builder *b)
{
  const struct firec_model *m = b->model;
  struct strv argv = { .arena = &b->plan->strings };
  struct firec_step *s;
  if (m->jailer)
    {
      strv_add (&argv, m->jailer_binary.path);
      strv_add (&argv, "--id");
      strv_add (&argv, m->name);
      strv_add (&argv, "--exec-file");
      strv_add (&argv, m->firecracker_binary.path);
      char uid[FIREC_DECIMAL_MAX], gid[FIREC_DECIMAL_MAX];
      strv_add (&argv, "--uid");
      strv_add (&argv, firec_decimal (m->uid, uid));
      strv_add (&argv, "--gid");
      strv_add (&argv, firec_decimal (m->gid, gid));
      strv_add (&argv, "--chroot-base-dir");
      strv_add (&argv, m->chroot_base_dir);
      if (m->netns)
        {
          strv_add (&argv, "--netns");
          strv_add (&argv, m->netns);
        }
      if (m->daemonize)
        strv_add (&argv, "--daemonize");
      if (m->new_pid_ns)
        strv_add (&argv, "--new-pid-ns");
      for (char **c = m->cgroups; *c; c++)
        {
          strv_add (&argv, "--cgroup");
          strv_add (&argv, *c);
        }
      if (m->cgroups[0] || m->parent_cgroup)
        {
          strv_add (&argv, "--cgroup-version");
          strv_add_integer (&argv, m->cgroup_version);
        }
      if (m->parent_cgroup)
        {
          strv_add (&argv, "--parent-cgroup");
          strv_add (&argv, m->parent_cgroup);
        }
      for (char **r = m->resource_limits; *r; r++)
        {
          strv_add (&argv, "--resource-limit");
          strv_add (&argv, *r);
        }
      strv_add (&argv, "--");
      firecracker_argv_tail (m, &argv);
      s = add_step (b, FIREC_STEP_SPAWN, "jailer.spawn", "/spec/jailer");
      /* Before 1.13 the jailer refuses an exec file whose name lacks "firecracker"
         (the name of the file itself: it canonicalizes --exec-file). */
      if (strstr (m->exec_name, "firecracker") == NULL)
        {
          cleanup_free char *reason = NULL;
          if (strcmp (m->firecracker_binary.written, m->firecracker_binary.path) == 0)
            reason = firec_xasprintf (
                "/spec/firecracker/binary (Firecracker >= 1.13: the file name \"%s\" lacks \"firecracker\")",
                m->exec_name);
          else
            reason = firec_xasprintf ("/spec/firecracker/binary (Firecracker >= 1.13: %s is %s, whose file name "
                                      "\"%s\" lacks \"firecracker\")",
                                      m->firecracker_binary.written, m->firecracker_binary.path, m->exec_name);
          require_version (b->plan, s, "1.13", reason);
        }
    }
  else
    {
      strv_add (&argv, m->firecracker_binary.path);
      strv_add (&argv, "--id");
      strv_add (&argv, m->name);
      firecracker_argv_tail (m, &argv);
      s = add_step (b, FIREC_STEP_SPAWN, "firecracker.spawn", "/spec/firecracker");
    }
  s->argv = strv_steal (&argv);
}

static void add_network_preflight (struct builder *b);

static void
add_preflight (struct builder *b)
{
  const struct firec_model *m = b->model;
  if (m->jailer)
    add_step (b, FIREC_STEP_PREFLIGHT_CAPS, "preflight.caps", "/spec/jailer");
  add_step (b, FIREC_STEP_PREFLIGHT_KVM, "preflight.kvm", NULL);
  add_step (b, FIREC_STEP_PREFLIGHT_BINARIES, "preflight.binaries", "/spec/firecracker");
  add_step (b, FIREC_STEP_PREFLIGHT_SOURCES, "preflight.sources", NULL);
  if (m->jailer)
    add_step (b, FIREC_STEP_PREFLIGHT_JAIL, "preflight.jail", "/spec/jailer");
  else
    add_step (b, FIREC_STEP_PREFLIGHT_JAIL, "preflight.rundir", NULL);
  add_network_preflight (b);
}

/* The namespace a TAP lives in, for descriptions. */
static const char *
tap_namespace (const struct firec_model *m)
{
  return m->jailer && m->netns ? m->netns : NULL;
}

/* Who opens the TAP: the VM's uid and gid, or firec-run's own without the
   jailer (the plan does not depend on who prints it). */
static char *
tap_user (const struct firec_model *m)
{
  return m->jailer ? firec_xasprintf ("%lu:%lu", m->uid, m->gid) : firec_xstrdup ("firec-run's uid:gid");
}

static void
add_network_preflight (struct builder *b)
{
  const struct firec_model *m = b->model;
  if (m->tap_count)
    add_step (b, FIREC_STEP_PREFLIGHT_NETWORK, "preflight.network",
              m->snapshot ? "/spec/snapshot" : "/spec/network-interfaces");
}

/* One step per interface: the TAP is made (and recorded) by the run only when
   it does not exist; preflight has checked the ones that do. */
static void
add_taps (struct builder *b)
{
  const struct firec_model *m = b->model;
  for (size_t i = 0; i < m->tap_count; i++)
    add_step (b, FIREC_STEP_NET_TAP, m->taps[i].step_id, m->taps[i].pointer)->tap = &m->taps[i];
}

static const char *
staging_verb (const struct firec_file *f)
{
  if (f->output)
    return "create anew on the host (an existing file moved aside to <path>.1), then link";
  if (f->writable)
    return f->mode == FIREC_STAGING_COPY ? "copy (ephemeral: the guest's writes are discarded)"
                                         : "hard link (or bind mount across filesystems)";
  switch (f->mode)
    {
    case FIREC_STAGING_AUTO:
      return "hard link, reflink or copy";
    case FIREC_STAGING_LINK:
      return "hard link";
    case FIREC_STAGING_REFLINK:
      return "reflink";
    case FIREC_STAGING_COPY:
      return "copy";
    }
  return "stage";
}

static void
add_staging (struct builder *b)
{
  const struct firec_model *m = b->model;
  add_step (b, FIREC_STEP_STATE_CREATE, "state.create", NULL);
  if (m->jailer)
    add_step (b, FIREC_STEP_STAGE_JAIL, "stage.jail", "/spec/jailer");
  else
    add_step (b, FIREC_STEP_STAGE_JAIL, "stage.rundir", NULL);
  for (size_t i = 0; i < m->file_count; i++)
    {
      const struct firec_file *f = &m->files[i];
      /* Without the jailer Firecracker opens the host files in place; only output
         files need creating (v1.5.1 refuses a log file that does not exist). */
      if (!m->jailer && !f->output)
        continue;
      add_step (b, FIREC_STEP_STAGE_FILE, f->step_id, f->pointer)->file = f;
    }
}

static int
add_configuration (struct builder *b)
{
  const struct firec_model *m = b->model;
  add_section_request (b, "logger", "/logger");
  add_section_request (b, "metrics", "/metrics");
  if (m->snapshot)
    {
      add_section_request (b, "serial", "/serial");
      if (add_cpu_config (b) < 0)
        return -1;
      add_snapshot_load (b);
      return add_mmds_data (b);
    }
  add_section_request (b, "machine-config", "/machine-config");
  if (add_cpu_config (b) < 0)
    return -1;
  add_section_request (b, "boot-source", "/boot-source");
  add_list_requests (b, "drives", "drive_id", "/drives");
  add_list_requests (b, "pmem", "id", "/pmem");
  add_list_requests (b, "network-interfaces", "iface_id", "/network-interfaces");
  add_section_request (b, "vsock", "/vsock");
  add_section_request (b, "balloon", "/balloon");
  add_section_request (b, "entropy", "/entropy");
  add_section_request (b, "serial", "/serial");
  add_section_request (b, "memory-hotplug", "/hotplug/memory");
  add_section_request (b, "mmds-config", "/mmds/config");
  if (add_mmds_data (b) < 0)
    return -1;
  struct firec_step *s = add_request (b, "api.action.InstanceStart", "PUT", "/actions", NULL, cJSON_CreateObject ());
  cJSON_AddStringToObject (s->body, "action_type", "InstanceStart");
  return 0;
}

/* Version gating: the schema marks what Firecracker 1.5.1 does not know with
   x-firec-since, either a version (the field, section or array needs it) or
   {"field": version, "values": {value: version}} for a field that came with some
   of its values and got others later. */
struct version_gate
{
  const struct firec_schema *schema;
  struct firec_plan *plan;
};

/* The schema's default for the node at pointer, as the parent's defaults give
   it (a default may sit beside a $ref), or NULL. */
static cJSON *
schema_default_at (const struct firec_schema *schema, const char *pointer)
{
  const char *slash = strrchr (pointer, '/');
  if (slash == NULL || slash == pointer)
    return NULL;
  cleanup_free char *parent = firec_xstrndup (pointer, (size_t) (slash - pointer));
  cleanup_cjson cJSON *defaults = cJSON_CreateObject ();
  firec_schema_apply_defaults (schema, parent, defaults);
  return cJSON_DetachItemFromObjectCaseSensitive (defaults, slash + 1);
}

static const char *
newer_version (const char *a, const char *b)
{
  if (a == NULL)
    return b;
  if (b == NULL)
    return a;
  return firec_version_compare (a, b) >= 0 ? a : b;
}

static const char *
version_needed (const cJSON *instance, const cJSON *annotation)
{
  if (cJSON_IsString (annotation))
    return annotation->valuestring;
  const char *field = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (annotation, "field"));
  const cJSON *values = cJSON_GetObjectItemCaseSensitive (annotation, "values");
  const char *value = cJSON_IsString (instance)
                          ? cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (values, instance->valuestring))
                          : NULL;
  return newer_version (field, value);
}

/* A step's request comes from its source: an annotated node at or below it is
   part of the body, one above it (a section, an array) contains the step. */
static bool
step_relates (const struct firec_step *s, const char *pointer)
{
  if (s->kind != FIREC_STEP_API_REQUEST || s->source == NULL)
    return false;
  size_t n = strlen (s->source), p = strlen (pointer);
  if (p >= n)
    return strncmp (pointer, s->source, n) == 0 && (pointer[n] == '/' || pointer[n] == '\0');
  return strncmp (s->source, pointer, p) == 0 && s->source[p] == '/';
}

/* Removes the node at pointer (below the step's source) from the step's body. */
static void
omit_from_body (struct firec_step *s, const char *pointer)
{
  size_t n = strlen (s->source);
  if (strlen (pointer) <= n || s->body == NULL)
    return;
  const char *relative = pointer + n;
  const char *last = strrchr (relative, '/');
  cleanup_free char *parent_pointer = firec_xstrndup (relative, (size_t) (last - relative));
  cJSON *parent = pointer_target (s->body, parent_pointer);
  if (cJSON_IsObject (parent))
    cJSON_DeleteItemFromObjectCaseSensitive (parent, last + 1);
}

/* A field written with its default value is left out of the request: its
   absence means the same to every version, so it needs none (an imported
   `huge_pages: None` still runs on 1.5.1, which refuses the key). Any other use
   makes every step the node belongs to need the version. */
static void
note_version (const cJSON *instance, const cJSON *annotation, const char *pointer, void *data)
{
  struct version_gate *g = data;
  const char *version = version_needed (instance, annotation);
  if (version == NULL)
    return;
  cleanup_cjson cJSON *def = schema_default_at (g->schema, pointer);
  bool is_default = def && cJSON_Compare (def, instance, true);
  for (size_t i = 0; i < g->plan->count; i++)
    {
      struct firec_step *s = &g->plan->steps[i];
      if (!step_relates (s, pointer))
        continue;
      if (is_default)
        omit_from_body (s, pointer);
      else
        {
          cleanup_free char *reason = firec_xasprintf ("%s (Firecracker >= %s)", pointer, version);
          require_version (g->plan, s, version, reason);
        }
    }
}

int
firec_plan_build (const struct firec_model *model, struct firec_plan **ret, firec_error_t *err)
{
  const struct firec_schema *schema = firec_schema_builtin (err);
  if (schema == NULL)
    return -1;
  struct firec_plan *plan = firec_xcalloc (1, sizeof *plan);
  plan->model = model;
  plan->min_firecracker_version = firec_arena_strdup (&plan->strings, FIREC_OLDEST_FIRECRACKER);
  struct builder b = { model, plan, err, 0 };
  add_preflight (&b);
  add_staging (&b);
  add_taps (&b);
  add_spawn (&b);
  add_step (&b, FIREC_STEP_API_WAIT, "api.wait", "/spec/firecracker/api_socket");
  if (add_configuration (&b) < 0)
    {
      firec_plan_free (plan);
      return -1;
    }
  bool paused = model->snapshot
                && !cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (spec_section (model, "snapshot"), "resume_vm"));
  struct firec_step *s = add_step (&b, FIREC_STEP_API_CONFIRM, "api.confirm", NULL);
  s->expect_state = firec_arena_strdup (&plan->strings, paused ? "Paused" : "Running");
  add_step (&b, FIREC_STEP_STATE_RECORD, "state.record", NULL);
  /* The requests are all there: gate them by the versions their fields need. */
  struct version_gate gate = { schema, plan };
  firec_schema_walk_annotation (schema, model->manifest, "x-firec-since", note_version, &gate);
  *ret = plan;
  return 0;
}

void
firec_plan_free (struct firec_plan *plan)
{
  if (plan == NULL)
    return;
  /* Every string of the plan is in plan->strings; the lists holding them are not. */
  for (size_t i = 0; i < plan->count; i++)
    {
      free (plan->steps[i].min_version_reasons);
      free (plan->steps[i].argv);
      cJSON_Delete (plan->steps[i].body);
    }
  free (plan->steps);
  firec_arena_release (&plan->strings);
  free (plan);
}

const struct firec_step *
firec_plan_find_step (const struct firec_plan *plan, const char *id)
{
  for (size_t i = 0; i < plan->count; i++)
    if (strcmp (plan->steps[i].id, id) == 0)
      return &plan->steps[i];
  return NULL;
}

const char *
firec_step_kind_name (enum firec_step_kind kind)
{
  switch (kind)
    {
    case FIREC_STEP_PREFLIGHT_CAPS:
    case FIREC_STEP_PREFLIGHT_KVM:
    case FIREC_STEP_PREFLIGHT_BINARIES:
    case FIREC_STEP_PREFLIGHT_SOURCES:
    case FIREC_STEP_PREFLIGHT_JAIL:
    case FIREC_STEP_PREFLIGHT_NETWORK:
      return "preflight";
    case FIREC_STEP_STATE_CREATE:
      return "state-create";
    case FIREC_STEP_STAGE_JAIL:
      return "stage-root";
    case FIREC_STEP_STAGE_FILE:
      return "stage-file";
    case FIREC_STEP_NET_TAP:
      return "net-tap";
    case FIREC_STEP_SPAWN:
      return "spawn";
    case FIREC_STEP_API_WAIT:
      return "api-wait";
    case FIREC_STEP_API_REQUEST:
      return "api-request";
    case FIREC_STEP_API_CONFIRM:
      return "api-confirm";
    case FIREC_STEP_STATE_RECORD:
      return "state-record";
    }
  return "unknown";
}

/* ------------------------------------------------------------------ prose */

/* Steps are data; their prose is built from the step and the plan's model
   when shown, never when planning: the interpreter runs the data, and `apply`
   plans every manifest although one already running shows nothing. */

__attribute__ ((format (printf, 2, 3))) static void
set_text (char **field, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  *field = firec_xvasprintf (fmt, ap);
  va_end (ap);
}

static void
kvm_prose (const struct firec_model *m, struct firec_step_prose *ret, struct strv *touches)
{
  strv_add (touches, "/dev/kvm");
  if (m->huge_page_kib == 0)
    {
      ret->description = firec_xstrdup ("check that /dev/kvm is readable and writable");
      return;
    }
  set_text (&ret->description,
            "check that /dev/kvm is readable and writable, and that %llu free %lu MiB huge pages hold the "
            "guest memory (machine-config.huge_pages)",
            (m->mem_size_mib * 1024 + m->huge_page_kib - 1) / m->huge_page_kib, m->huge_page_kib / 1024);
  strv_addf (touches, "/sys/kernel/mm/hugepages/hugepages-%lukB", m->huge_page_kib);
}

/* The version checked is the plan's minimum: what the spawn and every request need. */
static void
binaries_prose (const struct firec_plan *plan, struct firec_step_prose *ret, struct strv *touches)
{
  const struct firec_model *m = plan->model;
  strv_add (touches, m->firecracker_binary.path);
  if (m->jailer)
    {
      strv_add (touches, m->jailer_binary.path);
      set_text (&ret->description,
                "check that %s and %s are still the files resolved, run, and are one release, at least %s",
                m->firecracker_binary.path, m->jailer_binary.path, plan->min_firecracker_version);
    }
  else
    set_text (&ret->description, "check that %s is still the file resolved, runs, and is at least %s",
              m->firecracker_binary.path, plan->min_firecracker_version);
}

static void
jail_check_prose (const struct firec_model *m, struct firec_step_prose *ret, struct strv *touches)
{
  if (m->jailer)
    {
      set_text (&ret->description, "check that %s exists and that %s is not in use%s", m->chroot_base_dir, m->jail_dir,
                m->cgroups[0] ? ", nor the VM's cgroup" : "");
      strv_add (touches, m->jail_dir);
    }
  else
    {
      set_text (&ret->description, "check that %s is not in use", m->vm_root);
      strv_add (touches, m->vm_root);
    }
}

static void
stage_file_prose (const struct firec_model *m, const struct firec_file *f, struct firec_step_prose *ret,
                  struct strv *touches)
{
  if (!m->jailer)
    {
      set_text (&ret->description, "create %s anew (an existing file moved aside to %s.1)", f->host_path, f->host_path);
      strv_add (touches, f->host_path);
      set_text (&ret->undo, "remove %s and move the earlier files back (a start that fails)", f->host_path);
      return;
    }
  set_text (&ret->description, "%s %s into the jail as %s", staging_verb (f), f->host_path, f->vm_path);
  strv_addf (touches, "%s%s", m->vm_root, f->vm_path);
  if (!f->output)
    {
      set_text (&ret->undo, "remove %s%s", m->vm_root, f->vm_path);
      return;
    }
  strv_add (touches, f->host_path);
  set_text (&ret->undo, "remove %s%s; a start that fails also removes %s and moves the earlier files back", m->vm_root,
            f->vm_path, f->host_path);
}

static void
add_tap_touch (const struct firec_model *m, const struct firec_tap *t, struct strv *touches)
{
  if (tap_namespace (m))
    strv_addf (touches, "TAP %s in %s", t->name, tap_namespace (m));
  else
    strv_addf (touches, "TAP %s", t->name);
}

static void
network_check_prose (const struct firec_model *m, struct firec_step_prose *ret, struct strv *touches)
{
  cleanup_free char *user = tap_user (m);
  set_text (&ret->description,
            "check each interface's TAP%s: one that exists must be a single-queue TAP that no process has open and "
            "that %s may open (owner and group unset or theirs); creating the others needs CAP_NET_ADMIN",
            tap_namespace (m) ? " in the network namespace" : "", user);
  for (size_t i = 0; i < m->tap_count; i++)
    add_tap_touch (m, &m->taps[i], touches);
}

static void
tap_prose (const struct firec_model *m, const struct firec_tap *t, struct firec_step_prose *ret, struct strv *touches)
{
  struct firec_buf how = { 0 };
  cleanup_free char *user = tap_user (m);
  firec_buf_printf (&how, "owner %s", user);
  if (tap_namespace (m))
    firec_buf_printf (&how, ", in %s", tap_namespace (m));
  if (t->mtu)
    firec_buf_printf (&how, ", mtu %u", t->mtu);
  if (t->bridge)
    firec_buf_printf (&how, ", on bridge %s", t->bridge);
  set_text (&ret->description, "create the TAP %s (%s, link up) unless it exists; an existing one is used as it is",
            t->name, how.data);
  firec_buf_release (&how);
  add_tap_touch (m, t, touches);
  set_text (&ret->undo, "remove %s if this run created it and it is still that device (the same ifindex)", t->name);
}

static void
spawn_prose (const struct firec_model *m, struct firec_step_prose *ret, struct strv *touches)
{
  if (m->jailer)
    {
      /* With cgroups, firec-run makes the VM's own first: one that is there is another's (interp.c). */
      set_text (&ret->description, "%sstart the jailer, which chroots into %s and execs firecracker as %lu:%lu",
                m->cgroups[0] ? "create the VM's cgroup (one that exists is not this run's: the start fails), then "
                              : "",
                m->vm_root, m->uid, m->gid);
      strv_add (touches, m->jail_dir);
      if (m->cgroups[0] || m->parent_cgroup)
        strv_addf (touches, "cgroup %s/%s", m->parent_cgroup ? m->parent_cgroup : m->exec_name, m->name);
      set_text (&ret->undo, "stop firecracker (SIGKILL through its pidfd), reap it%s",
                m->cgroups[0] ? ", remove the cgroup directories this run created" : "");
    }
  else
    {
      set_text (&ret->description, "start firecracker directly (no jailer), its API socket in %s", m->vm_root);
      strv_add (touches, m->api_socket_host);
      ret->undo = firec_xstrdup ("stop firecracker (SIGKILL through its pidfd), reap it");
    }
}

void
firec_step_prose (const struct firec_plan *plan, const struct firec_step *s, struct firec_step_prose *ret)
{
  const struct firec_model *m = plan->model;
  const char *root = m->jailer ? m->jail_dir : m->vm_root;
  struct strv touches = { 0 };
  *ret = (struct firec_step_prose){ 0 };
  switch (s->kind)
    {
    case FIREC_STEP_PREFLIGHT_CAPS:
      ret->description = firec_xstrdup ("check the effective capabilities the jailer needs (CAP_SYS_ADMIN, CAP_MKNOD, "
                                        "CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_KILL, "
                                        "CAP_SYS_RESOURCE)");
      break;
    case FIREC_STEP_PREFLIGHT_KVM:
      kvm_prose (m, ret, &touches);
      break;
    case FIREC_STEP_PREFLIGHT_BINARIES:
      binaries_prose (plan, ret, &touches);
      break;
    case FIREC_STEP_PREFLIGHT_SOURCES:
      ret->description = firec_xstrdup ("check that every input file is readable and every output file can be created");
      for (size_t i = 0; i < m->file_count; i++)
        strv_add (&touches, m->files[i].host_path);
      break;
    case FIREC_STEP_PREFLIGHT_JAIL:
      jail_check_prose (m, ret, &touches);
      break;
    case FIREC_STEP_PREFLIGHT_NETWORK:
      network_check_prose (m, ret, &touches);
      break;
    case FIREC_STEP_NET_TAP:
      tap_prose (m, s->tap, ret, &touches);
      break;
    case FIREC_STEP_STATE_CREATE:
      set_text (&ret->description, "create the state directory %s and lock it", m->state_dir);
      strv_add (&touches, m->state_dir);
      set_text (&ret->undo, "remove %s", m->state_dir);
      break;
    case FIREC_STEP_STAGE_JAIL:
      set_text (&ret->description, m->jailer ? "create the jail root %s" : "create the private run directory %s",
                m->vm_root);
      strv_add (&touches, root);
      set_text (&ret->undo, "remove %s and everything in it", root);
      break;
    case FIREC_STEP_STAGE_FILE:
      stage_file_prose (m, s->file, ret, &touches);
      break;
    case FIREC_STEP_SPAWN:
      spawn_prose (m, ret, &touches);
      break;
    case FIREC_STEP_API_WAIT:
      set_text (&ret->description, "wait until %s answers GET / (at most %ld ms)", m->api_socket_host,
                m->start_timeout_ms);
      strv_add (&touches, m->api_socket_host);
      break;
    case FIREC_STEP_API_REQUEST:
      set_text (&ret->description, "%s %s", s->method, s->path);
      break;
    case FIREC_STEP_API_CONFIRM:
      set_text (&ret->description, "check that GET / reports the VM %s", s->expect_state);
      break;
    case FIREC_STEP_STATE_RECORD:
      set_text (&ret->description, "record the running VM (pid, start time, API socket) in %s/state.json",
                m->state_dir);
      strv_addf (&touches, "%s/state.json", m->state_dir);
      break;
    }
  ret->touches = strv_steal (&touches);
}

void
firec_step_prose_release (struct firec_step_prose *prose)
{
  free (prose->description);
  strv_free (prose->touches);
  free (prose->undo);
  *prose = (struct firec_step_prose){ 0 };
}

static cJSON *
strv_to_json (char **v)
{
  cJSON *a = cJSON_CreateArray ();
  for (char **p = v; p && *p; p++)
    cJSON_AddItemToArray (a, cJSON_CreateString (*p));
  return a;
}

cJSON *
firec_plan_to_json (const struct firec_plan *plan)
{
  cJSON *o = cJSON_CreateObject ();
  cJSON_AddNumberToObject (o, "format_version", FIREC_PLAN_FORMAT_VERSION);
  cJSON_AddStringToObject (o, "name", plan->model->name);
  cJSON_AddStringToObject (o, "min_firecracker_version", plan->min_firecracker_version);
  cJSON *steps = cJSON_AddArrayToObject (o, "steps");
  for (size_t i = 0; i < plan->count; i++)
    {
      const struct firec_step *s = &plan->steps[i];
      struct firec_step_prose prose;
      firec_step_prose (plan, s, &prose);
      cJSON *j = cJSON_CreateObject ();
      cJSON_AddStringToObject (j, "id", s->id);
      cJSON_AddStringToObject (j, "kind", firec_step_kind_name (s->kind));
      cJSON_AddStringToObject (j, "description", prose.description);
      cJSON_AddItemToObject (j, "touches", strv_to_json (prose.touches));
      if (prose.undo)
        cJSON_AddStringToObject (j, "undo", prose.undo);
      else
        cJSON_AddNullToObject (j, "undo");
      if (s->min_version)
        {
          cJSON_AddStringToObject (j, "min_firecracker_version", s->min_version);
          cJSON_AddItemToObject (j, "min_firecracker_version_for", strv_to_json (s->min_version_reasons));
        }
      if (s->argv)
        cJSON_AddItemToObject (j, "argv", strv_to_json (s->argv));
      if (s->method)
        {
          cJSON *r = cJSON_AddObjectToObject (j, "request");
          cJSON_AddStringToObject (r, "method", s->method);
          cJSON_AddStringToObject (r, "path", s->path);
          cJSON_AddItemToObject (r, "body", s->body ? cJSON_Duplicate (s->body, 1) : cJSON_CreateNull ());
        }
      if (s->expect_state)
        cJSON_AddStringToObject (j, "expect_state", s->expect_state);
      cJSON_AddItemToArray (steps, j);
      firec_step_prose_release (&prose);
    }
  return o;
}

char *
firec_plan_to_text (const struct firec_plan *plan)
{
  struct firec_buf buf = { 0 };
  firec_buf_printf (&buf, "plan for %s (%zu steps, Firecracker >= %s)\n", plan->model->name, plan->count,
                    plan->min_firecracker_version);
  for (size_t i = 0; i < plan->count; i++)
    {
      const struct firec_step *s = &plan->steps[i];
      struct firec_step_prose prose;
      firec_step_prose (plan, s, &prose);
      firec_buf_printf (&buf, "%3zu. %-34s %s", i + 1, s->id, prose.description);
      if (prose.touches[0])
        {
          firec_buf_puts (&buf, "; touches ");
          for (char **t = prose.touches; *t; t++)
            firec_buf_printf (&buf, "%s%s", t == prose.touches ? "" : ", ", *t);
        }
      firec_buf_printf (&buf, "; undo: %s", prose.undo ? prose.undo : "nothing");
      if (s->min_version)
        firec_buf_printf (&buf, "; needs Firecracker >= %s", s->min_version);
      firec_buf_puts (&buf, "\n");
      firec_step_prose_release (&prose);
    }
  return firec_buf_steal (&buf);
}

cJSON *
firec_plan_firecracker_config (const struct firec_plan *plan)
{
  /* The config file's keys are the manifest's section names; its values are the
     request bodies, so both paths into Firecracker say exactly the same thing. */
  static const struct
  {
    const char *key;
    const char *step_prefix;
    bool list;
  } keys[] = {
    { "boot-source", "api.put.boot-source", false },
    { "drives", "api.put.drives.", true },
    { "machine-config", "api.put.machine-config", false },
    { "cpu-config", "api.put.cpu-config", false },
    { "network-interfaces", "api.put.network-interfaces.", true },
    { "vsock", "api.put.vsock", false },
    { "balloon", "api.put.balloon", false },
    { "entropy", "api.put.entropy", false },
    { "logger", "api.put.logger", false },
    { "metrics", "api.put.metrics", false },
    { "mmds-config", "api.put.mmds-config", false },
    { "pmem", "api.put.pmem.", true },
    { "memory-hotplug", "api.put.memory-hotplug", false },
  };
  cJSON *config = cJSON_CreateObject ();
  for (size_t k = 0; k < FIREC_N_ELEMENTS (keys); k++)
    {
      cJSON *list = NULL;
      if (keys[k].list && (strcmp (keys[k].key, "drives") == 0 || spec_section (plan->model, keys[k].key)))
        list = cJSON_AddArrayToObject (config, keys[k].key); /* Firecracker requires "drives", even empty */
      for (size_t i = 0; i < plan->count; i++)
        {
          const struct firec_step *s = &plan->steps[i];
          if (s->kind != FIREC_STEP_API_REQUEST || s->body == NULL)
            continue;
          bool match = keys[k].list ? strncmp (s->id, keys[k].step_prefix, strlen (keys[k].step_prefix)) == 0
                                    : strcmp (s->id, keys[k].step_prefix) == 0;
          if (!match)
            continue;
          if (list)
            cJSON_AddItemToArray (list, cJSON_Duplicate (s->body, 1));
          else
            cJSON_AddItemToObject (config, keys[k].key, cJSON_Duplicate (s->body, 1));
        }
    }
  return config;
}
