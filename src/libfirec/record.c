/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "record.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

const char *
firec_record_phase_name (enum firec_record_phase phase)
{
  switch (phase)
    {
    case FIREC_PHASE_CREATING:
      return "creating";
    case FIREC_PHASE_STARTING:
      return "starting";
    case FIREC_PHASE_RUNNING:
      return "running";
    case FIREC_PHASE_STOPPED:
      return "stopped";
    }
  return "?";
}

const char *
firec_record_jail_name (enum firec_record_jail jail)
{
  switch (jail)
    {
    case FIREC_JAIL_MADE:
      return "made";
    case FIREC_JAIL_INTENDED:
      return "intended";
    case FIREC_JAIL_NOT_OURS:
      return "not_ours";
    }
  return "?";
}

bool
firec_record_owns_root (const struct firec_record *r)
{
  return !r->jailer || r->jail == FIREC_JAIL_MADE;
}

static const char *
stop_action_name (enum firec_stop_action action)
{
  switch (action)
    {
    case FIREC_STOP_CTRL_ALT_DEL:
      return "ctrl_alt_del";
    case FIREC_STOP_SIGTERM:
      return "sigterm";
    case FIREC_STOP_SIGKILL:
      return "sigkill";
    }
  return "sigkill";
}

static const char *const mode_names[] = { "attached", "daemon", "tmux" };

static char *
dup_or_null (const char *s)
{
  return s ? firec_xstrdup (s) : NULL;
}

static char **
strv_dup (char *const *v)
{
  size_t n = 0;
  while (v && v[n])
    n++;
  char **out = firec_xcalloc (n + 1, sizeof *out);
  for (size_t i = 0; i < n; i++)
    out[i] = firec_xstrdup (v[i]);
  return out;
}

static void
strv_free (char **v)
{
  for (size_t i = 0; v && v[i]; i++)
    free (v[i]);
  free (v);
}

struct firec_record *
firec_record_new (const struct firec_model *m, enum firec_run_mode mode)
{
  struct firec_record *r = firec_xcalloc (1, sizeof *r);
  r->name = firec_xstrdup (m->name);
  r->phase = FIREC_PHASE_CREATING;
  r->manifest = firec_xstrdup (m->source);
  r->mode = mode;
  r->firec_pid = getpid ();
  r->jailer = m->jailer;
  r->jail_dir = dup_or_null (m->jail_dir);
  r->jail = FIREC_JAIL_INTENDED;
  r->chroot_base = m->jailer ? firec_xstrdup (m->chroot_base_dir) : NULL;
  r->exec_name = firec_xstrdup (m->exec_name);
  r->vm_root = firec_xstrdup (m->vm_root);
  r->api_socket = firec_xstrdup (m->api_socket_host);
  r->uid = m->jailer ? (uid_t) m->uid : getuid ();
  r->gid = m->jailer ? (gid_t) m->gid : getgid ();
  r->stop = firec_xcalloc (m->stop_count ? m->stop_count : 1, sizeof *r->stop);
  memcpy (r->stop, m->stop, m->stop_count * sizeof *r->stop);
  r->stop_count = m->stop_count;
  r->stop_timeout_ms = m->stop_timeout_ms;
  r->cgroup_dirs = strv_dup (NULL);
  r->cgroup_parents = strv_dup (NULL);
  return r;
}

void
firec_record_free (struct firec_record *r)
{
  if (r == NULL)
    return;
  free (r->name);
  free (r->manifest);
  free (r->digest);
  free (r->jail_dir);
  free (r->chroot_base);
  free (r->exec_name);
  free (r->vm_root);
  free (r->api_socket);
  free (r->firecracker_version);
  free (r->console.dir);
  free (r->stop);
  strv_free (r->cgroup_dirs);
  strv_free (r->cgroup_parents);
  for (size_t i = 0; i < r->output_count; i++)
    free (r->outputs[i].path);
  free (r->outputs);
  while (r->tap_count)
    firec_record_drop_tap (r, r->tap_count - 1);
  free (r->taps);
  free (r->files);
  free (r);
}

size_t
firec_record_add_output (struct firec_record *r, const char *path)
{
  r->outputs = firec_xrealloc (r->outputs, (r->output_count + 1) * sizeof *r->outputs);
  r->outputs[r->output_count] = (struct firec_record_output){ .path = firec_xstrdup (path) };
  return r->output_count++;
}

