/* SPDX-License-Identifier: Apache-2.0 */
/* resolve: validated document -> model. Applies the schema's defaults to
   firec-run's own sections, makes host paths absolute against the manifest's
   directory, and decides every derived name (jail, sockets, state directory,
   in-jail file paths) in this one place. */
#include "config.h"

#include "cgroup.h"
#include "manifest.h"
#include "model.h"
#include "state.h"
#include "schema.h"
#include "util.h"
#include "yaml-load.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <nettle/sha2.h>

/* ------------------------------------------------------------------ small helpers */

static char *
dup_or_null (const char *s)
{
  return s ? firec_xstrdup (s) : NULL;
}

char *
firec_path_normalize (const char *path)
{
  /* Lexical only: resolving symlinks would read the host, and render/plan must not.
     The result is never longer than a "/" more than the input. */
  char *out = firec_xmalloc (strlen (path) + 2);
  size_t n = 0;
  for (const char *p = path; *p;)
    {
      if (*p == '/')
        {
          p++;
          continue;
        }
      size_t len = strcspn (p, "/");
      if (len == 2 && p[0] == '.' && p[1] == '.')
        while (n > 0 && out[--n] != '/')
          ;
      else if (!(len == 1 && p[0] == '.'))
        {
          out[n++] = '/';
          memcpy (out + n, p, len);
          n += len;
        }
      p += len;
    }
  if (n == 0)
    out[n++] = '/';
  out[n] = '\0';
  return out;
}

static char *
path_basename (const char *path)
{
  cleanup_free char *copy = firec_xstrdup (path);
  return firec_xstrdup (basename (copy));
}

/* ------------------------------------------------------------------ binaries */

/* A bare name is looked up in PATH as a shell would. The candidates are built
   on the stack: a PATH of a dozen entries, searched for two binaries on every
   load, would otherwise be two dozen allocations. */