size_t
firec_record_add_tap (struct firec_record *r, const char *iface_id, const char *name, const char *netns,
                      unsigned long long netns_ino, bool owned)
{
  r->taps = firec_xrealloc (r->taps, (r->tap_count + 1) * sizeof *r->taps);
  r->taps[r->tap_count] = (struct firec_record_tap){
    .iface_id = firec_xstrdup (iface_id),
    .name = firec_xstrdup (name),
    .netns = dup_or_null (netns),
    .netns_ino = netns_ino,
    .owned = owned,
  };
  return r->tap_count++;
}

void
firec_record_drop_tap (struct firec_record *r, size_t index)
{
  struct firec_record_tap *t = &r->taps[index];
  free (t->iface_id);
  free (t->name);
  free (t->netns);
  memmove (t, t + 1, (r->tap_count - index - 1) * sizeof *t);
  r->tap_count--;
}

void
firec_record_add_file (struct firec_record *r, dev_t dev, ino_t ino, bool writable)
{
  r->files = firec_xrealloc (r->files, (r->file_count + 1) * sizeof *r->files);
  r->files[r->file_count++] = (struct firec_record_file){ dev, ino, writable };
}

/* ------------------------------------------------------------------ writing */

static void
add_string_or_null (cJSON *o, const char *key, const char *value)
{
  if (value)
    cJSON_AddStringToObject (o, key, value);
  else
    cJSON_AddNullToObject (o, key);
}

static cJSON *
strv_to_json (char *const *v)
{
  cJSON *a = cJSON_CreateArray ();
  for (size_t i = 0; v && v[i]; i++)
    cJSON_AddItemToArray (a, cJSON_CreateString (v[i]));
  return a;
}

static cJSON *
process_to_json (const struct firec_record_process *p)
{
  if (p->pid <= 0)
    return cJSON_CreateNull ();
  cJSON *o = cJSON_CreateObject ();
  cJSON_AddNumberToObject (o, "pid", p->pid);
  cJSON_AddNumberToObject (o, "start_time", (double) p->start_time);
  return o;
}

cJSON *
firec_record_to_json (const struct firec_record *r)
{
  cJSON *o = cJSON_CreateObject ();
  cJSON_AddNumberToObject (o, "format_version", FIREC_RECORD_FORMAT_VERSION);
  cJSON_AddStringToObject (o, "name", r->name);
  cJSON_AddStringToObject (o, "phase", firec_record_phase_name (r->phase));
  cJSON_AddStringToObject (o, "manifest", r->manifest);
  add_string_or_null (o, "digest", r->digest);
  cJSON_AddStringToObject (o, "mode", mode_names[r->mode]);
  cJSON_AddNumberToObject (o, "firec_pid", r->firec_pid);
  cJSON_AddNumberToObject (o, "firec_start_time", (double) r->firec_start_time);
  cJSON_AddBoolToObject (o, "jailer", r->jailer);
  add_string_or_null (o, "jail_dir", r->jail_dir);
  cJSON_AddStringToObject (o, "jail", firec_record_jail_name (r->jail));
  add_string_or_null (o, "chroot_base", r->chroot_base);
  cJSON_AddStringToObject (o, "exec_name", r->exec_name);
  cJSON_AddStringToObject (o, "vm_root", r->vm_root);
  cJSON_AddStringToObject (o, "api_socket", r->api_socket);
  add_string_or_null (o, "firecracker_version", r->firecracker_version);
  cJSON_AddNumberToObject (o, "uid", (double) r->uid);
  cJSON_AddNumberToObject (o, "gid", (double) r->gid);
  cJSON *stop = cJSON_AddArrayToObject (o, "stop");
  for (size_t i = 0; i < r->stop_count; i++)
    {
      cJSON *s = cJSON_CreateObject ();
      cJSON_AddStringToObject (s, "action", stop_action_name (r->stop[i].action));
      cJSON_AddNumberToObject (s, "wait_ms", (double) r->stop[i].wait_ms);
      cJSON_AddItemToArray (stop, s);
    }
  cJSON_AddNumberToObject (o, "stop_timeout_ms", (double) r->stop_timeout_ms);
  cJSON_AddItemToObject (o, "cgroup_dirs", strv_to_json (r->cgroup_dirs));
  cJSON_AddItemToObject (o, "cgroup_parents", strv_to_json (r->cgroup_parents));
  cJSON *outputs = cJSON_AddArrayToObject (o, "outputs");
  for (size_t i = 0; i < r->output_count; i++)
    {
      cJSON *out = cJSON_CreateObject ();
      cJSON_AddStringToObject (out, "path", r->outputs[i].path);
      cJSON_AddNumberToObject (out, "dev", (double) r->outputs[i].dev);
      cJSON_AddNumberToObject (out, "ino", (double) r->outputs[i].ino);
      cJSON_AddNumberToObject (out, "moved", r->outputs[i].moved);
      cJSON_AddNumberToObject (out, "was_dev", (double) r->outputs[i].was_dev);
      cJSON_AddNumberToObject (out, "was_ino", (double) r->outputs[i].was_ino);
      cJSON_AddBoolToObject (out, "not_ours", r->outputs[i].not_ours);
      cJSON_AddItemToArray (outputs, out);
    }
  cJSON *taps = cJSON_AddArrayToObject (o, "taps");
  for (size_t i = 0; i < r->tap_count; i++)
    {
      const struct firec_record_tap *t = &r->taps[i];
      cJSON *tap = cJSON_CreateObject ();
      cJSON_AddStringToObject (tap, "iface_id", t->iface_id);
      cJSON_AddStringToObject (tap, "name", t->name);
      add_string_or_null (tap, "netns", t->netns);
      cJSON_AddNumberToObject (tap, "netns_ino", (double) t->netns_ino);
      cJSON_AddBoolToObject (tap, "owned", t->owned);
      cJSON_AddNumberToObject (tap, "ifindex", t->ifindex);
      cJSON_AddItemToArray (taps, tap);
    }
  cJSON *files = cJSON_AddArrayToObject (o, "files");
  for (size_t i = 0; i < r->file_count; i++)
    {
      cJSON *f = cJSON_CreateObject ();
      cJSON_AddNumberToObject (f, "dev", (double) r->files[i].dev);
      cJSON_AddNumberToObject (f, "ino", (double) r->files[i].ino);
      cJSON_AddBoolToObject (f, "writable", r->files[i].writable);
      cJSON_AddItemToArray (files, f);
    }
  cJSON_AddItemToObject (o, "jailer_process", process_to_json (&r->jailer_process));
  cJSON_AddItemToObject (o, "vmm", process_to_json (&r->vmm));
  if (r->console.dir)
    {
      cJSON *console = cJSON_AddObjectToObject (o, "console");
      cJSON_AddStringToObject (console, "dir", r->console.dir);
      cJSON_AddItemToObject (console, "keeper", process_to_json (&r->console.keeper));
    }
  else
    cJSON_AddNullToObject (o, "console");
  cJSON_AddNumberToObject (o, "started_at", (double) r->started_at);
  return o;
}

/* The copy of state.json (record.h). Once it was written only as the run
   began: a damaged state.json then left rm without the TAPs, outputs and
   console the run made later. */
#define RECORD_COPY "identity.json"

int
firec_record_write (int dir_fd, const char *shown_dir, const struct firec_record *r, firec_error_t *err)
{
  cleanup_cjson cJSON *json = firec_record_to_json (r);
  cleanup_free char *text = cJSON_Print (json);
  size_t len = strlen (text);
  text = firec_xrealloc (text, len + 2);
  text[len] = '\n';
  text[len + 1] = '\0';
  if (firec_state_write_file (dir_fd, shown_dir, "state.json", text, err) < 0)
    return -1;
  return firec_state_write_file (dir_fd, shown_dir, RECORD_COPY, text, err);
}

/* ------------------------------------------------------------------ reading */

/* A parse of one record: the first problem found is what the error says. */
struct parse
{
  const cJSON *root;
  char *problem;
};

__attribute__ ((format (printf, 2, 3))) static void
problem (struct parse *p, const char *fmt, ...)
{
  if (p->problem)
    return;
  va_list ap;
  va_start (ap, fmt);
  p->problem = firec_xvasprintf (fmt, ap);
  va_end (ap);
}

static const cJSON *
member (struct parse *p, const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive (o, key);
  if (v == NULL)
    problem (p, "\"%s\" is missing", key);
  return v;
}

/* Required string; with nullable, null reads as NULL. */
static char *
get_string (struct parse *p, const cJSON *o, const char *key, bool nullable)
{
  const cJSON *v = member (p, o, key);
  if (v == NULL || (nullable && cJSON_IsNull (v)))
    return NULL;
  if (!cJSON_IsString (v) || v->valuestring[0] == '\0')
    {
      problem (p, "\"%s\" is not a non-empty string", key);
      return NULL;
    }
  return firec_xstrdup (v->valuestring);
}