static char *
search_path (const char *name)
{
  const char *path = getenv ("PATH");
  cleanup_free char *copy
      = firec_xstrdup (path && *path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  size_t name_len = strlen (name);
  char *save = NULL;
  for (char *dir = strtok_r (copy, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      char candidate[PATH_MAX];
      size_t dir_len = strlen (dir);
      if (dir_len + 1 + name_len >= sizeof candidate)
        continue; /* stat would fail with ENAMETOOLONG */
      memcpy (candidate, dir, dir_len);
      candidate[dir_len] = '/';
      memcpy (candidate + dir_len + 1, name, name_len + 1);
      struct stat st;
      if (stat (candidate, &st) == 0 && S_ISREG (st.st_mode) && access (candidate, X_OK) == 0)
        return firec_xstrdup (candidate);
    }
  return NULL;
}

/* The jailer canonicalizes --exec-file and names the jail directory, the copy
   in it and the pid file after the real file, and its pre-1.13 name rule looks
   at that name too: so the model names the file itself, never a symlink to it.
   Reading the file system here is what lets plan and render show that name. */
void
firec_binary_resolve (const char *written, const char *base_dir, struct firec_binary *ret)
{
  *ret = (struct firec_binary){ .written = firec_xstrdup (written) };
  cleanup_free char *candidate = NULL;
  if (strchr (written, '/') == NULL)
    candidate = search_path (written);
  else if (written[0] != '/' && base_dir)
    {
      cleanup_free char *joined = firec_xstrjoin (base_dir, "/", written, NULL);
      candidate = firec_path_normalize (joined);
    }
  else
    candidate = firec_xstrdup (written);
  char real[PATH_MAX];
  struct stat st;
  if (candidate && realpath (candidate, real) && stat (real, &st) == 0 && S_ISREG (st.st_mode)
      && access (real, X_OK) == 0)
    {
      ret->path = firec_xstrdup (real);
      ret->found = true;
      ret->dev = st.st_dev;
      ret->ino = st.st_ino;
      ret->size = st.st_size;
      ret->mtime = st.st_mtim;
      ret->ctime = st.st_ctim;
    }
  else
    ret->path = firec_xstrdup (candidate ? candidate : written);
}

void
firec_binary_release (struct firec_binary *b)
{
  free (b->written);
  free (b->path);
  free (b->where);
  *b = (struct firec_binary){ 0 };
}

char *
firec_binary_changed (const struct firec_binary *b, const char *base_dir)
{
  if (!b->found)
    return NULL;
  struct firec_binary now;
  firec_binary_resolve (b->written, base_dir, &now);
  char *change = NULL;
  if (!now.found)
    change = firec_xasprintf ("%s (%s) is no longer an executable file", b->written, b->path);
  else if (strcmp (now.path, b->path) != 0)
    change = firec_xasprintf ("%s now resolves to %s, no longer to %s", b->written, now.path, b->path);
  else if (now.dev != b->dev || now.ino != b->ino || now.size != b->size || now.mtime.tv_sec != b->mtime.tv_sec
           || now.mtime.tv_nsec != b->mtime.tv_nsec || now.ctime.tv_sec != b->ctime.tv_sec
           || now.ctime.tv_nsec != b->ctime.tv_nsec)
    change = firec_xasprintf ("%s was replaced or changed", b->path);
  firec_binary_release (&now);
  return change;
}

bool
firec_duration_ms (const char *text, long *ret)
{
  char *end;
  errno = 0;
  long long v = strtoll (text, &end, 10);
  if (errno || end == text || v < 0)
    return false;
  long long scale = strcmp (end, "ms") == 0  ? 1
                    : strcmp (end, "s") == 0 ? 1000
                    : strcmp (end, "m") == 0 ? 60000
                    : strcmp (end, "h") == 0 ? 3600000
                                             : -1;
  if (scale < 0 || v > FIREC_DURATION_MAX_MS / scale)
    return false;
  *ret = (long) (v * scale);
  return true;
}

/* Validation has refused what does not parse; fallback is the schema's default. */
static long
parse_duration_ms (const char *text, long fallback)
{
  long ms;
  return text && firec_duration_ms (text, &ms) ? ms : fallback;
}

/* ------------------------------------------------------------------ interpolation */

struct interpolation
{
  struct firec_doc *doc;
  const char *(*lookup) (const char *name);
  struct firec_diags *diags;
  size_t errors;
};

__attribute__ ((format (printf, 4, 5))) static void
interpolation_error (struct interpolation *in, const cJSON *node, const struct firec_path *path, const char *fmt, ...)
{
  struct firec_mark m;
  firec_doc_get_mark (in->doc, node, &m, NULL);
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = firec_xvasprintf (fmt, ap);
  va_end (ap);
  cleanup_free char *pointer = firec_path_string (path);
  firec_diags_add (in->diags, FIREC_SEV_ERROR, in->doc->filename, m.line, m.column, pointer, "%s", msg);
  in->errors++;
}

/* Expands one string; returns NULL (after a diagnostic) on error, or a copy.
 *expanded tells whether a ${...} was replaced (not only $$). */
static char *
expand_string (struct interpolation *in, const cJSON *node, const struct firec_path *path, const char *s,
               bool *expanded)
{
  struct firec_buf out = { 0 };
  *expanded = false;
  for (const char *p = s; *p;)
    {
      if (p[0] != '$' || (p[1] != '$' && p[1] != '{'))
        {
          firec_buf_append (&out, p, 1);
          p++;
          continue;
        }
      if (p[1] == '$')
        {
          firec_buf_puts (&out, "$");
          p += 2;
          continue;
        }
      const char *start = p + 2;
      const char *close = strchr (start, '}');
      if (close == NULL)
        {
          interpolation_error (in, node, path, "unterminated ${ in \"%s\" (write $$ for a literal $)", s);
          firec_buf_release (&out);
          return NULL;
        }
      cleanup_free char *inner = firec_xstrndup (start, (size_t) (close - start));
      size_t name_len = 0;
      if (isalpha ((unsigned char) inner[0]) || inner[0] == '_')
        while (isalnum ((unsigned char) inner[name_len]) || inner[name_len] == '_')
          name_len++;
      const char *op = inner + name_len;
      if (name_len == 0 || (*op && strncmp (op, ":-", 2) != 0 && strncmp (op, ":?", 2) != 0)
          || strstr (op, "${") != NULL)
        {
          interpolation_error (in, node, path,
                               "invalid interpolation ${%s}: expected ${NAME}, ${NAME:-default} or ${NAME:?message}",
                               inner);
          firec_buf_release (&out);
          return NULL;
        }
      cleanup_free char *name = firec_xstrndup (inner, name_len);
      const char *value = in->lookup (name);
      bool empty = value == NULL || value[0] == '\0';
      if (strncmp (op, ":-", 2) == 0 && empty)
        value = op + 2;
      else if (strncmp (op, ":?", 2) == 0 && empty)
        {
          interpolation_error (in, node, path, "%s: %s", name, op[2] ? op + 2 : "is not set");
          firec_buf_release (&out);
          return NULL;
        }
      else if (value == NULL)
        {
          interpolation_error (in, node, path, "environment variable %s is not set (set it, or write ${%s:-default})",
                               name, name);
          firec_buf_release (&out);
          return NULL;
        }
      firec_buf_puts (&out, value);
      *expanded = true;
      p = close + 1;
    }
  return firec_buf_steal (&out);
}

/* An unquoted scalar that is exactly one ${...}. */
static bool
is_whole_variable (const struct firec_doc *doc, const cJSON *node)
{
  const char *s = node->valuestring;
  return !(firec_doc_get_flags (doc, node) & FIREC_NODE_QUOTED) && s[0] == '$' && s[1] == '{'
         && strchr (s, '}') == s + strlen (s) - 1;
}

/* A whole ${VAR} whose value spells a YAML boolean or integer becomes that
   value where the field takes it but not the string: `vcpu_count: ${VCPUS}`
   is a number, `host_dev_name: ${TAP}` stays a string whatever TAP holds. The
   node changes type in place, so it keeps its position. */
static void
take_field_type (cJSON *node, const struct firec_path *path)
{
  cJSON candidate = { 0 };
  double number = 0;
  int boolean = firec_yaml_core_boolean (node->valuestring);
  if (boolean >= 0)
    candidate.type = boolean ? cJSON_True : cJSON_False;
  else if (firec_yaml_core_integer (node->valuestring, &number))
    {
      candidate.type = cJSON_Number;
      cJSON_SetNumberHelper (&candidate, number);
    }
  else
    return;
  firec_error_t err = NULL;
  const struct firec_schema *schema = firec_schema_builtin (&err);
  firec_error_release (&err);
  if (schema == NULL || !firec_schema_accepts (schema, path, &candidate) || firec_schema_accepts (schema, path, node))
    return;
  free (node->valuestring);
  node->valuestring = NULL;
  node->type = (node->type & ~0xFF) | candidate.type;
  cJSON_SetNumberHelper (node, number);
}

static void
interpolate_node (struct interpolation *in, cJSON *node, const struct firec_path *path)
{
  if (cJSON_IsString (node))
    {
      if (strchr (node->valuestring, '$') == NULL)
        return;
      bool whole = is_whole_variable (in->doc, node);
      bool expanded;
      char *value = expand_string (in, node, path, node->valuestring, &expanded);
      if (value == NULL)
        return;
      /* Replace the value in place: the node keeps its address, hence its mark. */
      free (node->valuestring);
      node->valuestring = value;
      if (!expanded)
        return;
      firec_doc_add_flags (in->doc, node, FIREC_NODE_INTERPOLATED | (whole ? FIREC_NODE_WHOLE_VARIABLE : 0));
      if (whole)
        take_field_type (node, path);
      return;
    }
  size_t i = 0;
  for (cJSON *c = node->child; c; c = c->next, i++)
    {
      struct firec_path sub = { path, cJSON_IsArray (node) ? NULL : c->string, i };
      interpolate_node (in, c, &sub);
    }
}

size_t
firec_interpolate (struct firec_doc *doc, const char *(*lookup) (const char *name), struct firec_diags *diags)
{
  struct interpolation in = { doc, lookup, diags, 0 };
  if (doc->root)
    interpolate_node (&in, doc->root, NULL);
  return in.errors;
}

/* ------------------------------------------------------------------ model */

void
firec_model_free (struct firec_model *m)
{
  if (m == NULL)
    return;
  cJSON_Delete (m->manifest);
  free (m->source);
  free (m->base_dir);
  free (m->name);
  firec_binary_release (&m->firecracker_binary);
  free (m->exec_name);
  free (m->api_socket_vm);
  free (m->api_socket_host);
  free (m->vsock_socket_host);
  firec_binary_release (&m->jailer_binary);
  free (m->chroot_base_dir);
  free (m->chroot_base_where);
  free (m->jail_dir);
  free (m->vm_root);
  free (m->netns);
  for (char **p = m->cgroups; p && *p; p++)
    free (*p);
  free (m->cgroups);
  free (m->parent_cgroup);
  for (char **p = m->resource_limits; p && *p; p++)
    free (*p);
  free (m->resource_limits);
  for (size_t i = 0; i < m->file_count; i++)
    {
      free (m->files[i].id);
      free (m->files[i].step_id);
      free (m->files[i].host_path);
      free (m->files[i].vm_path);
      free (m->files[i].pointer);
      free (m->files[i].where);
    }
  free (m->files);
  for (size_t i = 0; i < m->tap_count; i++)
    {
      free (m->taps[i].iface_id);
      free (m->taps[i].name);
      free (m->taps[i].step_id);
      free (m->taps[i].pointer);
      free (m->taps[i].where);
      free (m->taps[i].bridge);
      free (m->taps[i].options_where);
    }
  free (m->taps);
  struct firec_data_file *data_files[] = { &m->mmds_data_file, &m->cpu_config_file };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (data_files); i++)
    {
      free (data_files[i]->host_path);
      free (data_files[i]->pointer);
      free (data_files[i]->where);
    }
  free (m->stop);
  free (m->state_dir);
  free (m->huge_pages_where);
  free (m);
}

const struct firec_file *
firec_model_find_file (const struct firec_model *model, const char *pointer)
{
  for (size_t i = 0; i < model->file_count; i++)
    if (strcmp (model->files[i].pointer, pointer) == 0)
      return &model->files[i];
  return NULL;
}

const char *
firec_staging_mode_name (enum firec_staging_mode mode)
{
  switch (mode)
    {
    case FIREC_STAGING_AUTO:
      return "auto";
    case FIREC_STAGING_LINK:
      return "link";
    case FIREC_STAGING_REFLINK:
      return "reflink";
    case FIREC_STAGING_COPY:
      return "copy";
    }
  return "auto";
}

const char *
firec_run_mode_name (enum firec_run_mode mode)
{
  switch (mode)
    {
    case FIREC_RUN_ATTACHED:
      return "attached";
    case FIREC_RUN_DAEMON:
      return "daemon";
    case FIREC_RUN_TMUX:
      return "tmux";
    }
  return "attached";
}

static enum firec_staging_mode
parse_staging_mode (const char *s, enum firec_staging_mode fallback)
{
  if (s == NULL)
    return fallback;
  if (strcmp (s, "link") == 0)
    return FIREC_STAGING_LINK;
  if (strcmp (s, "reflink") == 0)
    return FIREC_STAGING_REFLINK;
  if (strcmp (s, "copy") == 0)
    return FIREC_STAGING_COPY;
  return FIREC_STAGING_AUTO;
}

struct resolver
{
  const struct firec_doc *doc;
  struct firec_model *model;
  struct firec_diags *diags;
  size_t errors;
};

/* Host paths: absolute against the manifest's directory, in the resolved manifest. */
static void
absolutize_host_path (const cJSON *instance, const cJSON *annotation, const char *pointer, void *data)
{
  struct resolver *r = data;
  if (!cJSON_IsString (instance) || !cJSON_IsString (annotation) || strcmp (annotation->valuestring, "vm-root") == 0)
    return;
  if (instance->valuestring[0] == '/')
    {
      char *normal = firec_path_normalize (instance->valuestring);
      free (instance->valuestring);
      ((cJSON *) instance)->valuestring = normal;
      return;
    }
  if (r->model->base_dir == NULL)
    {
      const cJSON *original = firec_doc_at (r->doc, pointer);
      struct firec_mark m;
      firec_doc_get_mark (r->doc, original, &m, NULL);
      firec_diags_add (r->diags, FIREC_SEV_ERROR, r->doc->filename, m.line, m.column, pointer,
                       "relative path \"%s\" in a manifest read from standard input: give --base-dir, or an "
                       "absolute path",
                       instance->valuestring);
      r->errors++;
      return;
    }
  cleanup_free char *joined = firec_xstrjoin (r->model->base_dir, "/", instance->valuestring, NULL);
  free (instance->valuestring);
  ((cJSON *) instance)->valuestring = firec_path_normalize (joined);
}

/* A binary's relative path resolves against the manifest's directory, like a
   host path (render's manifest then means the same from anywhere); a bare
   name stays a name for the PATH lookup. */
static void
absolutize_binary_path (const struct firec_model *m, cJSON *section)
{
  cJSON *binary = firec_json_member (section, "binary");
  if (!cJSON_IsString (binary) || binary->valuestring[0] == '/' || strchr (binary->valuestring, '/') == NULL
      || m->base_dir == NULL)
    return;
  cleanup_free char *joined = firec_xstrjoin (m->base_dir, "/", binary->valuestring, NULL);
  free (binary->valuestring);
  binary->valuestring = firec_path_normalize (joined);
}

static void
add_file (struct firec_model *m, enum firec_file_role role, const char *id, const char *step_id, const char *host_path,
          const char *jail_dir, const char *pointer, enum firec_staging_mode mode, bool writable, bool output)
{
  /* Room for 4, then doubled whenever the count reaches a power of two: one
     realloc per manifest, where one per file cost ~400 instructions each. */
  if (m->file_count >= 4 ? (m->file_count & (m->file_count - 1)) == 0 : m->file_count == 0)
    m->files = firec_xrealloc (m->files, (m->file_count ? 2 * m->file_count : 4) * sizeof *m->files);
  struct firec_file *f = &m->files[m->file_count++];
  cleanup_free char *base = path_basename (host_path);
  f->role = role;
  f->id = dup_or_null (id);
  f->step_id = firec_xstrdup (step_id);
  f->host_path = firec_xstrdup (host_path);
  /* Each role has its own directory in the jail (and each device its own below
     it), so two host files with the same name can never collide. */
  f->vm_path = m->jailer ? (id ? firec_xstrjoin (jail_dir, "/", id, "/", base, NULL)
                               : firec_xstrjoin (jail_dir, "/", base, NULL))
                         : firec_xstrdup (host_path);
  f->pointer = firec_xstrdup (pointer);
  f->mode = mode;
  f->writable = writable;
  f->output = output;
}

static void
collect_files (struct firec_model *m)
{
  const cJSON *spec = firec_json_member (m->manifest, "spec");
  const cJSON *staging = firec_json_member (spec, "staging");
  enum firec_staging_mode def = parse_staging_mode (firec_json_string (staging, "default"), FIREC_STAGING_AUTO);

  const char *filter
      = firec_json_string (firec_json_member (firec_json_member (spec, "firecracker"), "seccomp"), "filter");
  if (filter)
    add_file (m, FIREC_FILE_SECCOMP, NULL, "stage.seccomp", filter, "/seccomp", "/spec/firecracker/seccomp/filter", def,
              false, false);

  const cJSON *boot = firec_json_member (spec, "boot-source");
  const char *kernel = firec_json_string (boot, "kernel_image_path");
  if (kernel)
    add_file (m, FIREC_FILE_KERNEL, NULL, "stage.kernel", kernel, "/kernel", "/spec/boot-source/kernel_image_path",
              parse_staging_mode (firec_json_string (staging, "kernel"), def), false, false);
  const char *initrd = firec_json_string (boot, "initrd_path");
  if (initrd)
    add_file (m, FIREC_FILE_INITRD, NULL, "stage.initrd", initrd, "/initrd", "/spec/boot-source/initrd_path",
              parse_staging_mode (firec_json_string (staging, "initrd"), def), false, false);

  static const struct
  {
    const char *list;
    const char *id_field;
    const char *read_only_field;
    const char *staging_map;
    const char *step_prefix;
    const char *jail_dir;
    enum firec_file_role role;
  } devices[] = {
    { "drives", "drive_id", "is_read_only", "drives", "stage.drive", "/drives", FIREC_FILE_DRIVE },
    { "pmem", "id", "read_only", "pmem", "stage.pmem", "/pmem", FIREC_FILE_PMEM },
  };
  for (size_t d = 0; d < FIREC_N_ELEMENTS (devices); d++)
    {
      const cJSON *list = firec_json_member (spec, devices[d].list);
      size_t i = 0;
      for (const cJSON *item = cJSON_IsArray (list) ? list->child : NULL; item; item = item->next, i++)
        {
          const char *path = firec_json_string (item, "path_on_host");
          const char *id = firec_json_string (item, devices[d].id_field);
          if (path == NULL || id == NULL)
            continue; /* vhost-user drives have a backend socket instead of a file */
          cleanup_free char *step = firec_xstrjoin (devices[d].step_prefix, ".", id, NULL);
          char index[FIREC_DECIMAL_MAX];
          cleanup_free char *pointer
              = firec_xstrjoin ("/spec/", devices[d].list, "/", firec_decimal (i, index), "/path_on_host", NULL);
          enum firec_staging_mode mode
              = parse_staging_mode (firec_json_string (firec_json_member (staging, devices[d].staging_map), id), def);
          bool read_only = cJSON_IsTrue (firec_json_member (item, devices[d].read_only_field));
          add_file (m, devices[d].role, id, step, path, devices[d].jail_dir, pointer, mode, !read_only, false);
        }
    }

  static const struct
  {
    const char *section;
    const char *field;
    const char *step;
    const char *jail_dir;
    enum firec_file_role role;
  } outputs[] = {
    { "logger", "log_path", "stage.logger", "/logs", FIREC_FILE_LOG },
    { "metrics", "metrics_path", "stage.metrics", "/metrics", FIREC_FILE_METRICS },
    { "serial", "serial_out_path", "stage.serial", "/serial", FIREC_FILE_SERIAL },
  };
  for (size_t o = 0; o < FIREC_N_ELEMENTS (outputs); o++)
    {
      const char *path = firec_json_string (firec_json_member (spec, outputs[o].section), outputs[o].field);
      if (path == NULL)
        continue;
      cleanup_free char *pointer = firec_xstrjoin ("/spec/", outputs[o].section, "/", outputs[o].field, NULL);
      add_file (m, outputs[o].role, NULL, outputs[o].step, path, outputs[o].jail_dir, pointer, FIREC_STAGING_LINK, true,
                true);
    }

  const cJSON *snapshot = firec_json_member (spec, "snapshot");
  /* The snapshotted VM's drives, where the snapshot expects them. */
  const cJSON *snapshot_drives = firec_json_member (snapshot, "drives");
  size_t d = 0;
  for (const cJSON *item = cJSON_IsArray (snapshot_drives) ? snapshot_drives->child : NULL; item;
       item = item->next, d++)
    {
      const char *id = firec_json_string (item, "drive_id");
      const char *path = firec_json_string (item, "path_on_host");
      if (id == NULL || path == NULL)
        continue;
      cleanup_free char *step = firec_xstrjoin ("stage.drive.", id, NULL);
      char index[FIREC_DECIMAL_MAX];
      cleanup_free char *pointer
          = firec_xstrjoin ("/spec/snapshot/drives/", firec_decimal (d, index), "/path_on_host", NULL);
      enum firec_staging_mode mode
          = parse_staging_mode (firec_json_string (firec_json_member (staging, "drives"), id), def);
      add_file (m, FIREC_FILE_DRIVE, id, step, path, "/drives", pointer, mode,
                !cJSON_IsTrue (firec_json_member (item, "is_read_only")), false);
    }
  const char *state = firec_json_string (snapshot, "snapshot_path");
  if (state)
    add_file (m, FIREC_FILE_SNAPSHOT_STATE, NULL, "stage.snapshot", state, "/snapshot", "/spec/snapshot/snapshot_path",
              def, false, false);
  const cJSON *backend = firec_json_member (snapshot, "mem_backend");
  const char *backend_type = firec_json_string (backend, "backend_type");
  const char *mem = firec_json_string (backend, "backend_path");
  if (mem && backend_type && strcmp (backend_type, "File") == 0)
    add_file (m, FIREC_FILE_SNAPSHOT_MEMORY, NULL, "stage.snapshot-memory", mem, "/snapshot-memory",
              "/spec/snapshot/mem_backend/backend_path", def, false, false);
  /* A Uffd backend_path is the socket a page-fault handler listens on, and a
     chrooted Firecracker connects to it by its path in the jail: the socket is
     staged like a writable file (a hard link, else a bind mount: the same
     inode, so the connection reaches the handler), never copied. */
  if (mem && backend_type && strcmp (backend_type, "Uffd") == 0)
    add_file (m, FIREC_FILE_UFFD_SOCKET, NULL, "stage.uffd-socket", mem, "/uffd",
              "/spec/snapshot/mem_backend/backend_path", FIREC_STAGING_LINK, true, false);
  const char *mem_file = firec_json_string (snapshot, "mem_file_path");
  if (mem_file)
    add_file (m, FIREC_FILE_SNAPSHOT_MEMORY, NULL, "stage.snapshot-memory", mem_file, "/snapshot-memory",
              "/spec/snapshot/mem_file_path", def, false, false);
}

/* "vm.yaml:14:21: /spec/drives/0/path_on_host" (without a position for a
   node the document does not have). */
static char *
where_in (const struct firec_doc *doc, const char *pointer)
{
  struct firec_mark mark;
  firec_doc_get_mark (doc, firec_doc_at (doc, pointer), &mark, NULL);
  if (mark.line == 0)
    return firec_xstrjoin (doc->filename, ": ", pointer, NULL);
  char line[FIREC_DECIMAL_MAX], column[FIREC_DECIMAL_MAX];
  return firec_xstrjoin (doc->filename, ":", firec_decimal (mark.line, line), ":", firec_decimal (mark.column, column),
                         ": ", pointer, NULL);
}

static void
set_data_file (struct firec_data_file *f, const struct firec_doc *doc, const cJSON *object, const char *field,
               const char *pointer)
{
  const char *path = firec_json_string (object, field);
  if (path == NULL)
    return;
  f->host_path = firec_xstrdup (path);
  f->pointer = firec_xstrdup (pointer);
  f->where = where_in (doc, pointer);
}

/* The TAP of each interface (a snapshot's overrides name TAPs too), with its
   spec.tap options. */
static void
collect_taps (struct firec_model *m, const struct firec_doc *doc)
{
  const cJSON *spec = firec_json_member (m->manifest, "spec");
  const cJSON *options = firec_json_member (spec, "tap");
  const char *pointers[] = { "/spec/network-interfaces", "/spec/snapshot/network_overrides" };
  const cJSON *lists[] = { firec_json_member (spec, "network-interfaces"),
                           firec_json_member (firec_json_member (spec, "snapshot"), "network_overrides") };
  for (size_t l = 0; l < FIREC_N_ELEMENTS (lists); l++)
    {
      const cJSON *list = lists[l];
      size_t i = 0;
      for (const cJSON *item = cJSON_IsArray (list) ? list->child : NULL; item; item = item->next, i++)
        {
          const char *id = firec_json_string (item, "iface_id");
          const char *name = firec_json_string (item, "host_dev_name");
          if (id == NULL || name == NULL)
            continue;
          m->taps = firec_xrealloc (m->taps, (m->tap_count + 1) * sizeof *m->taps);
          struct firec_tap *t = &m->taps[m->tap_count++];
          memset (t, 0, sizeof *t);
          t->iface_id = firec_xstrdup (id);
          t->name = firec_xstrdup (name);
          char index[FIREC_DECIMAL_MAX];
          t->step_id = firec_xstrjoin ("net.tap.", id, NULL);
          t->pointer = firec_xstrjoin (pointers[l], "/", firec_decimal (i, index), "/host_dev_name", NULL);
          t->where = where_in (doc, t->pointer);
          const cJSON *o = firec_json_member (options, id);
          if (o == NULL)
            continue;
          const cJSON *mtu = firec_json_member (o, "mtu");
          t->mtu = cJSON_IsNumber (mtu) ? (unsigned) mtu->valuedouble : 0;
          t->bridge = dup_or_null (firec_json_string (o, "bridge"));
          cleanup_free char *options_pointer = firec_json_pointer_append ("/spec/tap", id);
          t->options_where = where_in (doc, options_pointer);
        }
    }
}

/* "name=%.0f": whole numbers (resource limits are) by their digits, where
   printf's float conversion would cost ten times as much. */
static char *
number_assignment (const char *name, double value)
{
  if (value >= 0 && value <= 9007199254740992.0 && !signbit (value) && value == (double) (long long) value)
    {
      char digits[FIREC_DECIMAL_MAX];
      return firec_xstrjoin (name, "=", firec_decimal ((unsigned long long) value, digits), NULL);
    }
  return firec_xasprintf ("%s=%.0f", name, value);
}

static char **
string_map_to_list (const cJSON *map)
{
  size_t n = 0;
  for (const cJSON *m = cJSON_IsObject (map) ? map->child : NULL; m; m = m->next)
    n++;
  char **list = firec_xcalloc (n + 1, sizeof *list);
  size_t i = 0;
  for (const cJSON *m = cJSON_IsObject (map) ? map->child : NULL; m; m = m->next)
    {
      if (cJSON_IsString (m))
        list[i++] = firec_xstrjoin (m->string, "=", m->valuestring, NULL);
      else if (cJSON_IsNumber (m))
        list[i++] = number_assignment (m->string, m->valuedouble);
    }
  return list;
}

static void
resolve_stop_policy (struct firec_model *m, const cJSON *run)
{
  const cJSON *stop = firec_json_member (run, "stop");
  for (const cJSON *s = cJSON_IsArray (stop) ? stop->child : NULL; s; s = s->next)
    {
      struct firec_stop_step step = { FIREC_STOP_SIGKILL, 0 };
      if (cJSON_IsObject (s) && s->child)
        {
          step.action = strcmp (s->child->string, "ctrl_alt_del") == 0 ? FIREC_STOP_CTRL_ALT_DEL : FIREC_STOP_SIGTERM;
          step.wait_ms = parse_duration_ms (cJSON_IsString (s->child) ? s->child->valuestring : NULL, 10000);
        }
      else
        step.wait_ms = 5000; /* after SIGKILL: only the time the kernel needs to reap */
      m->stop = firec_xrealloc (m->stop, (m->stop_count + 1) * sizeof *m->stop);
      m->stop[m->stop_count++] = step;
    }
}

/* Takes manifest, a copy of doc->root or doc->root itself: the model's, or freed
   on failure. */
static int
resolve_manifest (const struct firec_doc *doc, cJSON *manifest, struct firec_model **ret, struct firec_diags *diags,
                  firec_error_t *err)
{
  const struct firec_schema *schema = firec_schema_builtin (err);
  if (schema == NULL)
    {
      cJSON_Delete (manifest);
      return -1;
    }
  struct firec_model *m = firec_xcalloc (1, sizeof *m);
  struct resolver r = { doc, m, diags, 0 };
  m->manifest = manifest;
  m->source = firec_xstrdup (doc->filename);
  if (doc->base_dir)
    {
      if (doc->base_dir[0] == '/')
        m->base_dir = firec_path_normalize (doc->base_dir);
      else
        {
          char cwd[4096];
          if (getcwd (cwd, sizeof cwd) == NULL)
            {
              firec_model_free (m);
              return firec_error_set (err, errno, "cannot determine the working directory");
            }
          cleanup_free char *joined = firec_xstrjoin (cwd, "/", doc->base_dir, NULL);
          m->base_dir = firec_path_normalize (joined);
        }
    }

  cJSON *spec = firec_json_member (m->manifest, "spec");
  static const char *const own_sections[] = { "firecracker", "jailer", "staging", "run" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (own_sections); i++)
    {
      cJSON *section = firec_json_member (spec, own_sections[i]);
      if (section == NULL)
        section = cJSON_AddObjectToObject (spec, own_sections[i]);
      cleanup_free char *pointer = firec_xstrjoin ("/spec/", own_sections[i], NULL);
      firec_schema_apply_defaults (schema, pointer, section);
    }
  firec_schema_walk_annotation (schema, m->manifest, "x-firec-path", absolutize_host_path, &r);

  const cJSON *metadata = firec_json_member (m->manifest, "metadata");
  m->name = firec_xstrdup (firec_json_string (metadata, "name"));
  const cJSON *fc = firec_json_member (spec, "firecracker");
  absolutize_binary_path (m, firec_json_member (spec, "firecracker"));
  firec_binary_resolve (firec_json_string (fc, "binary"), m->base_dir, &m->firecracker_binary);
  m->exec_name = path_basename (m->firecracker_binary.path);
  const cJSON *seccomp = firec_json_member (fc, "seccomp");
  m->seccomp = cJSON_IsObject (seccomp)                                                 ? FIREC_SECCOMP_FILTER
               : cJSON_IsString (seccomp) && strcmp (seccomp->valuestring, "none") == 0 ? FIREC_SECCOMP_NONE
                                                                                        : FIREC_SECCOMP_DEFAULT;
  m->boot_timer = cJSON_IsTrue (firec_json_member (fc, "boot_timer"));
  const cJSON *payload = firec_json_member (fc, "http_api_max_payload_size");
  m->http_api_max_payload_size = cJSON_IsNumber (payload) ? (long long) payload->valuedouble : 0;
  const cJSON *mmds_limit = firec_json_member (fc, "mmds_size_limit");
  m->mmds_size_limit = cJSON_IsNumber (mmds_limit) ? (long long) mmds_limit->valuedouble : 0;

  const cJSON *jailer = firec_json_member (spec, "jailer");
  m->jailer = !cJSON_IsFalse (firec_json_member (jailer, "enabled"));
  if (m->jailer)
    {
      absolutize_binary_path (m, firec_json_member (spec, "jailer"));
      firec_binary_resolve (firec_json_string (jailer, "binary"), m->base_dir, &m->jailer_binary);
    }
  const cJSON *uid = firec_json_member (jailer, "uid"), *gid = firec_json_member (jailer, "gid");
  m->uid = cJSON_IsNumber (uid) ? (unsigned long) uid->valuedouble : 0;
  m->gid = cJSON_IsNumber (gid) ? (unsigned long) gid->valuedouble : 0;
  m->chroot_base_dir = firec_path_normalize (firec_json_string (jailer, "chroot_base_dir"));
  if (m->jailer)
    m->chroot_base_where = where_in (doc, "/spec/jailer/chroot_base_dir");
  m->netns = dup_or_null (firec_json_string (jailer, "netns"));
  m->daemonize = cJSON_IsTrue (firec_json_member (jailer, "daemonize"));
  m->new_pid_ns = cJSON_IsTrue (firec_json_member (jailer, "new_pid_ns"));
  m->cgroups = string_map_to_list (firec_json_member (jailer, "cgroups"));
  const cJSON *cgv = firec_json_member (jailer, "cgroup_version");
  /* auto: decided here, so that plan shows the argv the jailer gets. */
  m->cgroup_version = cJSON_IsNumber (cgv) ? (int) cgv->valuedouble : firec_cgroup_host_version ();
  m->parent_cgroup = dup_or_null (firec_json_string (jailer, "parent_cgroup"));
  m->resource_limits = string_map_to_list (firec_json_member (jailer, "resource_limits"));

  m->state_dir = firec_state_dir_for (m->name);
  if (m->jailer)
    {
      m->jail_dir = firec_xstrjoin (strcmp (m->chroot_base_dir, "/") == 0 ? "" : m->chroot_base_dir, "/", m->exec_name,
                                    "/", m->name, NULL);
      m->vm_root = firec_xstrjoin (m->jail_dir, "/root", NULL);
    }
  else
    m->vm_root = firec_xstrjoin (m->state_dir, "/root", NULL);

  const char *api = firec_json_string (fc, "api_socket");
  m->api_socket_host = firec_xstrjoin (m->vm_root, api, NULL);
  /* Without the jailer Firecracker is not chrooted: it binds the host path. */
  m->api_socket_vm = m->jailer ? firec_xstrdup (api) : firec_xstrdup (m->api_socket_host);
  const char *uds = firec_json_string (firec_json_member (spec, "vsock"), "uds_path");
  if (uds)
    m->vsock_socket_host = firec_xstrjoin (m->vm_root, uds, NULL);

  collect_files (m);
  /* Where each file is named in the manifest, for preflight errors about it. */
  for (size_t i = 0; i < m->file_count; i++)
    m->files[i].where = where_in (doc, m->files[i].pointer);
  set_data_file (&m->mmds_data_file, doc, firec_json_member (spec, "mmds"), "data_file", "/spec/mmds/data_file");
  set_data_file (&m->cpu_config_file, doc, spec, "cpu-config", "/spec/cpu-config");
  collect_taps (m, doc);
  m->firecracker_binary.where = where_in (doc, "/spec/firecracker/binary");
  if (m->jailer)
    m->jailer_binary.where = where_in (doc, "/spec/jailer/binary");

  const cJSON *run = firec_json_member (spec, "run");
  const char *mode = firec_json_string (run, "mode");
  m->mode = mode && strcmp (mode, "daemon") == 0 ? FIREC_RUN_DAEMON
            : mode && strcmp (mode, "tmux") == 0 ? FIREC_RUN_TMUX
                                                 : FIREC_RUN_ATTACHED;
  m->start_timeout_ms = parse_duration_ms (firec_json_string (run, "start_timeout"), 10000);
  m->stop_timeout_ms = parse_duration_ms (firec_json_string (run, "stop_timeout"), 30000);
  resolve_stop_policy (m, run);
  m->snapshot = firec_json_member (spec, "snapshot") != NULL;
  const cJSON *machine = firec_json_member (spec, "machine-config");
  const char *huge_pages = firec_json_string (machine, "huge_pages");
  if (!m->snapshot && huge_pages && strcmp (huge_pages, "2M") == 0)
    {
      const cJSON *mem = firec_json_member (machine, "mem_size_mib");
      m->huge_page_kib = 2048;
      m->mem_size_mib = cJSON_IsNumber (mem) ? (unsigned long long) mem->valuedouble : 0;
      m->huge_pages_where = where_in (doc, "/spec/machine-config/huge_pages");
    }

  if (r.errors)
    {
      firec_diags_sort (diags);
      firec_model_free (m);
      return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s: not a valid manifest", doc->filename);
    }
  *ret = m;
  return 0;
}

int
firec_resolve (const struct firec_doc *doc, struct firec_model **ret, struct firec_diags *diags, firec_error_t *err)
{
  return resolve_manifest (doc, cJSON_Duplicate (doc->root, 1), ret, diags, err);
}

int
firec_model_load (const char *path, const char *base_dir, struct firec_model **ret, struct firec_diags *diags,
                  firec_error_t *err)
{
  cleanup_doc struct firec_doc *doc = NULL;
  long errors = firec_manifest_load (path, base_dir, &doc, diags, err);
  if (errors < 0)
    return -1;
  if (errors > 0)
    return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s: not a valid manifest", path);
  /* The document is dropped right after, so the model takes its tree instead of
     a copy. Resolving frees no node, so positions looked up by address while it
     runs are those of the loaded nodes, and the nodes it adds have none, as in
     a copy. */
  int rc = resolve_manifest (doc, doc->root, ret, diags, err);
  doc->root = NULL;
  return rc;
}

/* ------------------------------------------------------------------ render */

void
firec_escape_dollars (cJSON *node)
{
  if (cJSON_IsString (node) && strchr (node->valuestring, '$'))
    {
      struct firec_buf buf = { 0 };
      for (const char *p = node->valuestring; *p; p++)
        firec_buf_puts (&buf, *p == '$' ? "$$" : (char[]){ *p, '\0' });
      free (node->valuestring);
      node->valuestring = firec_buf_steal (&buf);
    }
  for (cJSON *c = node->child; c; c = c->next)
    firec_escape_dollars (c);
}

cJSON *
firec_model_to_manifest (const struct firec_model *m)
{
  cJSON *out = cJSON_Duplicate (m->manifest, 1);
  /* The output is itself a manifest: $ must survive a second interpolation. */
  firec_escape_dollars (out);
  cJSON_DeleteItemFromObjectCaseSensitive (out, "x-firec-derived");
  cJSON *d = cJSON_AddObjectToObject (out, "x-firec-derived");
  cJSON_AddStringToObject (d, "state_dir", m->state_dir);
  if (m->jailer)
    cJSON_AddStringToObject (d, "jail_dir", m->jail_dir);
  cJSON_AddStringToObject (d, "firecracker_binary", m->firecracker_binary.path);
  if (m->jailer)
    cJSON_AddStringToObject (d, "jailer_binary", m->jailer_binary.path);
  cJSON_AddStringToObject (d, "vm_root", m->vm_root);
  cJSON_AddStringToObject (d, "api_socket", m->api_socket_host);
  if (m->vsock_socket_host)
    cJSON_AddStringToObject (d, "vsock_socket", m->vsock_socket_host);
  if (m->jailer && (m->cgroups[0] || m->parent_cgroup))
    cJSON_AddNumberToObject (d, "cgroup_version", m->cgroup_version);
  cJSON *files = cJSON_AddArrayToObject (d, "files");
  for (size_t i = 0; i < m->file_count; i++)
    {
      const struct firec_file *f = &m->files[i];
      cJSON *o = cJSON_CreateObject ();
      cJSON_AddStringToObject (o, "field", f->pointer);
      cJSON_AddStringToObject (o, "host_path", f->host_path);
      cJSON_AddStringToObject (o, "vm_path", f->vm_path);
      if (m->jailer)
        {
          cJSON_AddStringToObject (o, "staging", f->output ? "link" : firec_staging_mode_name (f->mode));
          if (f->writable && !f->output && f->mode == FIREC_STAGING_COPY)
            cJSON_AddStringToObject (o, "note", "ephemeral: staged by copy, the guest's writes are discarded");
        }
      cJSON_AddItemToArray (files, o);
    }
  return out;
}

/* ------------------------------------------------------------------ digest */

/* x-* keys change nothing about the VM (MMDS data aside), so they do not count:
   `apply` must not restart a VM because an annotation changed. */
static void
strip_annotations (cJSON *node, bool in_mmds_data)
{
  cJSON *c = node ? node->child : NULL;
  while (c)
    {
      cJSON *next = c->next;
      if (!in_mmds_data && c->string && strncmp (c->string, "x-", 2) == 0)
        cJSON_Delete (cJSON_DetachItemViaPointer (node, c));
      else
        strip_annotations (c, in_mmds_data);
      c = next;
    }
}

char *
firec_model_digest (const struct firec_model *m)
{
  cleanup_cjson cJSON *copy = cJSON_Duplicate (m->manifest, 1);
  cJSON *spec = cJSON_GetObjectItemCaseSensitive (copy, "spec");
  cJSON *mmds = cJSON_GetObjectItemCaseSensitive (spec, "mmds");
  cJSON *data = mmds ? cJSON_DetachItemFromObjectCaseSensitive (mmds, "data") : NULL;
  strip_annotations (copy, false);
  if (data)
    cJSON_AddItemToObject (mmds, "data", data);
  cleanup_free char *text = cJSON_PrintUnformatted (copy);
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_init (&ctx);
  sha256_update (&ctx, strlen (text), (const uint8_t *) text);
  sha256_digest (&ctx, sizeof digest, digest);
  struct firec_buf buf = { 0 };
  firec_buf_puts (&buf, "sha256:");
  for (size_t i = 0; i < sizeof digest; i++)
    firec_buf_printf (&buf, "%02x", digest[i]);
  return firec_buf_steal (&buf);
}