static double
get_number (struct parse *p, const cJSON *o, const char *key, double min, double max)
{
  const cJSON *v = member (p, o, key);
  if (v == NULL)
    return min;
  if (!cJSON_IsNumber (v) || v->valuedouble != floor (v->valuedouble) || v->valuedouble < min || v->valuedouble > max)
    {
      problem (p, "\"%s\" is not a whole number from %.0f to %.0f", key, min, max);
      return min;
    }
  return v->valuedouble;
}

static bool
get_bool (struct parse *p, const cJSON *o, const char *key)
{
  const cJSON *v = member (p, o, key);
  if (v && !cJSON_IsBool (v))
    problem (p, "\"%s\" is not true or false", key);
  return cJSON_IsTrue (v);
}

/* An absolute path without ".." components: what the record names is removed
   or killed, so it must not be relative or climb. */
static bool
clean_absolute (const char *s)
{
  if (s[0] != '/')
    return false;
  for (const char *c = s; (c = strstr (c, "..")); c += 2)
    if (c[-1] == '/' && (c[2] == '/' || c[2] == '\0'))
      return false;
  return true;
}

static char *
get_path (struct parse *p, const cJSON *o, const char *key, bool nullable)
{
  char *s = get_string (p, o, key, nullable);
  if (s && !clean_absolute (s))
    {
      problem (p, "\"%s\" is not an absolute path without \"..\"", key);
      free (s);
      return NULL;
    }
  return s;
}

static int
enum_index (const char *value, const char *const *names, size_t n)
{
  for (size_t i = 0; value && i < n; i++)
    if (strcmp (value, names[i]) == 0)
      return (int) i;
  return -1;
}

static int
get_enum (struct parse *p, const cJSON *o, const char *key, const char *const *names, size_t n)
{
  cleanup_free char *s = get_string (p, o, key, false);
  int i = enum_index (s, names, n);
  if (s && i < 0)
    problem (p, "\"%s\" is \"%s\", not one firec-run writes", key, s);
  return i < 0 ? 0 : i;
}

static char **
get_paths (struct parse *p, const cJSON *o, const char *key)
{
  const cJSON *a = member (p, o, key);
  if (a && !cJSON_IsArray (a))
    problem (p, "\"%s\" is not an array", key);
  size_t n = cJSON_IsArray (a) ? (size_t) cJSON_GetArraySize (a) : 0;
  char **v = firec_xcalloc (n + 1, sizeof *v);
  size_t k = 0;
  for (const cJSON *e = n ? a->child : NULL; e; e = e->next)
    if (!cJSON_IsString (e) || !clean_absolute (e->valuestring))
      problem (p, "\"%s\" holds something that is not an absolute path", key);
    else
      v[k++] = firec_xstrdup (e->valuestring);
  return v;
}

static struct firec_record_process
get_process (struct parse *p, const cJSON *o, const char *key)
{
  struct firec_record_process proc = { 0 };
  const cJSON *v = member (p, o, key);
  if (v == NULL || cJSON_IsNull (v))
    return proc;
  if (!cJSON_IsObject (v))
    {
      problem (p, "\"%s\" is not an object", key);
      return proc;
    }
  proc.pid = (pid_t) get_number (p, v, "pid", 1, INT_MAX);
  proc.start_time = (unsigned long long) get_number (p, v, "start_time", 0, 9007199254740991.0);
  return proc;
}

/* Durations in a record: a year at most, as the manifest allows. */
#define MAX_MS 31536000000.0

static void
get_stop (struct parse *p, const cJSON *o, struct firec_record *r)
{
  static const char *const actions[] = { "ctrl_alt_del", "sigterm", "sigkill" };
  const cJSON *a = member (p, o, "stop");
  if (a && !cJSON_IsArray (a))
    problem (p, "\"stop\" is not an array");
  size_t n = cJSON_IsArray (a) ? (size_t) cJSON_GetArraySize (a) : 0;
  r->stop = firec_xcalloc (n ? n : 1, sizeof *r->stop);
  for (const cJSON *s = n ? a->child : NULL; s; s = s->next)
    {
      struct firec_stop_step *step = &r->stop[r->stop_count++];
      step->action = (enum firec_stop_action) get_enum (p, s, "action", actions, FIREC_N_ELEMENTS (actions));
      step->wait_ms = (long) get_number (p, s, "wait_ms", 0, MAX_MS);
    }
  r->stop_timeout_ms = (long) get_number (p, o, "stop_timeout_ms", 0, MAX_MS);
}

/* A field added after format_version 2 was first written: absent reads as
   fallback (a record of an earlier firec-run); present, it is checked. */
static double
get_later_number (struct parse *p, const cJSON *o, const char *key, double max, double fallback)
{
  return cJSON_GetObjectItemCaseSensitive (o, key) ? get_number (p, o, key, 0, max) : fallback;
}

static bool
get_later_bool (struct parse *p, const cJSON *o, const char *key)
{
  return cJSON_GetObjectItemCaseSensitive (o, key) ? get_bool (p, o, key) : false;
}

/* The jail's state: absent in the records of a firec-run before it was kept,
   which removed the jail it named as its own. */
static enum firec_record_jail
get_jail (struct parse *p, const cJSON *o)
{
  static const char *const names[] = { "made", "intended", "not_ours" };
  if (cJSON_GetObjectItemCaseSensitive (o, "jail") == NULL)
    return FIREC_JAIL_MADE;
  return (enum firec_record_jail) get_enum (p, o, "jail", names, FIREC_N_ELEMENTS (names));
}

static void
get_outputs (struct parse *p, const cJSON *o, struct firec_record *r)
{
  const cJSON *a = member (p, o, "outputs");
  if (a && !cJSON_IsArray (a))
    problem (p, "\"outputs\" is not an array");
  for (const cJSON *e = cJSON_IsArray (a) ? a->child : NULL; e; e = e->next)
    {
      cleanup_free char *path = get_path (p, e, "path", false);
      if (path == NULL)
        continue;
      size_t i = firec_record_add_output (r, path);
      r->outputs[i].dev = (dev_t) get_number (p, e, "dev", 0, 9007199254740991.0);
      r->outputs[i].ino = (ino_t) get_number (p, e, "ino", 0, 9007199254740991.0);
      r->outputs[i].moved = (unsigned) get_later_number (p, e, "moved", 100000, 0);
      r->outputs[i].was_dev = (dev_t) get_later_number (p, e, "was_dev", 9007199254740991.0, 0);
      r->outputs[i].was_ino = (ino_t) get_later_number (p, e, "was_ino", 9007199254740991.0, 0);
      r->outputs[i].not_ours = get_later_bool (p, e, "not_ours");
    }
}

static void
get_files (struct parse *p, const cJSON *o, struct firec_record *r)
{
  const cJSON *a = cJSON_GetObjectItemCaseSensitive (o, "files");
  if (a && !cJSON_IsArray (a))
    problem (p, "\"files\" is not an array");
  for (const cJSON *e = cJSON_IsArray (a) ? a->child : NULL; e; e = e->next)
    {
      dev_t dev = (dev_t) get_number (p, e, "dev", 0, 9007199254740991.0);
      ino_t ino = (ino_t) get_number (p, e, "ino", 0, 9007199254740991.0);
      firec_record_add_file (r, dev, ino, get_bool (p, e, "writable"));
    }
}

/* A TAP name as Linux takes it (the teardown looks it up, never as a path). */
static bool
interface_name (const char *s)
{
  size_t n = strlen (s);
  return n > 0 && n < 16 && strcmp (s, ".") != 0 && strcmp (s, "..") != 0 && strpbrk (s, "/: \t\n") == NULL;
}

static void
get_taps (struct parse *p, const cJSON *o, struct firec_record *r)
{
  /* Absent in the records of a firec-run before TAPs were made by the run:
     such a run made none. */
  const cJSON *a = cJSON_GetObjectItemCaseSensitive (o, "taps");
  if (a && !cJSON_IsArray (a))
    problem (p, "\"taps\" is not an array");
  for (const cJSON *e = cJSON_IsArray (a) ? a->child : NULL; e; e = e->next)
    {
      cleanup_free char *iface_id = get_string (p, e, "iface_id", false);
      cleanup_free char *name = get_string (p, e, "name", false);
      cleanup_free char *netns = get_path (p, e, "netns", true);
      unsigned long long ino = (unsigned long long) get_number (p, e, "netns_ino", 0, 9007199254740991.0);
      bool owned = get_bool (p, e, "owned");
      int ifindex = (int) get_number (p, e, "ifindex", 0, INT_MAX);
      if (name && !interface_name (name))
        problem (p, "\"taps\" holds a name that is no interface name");
      if (iface_id == NULL || name == NULL)
        continue;
      size_t i = firec_record_add_tap (r, iface_id, name, netns, ino, owned);
      r->taps[i].ifindex = ifindex;
    }
}

/* Optional: absent or null is no keeper. */
static void
get_console (struct parse *p, const cJSON *o, struct firec_record *r)
{
  const cJSON *c = cJSON_GetObjectItemCaseSensitive (o, "console");
  if (c == NULL || cJSON_IsNull (c))
    return;
  if (!cJSON_IsObject (c))
    {
      problem (p, "\"console\" is not an object");
      return;
    }
  r->console.dir = get_path (p, c, "dir", false);
  r->console.keeper = get_process (p, c, "keeper");
}

static void
parse_record (struct parse *p, struct firec_record *r)
{
  static const char *const phases[] = { "creating", "starting", "running", "stopped" };
  const cJSON *o = p->root;
  if (get_number (p, o, "format_version", 0, 1000) != FIREC_RECORD_FORMAT_VERSION && !p->problem)
    problem (p, "it has format_version %g; this firec-run reads %d",
             cJSON_GetNumberValue (cJSON_GetObjectItemCaseSensitive (o, "format_version")),
             FIREC_RECORD_FORMAT_VERSION);
  r->name = get_string (p, o, "name", false);
  r->phase = (enum firec_record_phase) get_enum (p, o, "phase", phases, FIREC_N_ELEMENTS (phases));
  r->manifest = get_string (p, o, "manifest", false);
  r->digest = get_string (p, o, "digest", true);
  r->mode = (enum firec_run_mode) get_enum (p, o, "mode", mode_names, FIREC_N_ELEMENTS (mode_names));
  r->firec_pid = (pid_t) get_number (p, o, "firec_pid", 0, INT_MAX);
  r->firec_start_time = (unsigned long long) get_later_number (p, o, "firec_start_time", 9007199254740991.0, 0);
  r->jailer = get_bool (p, o, "jailer");
  r->jail_dir = get_path (p, o, "jail_dir", !r->jailer);
  r->jail = get_jail (p, o);
  r->chroot_base = get_path (p, o, "chroot_base", !r->jailer);
  r->exec_name = get_string (p, o, "exec_name", false);
  r->vm_root = get_path (p, o, "vm_root", false);
  r->api_socket = get_path (p, o, "api_socket", false);
  r->firecracker_version = get_string (p, o, "firecracker_version", true);
  r->uid = (uid_t) get_number (p, o, "uid", 0, 4294967294.0);
  r->gid = (gid_t) get_number (p, o, "gid", 0, 4294967294.0);
  get_stop (p, o, r);
  r->cgroup_dirs = get_paths (p, o, "cgroup_dirs");
  r->cgroup_parents = get_paths (p, o, "cgroup_parents");
  get_outputs (p, o, r);
  get_taps (p, o, r);
  get_files (p, o, r);
  r->jailer_process = get_process (p, o, "jailer_process");
  r->vmm = get_process (p, o, "vmm");
  get_console (p, o, r);
  r->started_at = (long long) get_number (p, o, "started_at", 0, 9007199254740991.0);
  if (r->exec_name && strchr (r->exec_name, '/'))
    problem (p, "\"exec_name\" holds a '/'");
  if (r->jailer && r->jail_dir && r->vm_root && strncmp (r->vm_root, r->jail_dir, strlen (r->jail_dir)) != 0)
    problem (p, "\"vm_root\" is not inside \"jail_dir\"");
}

int
firec_record_from_json (const char *text, size_t len, const char *file, struct firec_record **ret, firec_error_t *err)
{
  *ret = NULL;
  cleanup_cjson cJSON *root = cJSON_ParseWithLength (text, len);
  struct parse p = { .root = root };
  if (!cJSON_IsObject (root))
    problem (&p, len == 0 ? "it is empty" : "it is not a JSON object");
  struct firec_record *r = firec_xcalloc (1, sizeof *r);
  if (!p.problem)
    parse_record (&p, r);
  if (p.problem)
    {
      firec_record_free (r);
      firec_error_set_errno (err, EBADMSG, "the record %s is damaged: %s", file, p.problem);
      free (p.problem);
      return -1;
    }
  *ret = r;
  return 0;
}

/* Reads file; with known (the bytes a caller parsed before), 1 and *ret NULL
   when it still holds them, else *known becomes what was parsed. */
static int
read_named (int dir_fd, const char *shown_dir, const char *file, char **known, size_t *known_len,
            struct firec_record **ret, firec_error_t *err)
{
  *ret = NULL;
  cleanup_close int fd = -1;
  if (firec_state_open_file (dir_fd, shown_dir, file, &fd, err) < 0)
    return -1;
  if (fd < 0)
    return 0;
  cleanup_free char *path = firec_xasprintf ("%s/%s", shown_dir, file);
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_fd (fd, 1 << 20, &text, &len) < 0)
    return firec_error_set (err, errno, "cannot read %s", path);
  if (known && *known && *known_len == len && memcmp (*known, text, len) == 0)
    return 1;
  if (firec_record_from_json (text, len, path, ret, err) < 0)
    return -1;
  if (known)
    {
      free (*known);
      *known = steal_pointer (&text);
      *known_len = len;
    }
  return 0;
}

int
firec_record_read (int dir_fd, const char *shown_dir, struct firec_record **ret, firec_error_t *err)
{
  return read_named (dir_fd, shown_dir, "state.json", NULL, NULL, ret, err);
}

int
firec_record_read_copy (int dir_fd, const char *shown_dir, struct firec_record **ret, firec_error_t *err)
{
  return read_named (dir_fd, shown_dir, RECORD_COPY, NULL, NULL, ret, err);
}

int
firec_record_read_changed (int dir_fd, const char *shown_dir, char **text, size_t *len, struct firec_record **ret,
                           firec_error_t *err)
{
  return read_named (dir_fd, shown_dir, "state.json", text, len, ret, err);
}

/* ------------------------------------------------------------------ the stored manifest */

int
firec_record_write_manifest (int dir_fd, const char *shown_dir, const cJSON *manifest, firec_error_t *err)
{
  cleanup_free char *text = cJSON_Print (manifest);
  return firec_state_write_file (dir_fd, shown_dir, "manifest.json", text, err);
}

/* What makes a stored manifest not one firec-run wrote (model.c
   firec_model_to_manifest writes every one of these): NULL when it is whole.
   An empty object is damage, not a manifest with everything absent. */
static const char *
manifest_problem (const cJSON *m)
{
  if (!cJSON_IsObject (m))
    return "it is not a JSON object";
  if (!cJSON_IsString (cJSON_GetObjectItemCaseSensitive (m, "apiVersion"))
      || !cJSON_IsString (cJSON_GetObjectItemCaseSensitive (m, "kind")))
    return "no apiVersion or kind";
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive (m, "metadata");
  if (!cJSON_IsString (cJSON_GetObjectItemCaseSensitive (meta, "name")))
    return "no metadata.name";
  if (!cJSON_IsObject (cJSON_GetObjectItemCaseSensitive (m, "spec")))
    return "no spec";
  const cJSON *derived = cJSON_GetObjectItemCaseSensitive (m, "x-firec-derived");
  if (!cJSON_IsString (cJSON_GetObjectItemCaseSensitive (derived, "vm_root")))
    return "no x-firec-derived.vm_root";
  return NULL;
}

int
firec_record_read_manifest (int dir_fd, const char *shown_dir, cJSON **ret, firec_error_t *err)
{
  *ret = NULL;
  cleanup_close int fd = -1;
  if (firec_state_open_file (dir_fd, shown_dir, "manifest.json", &fd, err) < 0)
    return -1;
  if (fd < 0)
    return 0;
  cleanup_free char *path = firec_xasprintf ("%s/manifest.json", shown_dir);
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_fd (fd, 16u << 20, &text, &len) < 0)
    return firec_error_set (err, errno, "cannot read %s", path);
  cJSON *manifest = cJSON_ParseWithLength (text, len);
  const char *problem = manifest_problem (manifest);
  if (problem)
    {
      cJSON_Delete (manifest);
      firec_error_set_kind (err, FIREC_ERR_PRECONDITION, 0,
                            "%s is damaged (%s): what the VM runs as is unknown, so nothing is done to it", path,
                            problem);
      (*err)->errno_value = EBADMSG;
      return -1;
    }
  *ret = manifest;
  return 0;
}
