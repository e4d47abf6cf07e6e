/* Manifest validation: the schema first, then the rules Firecracker enforces at
   run time that a JSON Schema cannot express, so that `validate` catches them
   in CI instead of a failed start on the host. */
#include "config.h"

#include "manifest.h"
#include "model.h"
#include "schema.h"
#include "util.h"
#include "yaml-load.h"

#include <libgen.h>
#include <limits.h>
#include <string.h>
#include <sys/un.h>

struct checker
{
  const struct firec_doc *doc;
  struct firec_diags *diags;
  size_t errors;
};

static void __attribute__ ((format (printf, 5, 6)))
check_diag (struct checker *c, enum firec_severity severity, const cJSON *node, const char *pointer,
            const char *fmt, ...)
{
  struct firec_mark m;
  firec_doc_get_mark (c->doc, node, &m, NULL);
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = firec_xvasprintf (fmt, ap);
  va_end (ap);
  firec_diags_add (c->diags, severity, c->doc->filename, m.line, m.column, pointer, "%s", msg);
  if (severity == FIREC_SEV_ERROR)
    c->errors++;
}

#define check_error(c, node, pointer, ...) check_diag ((c), FIREC_SEV_ERROR, (node), (pointer), __VA_ARGS__)
#define check_warning(c, node, pointer, ...) check_diag ((c), FIREC_SEV_WARNING, (node), (pointer), __VA_ARGS__)

static unsigned
line_of (const struct checker *c, const cJSON *node)
{
  struct firec_mark m;
  firec_doc_get_mark (c->doc, node, &m, NULL);
  return m.line;
}

static bool
true_member (const cJSON *object, const char *name)
{
  return cJSON_IsTrue (firec_json_member (object, name));
}

/* Ids within one list (drives, interfaces, pmem) must be unique: Firecracker would
   silently replace the first device by the second. */
static void
check_unique_ids (struct checker *c, const cJSON *list, const char *list_pointer, const char *id_field,
                  const char *what)
{
  if (!cJSON_IsArray (list))
    return;
  size_t i = 0;
  for (const cJSON *item = list->child; item; item = item->next, i++)
    {
      const cJSON *id = firec_json_member (item, id_field);
      if (!cJSON_IsString (id))
        continue;
      for (const cJSON *prev = list->child; prev != item; prev = prev->next)
        {
          const cJSON *prev_id = firec_json_member (prev, id_field);
          if (cJSON_IsString (prev_id) && strcmp (prev_id->valuestring, id->valuestring) == 0)
            {
              cleanup_free char *p = firec_xasprintf ("%s/%zu/%s", list_pointer, i, id_field);
              check_error (c, id, p, "duplicate %s \"%s\" (first used at line %u)", what, id->valuestring,
                           line_of (c, prev_id));
              break;
            }
        }
    }
}

struct root_device
{
  const cJSON *node;
  char *pointer;
  char *description;
};

static void
check_root_devices (struct checker *c, const cJSON *spec, bool snapshot)
{
  struct root_device first = { 0 };
  static const struct
  {
    const char *list;
    const char *flag;
    const char *id;
    const char *kind;
  } sources[] = {
    { "drives", "is_root_device", "drive_id", "drive" },
    { "pmem", "root_device", "id", "pmem device" },
  };
  for (size_t s = 0; s < FIREC_N_ELEMENTS (sources); s++)
    {
      const cJSON *list = firec_json_member (spec, sources[s].list);
      size_t i = 0;
      for (const cJSON *item = cJSON_IsArray (list) ? list->child : NULL; item; item = item->next, i++)
        {
          const cJSON *flag = firec_json_member (item, sources[s].flag);
          if (!cJSON_IsTrue (flag))
            continue;
          cleanup_free char *pointer = firec_xasprintf ("/spec/%s/%zu/%s", sources[s].list, i, sources[s].flag);
          const char *id = firec_json_string (item, sources[s].id);
          cleanup_free char *description = firec_xasprintf ("%s \"%s\"", sources[s].kind, id ? id : "?");
          if (first.node == NULL)
            {
              first.node = flag;
              first.pointer = steal_pointer (&pointer);
              first.description = steal_pointer (&description);
            }
          else
            check_error (c, flag, pointer,
                         "a second root device: %s is already the root device (line %u); at most one drive or "
                         "pmem device may be the root",
                         first.description, line_of (c, first.node));
        }
    }
  const cJSON *boot = firec_json_member (spec, "boot-source");
  if (!snapshot && cJSON_IsObject (boot) && first.node == NULL && firec_json_member (boot, "initrd_path") == NULL)
    check_error (c, boot, "/spec/boot-source",
                 "nothing to boot from: add a drive with is_root_device: true, a pmem device with "
                 "root_device: true, or boot-source.initrd_path");
  free (first.pointer);
  free (first.description);
}

/* Loading a snapshot restores the devices it was taken with: Firecracker refuses a
   load once any boot-path resource has been configured. */
static void
check_snapshot_exclusions (struct checker *c, const cJSON *spec)
{
  static const char *const boot_path[] = {
    "boot-source", "machine-config", "drives", "network-interfaces", "pmem",
    "vsock",       "balloon",        "entropy", "mmds-config",        "memory-hotplug",
  };
  if (firec_json_member (spec, "snapshot") == NULL)
    return; /* the schema requires boot-source then */
  for (size_t i = 0; i < FIREC_N_ELEMENTS (boot_path); i++)
    {
      const cJSON *section = firec_json_member (spec, boot_path[i]);
      if (section == NULL)
        continue;
      cleanup_free char *pointer = firec_json_pointer_append ("/spec", boot_path[i]);
      struct firec_mark key;
      firec_doc_get_mark (c->doc, section, NULL, &key);
      firec_diags_add (c->diags, FIREC_SEV_ERROR, c->doc->filename, key.line, key.column, pointer,
                       "\"%s\" cannot be combined with \"snapshot\": the snapshot restores the VM's devices and "
                       "Firecracker refuses a load after boot-path resources are configured",
                       boot_path[i]);
      c->errors++;
    }
}

static void
check_mmds_interfaces (struct checker *c, const cJSON *spec)
{
  const cJSON *names = firec_json_member (firec_json_member (spec, "mmds-config"), "network_interfaces");
  const cJSON *ifaces = firec_json_member (spec, "network-interfaces");
  size_t i = 0;
  for (const cJSON *n = cJSON_IsArray (names) ? names->child : NULL; n; n = n->next, i++)
    {
      if (!cJSON_IsString (n))
        continue;
      bool found = false;
      for (const cJSON *iface = cJSON_IsArray (ifaces) ? ifaces->child : NULL; iface && !found; iface = iface->next)
        {
          const char *id = firec_json_string (iface, "iface_id");
          found = id && strcmp (id, n->valuestring) == 0;
        }
      if (!found)
        {
          cleanup_free char *pointer = firec_xasprintf ("/spec/mmds-config/network_interfaces/%zu", i);
          check_error (c, n, pointer, "no network interface has iface_id \"%s\" (MMDS needs an interface of this VM)",
                       n->valuestring);
        }
    }
}

static void
check_machine_config (struct checker *c, const cJSON *spec)
{
  const cJSON *mc = firec_json_member (spec, "machine-config");
  const cJSON *vcpus = firec_json_member (mc, "vcpu_count");
  if (true_member (mc, "smt") && cJSON_IsNumber (vcpus) && vcpus->valuedouble != 1
      && ((long long) vcpus->valuedouble) % 2 != 0)
    check_error (c, vcpus, "/spec/machine-config/vcpu_count",
                 "with smt: true, vcpu_count must be 1 or even (got %.0f)", vcpus->valuedouble);
  const char *huge = firec_json_string (mc, "huge_pages");
  const cJSON *mem = firec_json_member (mc, "mem_size_mib");
  if (huge && strcmp (huge, "None") != 0 && cJSON_IsNumber (mem) && ((long long) mem->valuedouble) % 2 != 0)
    check_error (c, mem, "/spec/machine-config/mem_size_mib",
                 "with huge_pages: %s, mem_size_mib must be even (got %.0f)", huge, mem->valuedouble);
}

static void
check_network_interfaces (struct checker *c, const cJSON *spec)
{
  const cJSON *ifaces = firec_json_member (spec, "network-interfaces");
  size_t i = 0;
  for (const cJSON *iface = cJSON_IsArray (ifaces) ? ifaces->child : NULL; iface; iface = iface->next, i++)
    {
      const cJSON *mac = firec_json_member (iface, "guest_mac");
      if (cJSON_IsString (mac))
        for (const cJSON *prev = ifaces->child; prev != iface; prev = prev->next)
          {
            const cJSON *prev_mac = firec_json_member (prev, "guest_mac");
            if (cJSON_IsString (prev_mac) && strcasecmp (prev_mac->valuestring, mac->valuestring) == 0)
              {
                cleanup_free char *pointer = firec_xasprintf ("/spec/network-interfaces/%zu/guest_mac", i);
                check_error (c, mac, pointer, "guest_mac %s is already used by the interface at line %u",
                             mac->valuestring, line_of (c, prev_mac));
                break;
              }
          }
      const cJSON *dev = firec_json_member (iface, "host_dev_name");
      /* The schema counts characters; the kernel's IFNAMSIZ counts bytes. */
      if (cJSON_IsString (dev) && strlen (dev->valuestring) > 15 && firec_utf8_length (dev->valuestring) <= 15)
        {
          cleanup_free char *pointer = firec_xasprintf ("/spec/network-interfaces/%zu/host_dev_name", i);
          check_error (c, dev, pointer, "\"%s\" is %zu bytes long; Linux interface names hold at most 15",
                       dev->valuestring, strlen (dev->valuestring));
        }
    }
}

/* Where Firecracker binds a VM-root socket, and where the host sees it. */
struct socket_paths
{
  char *bound; /* the path Firecracker passes to bind() */
  char *host;  /* the same socket seen from the host */
};

static void
socket_paths_for (const cJSON *manifest, const char *vm_root_path, struct socket_paths *out)
{
  const cJSON *spec = firec_json_member (manifest, "spec");
  const cJSON *jailer = firec_json_member (spec, "jailer");
  const char *name = firec_json_string (firec_json_member (manifest, "metadata"), "name");
  if (name == NULL)
    name = "";
  const cJSON *enabled = firec_json_member (jailer, "enabled");
  if (cJSON_IsFalse (enabled))
    {
      /* Without the jailer Firecracker runs in the VM's own run directory. */
      out->host = firec_xasprintf ("/run/firec/%s/root%s", name, vm_root_path);
      out->bound = firec_xstrdup (out->host);
      return;
    }
  const char *base = firec_json_string (jailer, "chroot_base_dir");
  const char *binary = firec_json_string (firec_json_member (spec, "firecracker"), "binary");
  cleanup_free char *binary_copy = firec_xstrdup (binary ? binary : "firecracker");
  out->host = firec_xasprintf ("%s/%s/%s/root%s", base ? base : "/srv/jailer", basename (binary_copy), name,
                               vm_root_path);
  out->bound = firec_xstrdup (vm_root_path);
}

static void
check_socket_path (struct checker *c, const char *vm_root_path, const cJSON *at, const char *pointer,
                   const char *what)
{
  if (vm_root_path[0] != '/')
    return;
  struct socket_paths paths;
  socket_paths_for (c->doc->root, vm_root_path, &paths);
  size_t limit = sizeof ((struct sockaddr_un *) 0)->sun_path;
  if (strlen (paths.bound) >= limit)
    check_error (c, at, pointer, "the %s path %s is %zu bytes long; a Unix socket path holds at most %zu", what,
                 paths.bound, strlen (paths.bound), limit - 1);
  else if (strlen (paths.host) >= limit)
    check_warning (c, at, pointer,
                   "on the host the %s is %s, %zu bytes long: firec-run copes, but tools that connect by path "
                   "(socat, curl) cannot; shorten metadata.name or jailer.chroot_base_dir",
                   what, paths.host, strlen (paths.host));
  free (paths.bound);
  free (paths.host);
}

/* VM-root sockets must not land on files that firec-run or the jailer put into the
   VM's root, nor on each other. */
static void
check_vm_root_paths (struct checker *c, const cJSON *spec)
{
  static const char *const reserved[] = { "/dev", "/kernel", "/initrd", "/drives", "/pmem", "/logs", "/metrics",
                                          "/serial", "/cpu-config", "/seccomp", "/snapshot" };
  const cJSON *api = firec_json_member (firec_json_member (spec, "firecracker"), "api_socket");
  const cJSON *vsock = firec_json_member (firec_json_member (spec, "vsock"), "uds_path");
  struct
  {
    const cJSON *node;
    const char *pointer;
    const char *what;
  } sockets[] = {
    { api, "/spec/firecracker/api_socket", "API socket" },
    { vsock, "/spec/vsock/uds_path", "vsock socket" },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (sockets); i++)
    {
      if (!cJSON_IsString (sockets[i].node))
        continue;
      const char *path = sockets[i].node->valuestring;
      for (size_t r = 0; r < FIREC_N_ELEMENTS (reserved); r++)
        {
          size_t n = strlen (reserved[r]);
          if (strncmp (path, reserved[r], n) == 0 && (path[n] == '/' || path[n] == '\0'))
            check_error (c, sockets[i].node, sockets[i].pointer,
                         "%s is inside %s, where firec-run and the jailer put the VM's files; use a path under /run",
                         path, reserved[r]);
        }
      check_socket_path (c, path, sockets[i].node, sockets[i].pointer, sockets[i].what);
    }
  /* The API socket has a default: check it at the firecracker section (or spec)
     when the manifest does not set it. */
  if (!cJSON_IsString (api))
    {
      const cJSON *fc = firec_json_member (spec, "firecracker");
      check_socket_path (c, "/run/firecracker.socket", fc ? fc : spec, fc ? "/spec/firecracker" : "/spec",
                         "API socket");
    }
  const char *api_path = cJSON_IsString (api) ? api->valuestring : "/run/firecracker.socket";
  if (cJSON_IsString (vsock) && strcmp (vsock->valuestring, api_path) == 0)
    check_error (c, vsock, "/spec/vsock/uds_path", "the vsock socket and the API socket are both %s", api_path);
}

/* Two devices backed by one host file would see each other's writes. */
static void
check_shared_backing_files (struct checker *c, const cJSON *spec)
{
  struct
  {
    const cJSON *node;
    char *pointer;
  } files[256];
  size_t n = 0;
  static const char *const lists[] = { "drives", "pmem" };
  for (size_t l = 0; l < FIREC_N_ELEMENTS (lists); l++)
    {
      const cJSON *list = firec_json_member (spec, lists[l]);
      size_t i = 0;
      for (const cJSON *item = cJSON_IsArray (list) ? list->child : NULL; item && n < FIREC_N_ELEMENTS (files);
           item = item->next, i++)
        {
          const cJSON *path = firec_json_member (item, "path_on_host");
          if (!cJSON_IsString (path))
            continue;
          cleanup_free char *pointer = firec_xasprintf ("/spec/%s/%zu/path_on_host", lists[l], i);
          for (size_t j = 0; j < n; j++)
            if (strcmp (files[j].node->valuestring, path->valuestring) == 0)
              {
                check_error (c, path, pointer, "%s already backs the device at %s (line %u)", path->valuestring,
                             files[j].pointer, line_of (c, files[j].node));
                break;
              }
          files[n].node = path;
          files[n].pointer = steal_pointer (&pointer);
          n++;
        }
    }
  for (size_t j = 0; j < n; j++)
    free (files[j].pointer);
}

size_t
firec_manifest_check_semantics (const struct firec_doc *doc, struct firec_diags *diags)
{
  struct checker c = { doc, diags, 0 };
  const cJSON *spec = firec_json_member (doc->root, "spec");
  if (!cJSON_IsObject (spec))
    return 0;
  bool snapshot = firec_json_member (spec, "snapshot") != NULL;
  check_unique_ids (&c, firec_json_member (spec, "drives"), "/spec/drives", "drive_id", "drive_id");
  check_unique_ids (&c, firec_json_member (spec, "network-interfaces"), "/spec/network-interfaces", "iface_id", "iface_id");
  check_unique_ids (&c, firec_json_member (spec, "pmem"), "/spec/pmem", "id", "pmem id");
  check_unique_ids (&c, firec_json_member (firec_json_member (spec, "snapshot"), "drives"), "/spec/snapshot/drives",
                    "drive_id", "drive_id");
  check_root_devices (&c, spec, snapshot);
  check_snapshot_exclusions (&c, spec);
  check_mmds_interfaces (&c, spec);
  check_machine_config (&c, spec);
  check_network_interfaces (&c, spec);
  check_vm_root_paths (&c, spec);
  check_shared_backing_files (&c, spec);
  return c.errors;
}

long
firec_manifest_validate (const struct firec_doc *doc, struct firec_diags *diags, firec_error_t *err)
{
  const struct firec_schema *schema = firec_schema_builtin (err);
  if (schema == NULL)
    return -1;
  size_t errors = firec_schema_validate (schema, doc, diags);
  errors += firec_manifest_check_semantics (doc, diags);
  firec_diags_sort (diags);
  return (long) errors;
}

static const char *
getenv_lookup (const char *name)
{
  return getenv (name);
}

long
firec_manifest_load (const char *path, const char *base_dir, struct firec_doc **out, struct firec_diags *diags,
                     firec_error_t *err)
{
  struct firec_doc *doc = NULL;
  if (firec_yaml_load_file (path, NULL, &doc, diags, err) < 0)
    {
      firec_diags_sort (diags);
      return -1;
    }
  if (base_dir)
    doc->base_dir = firec_xstrdup (base_dir);
  else if (strcmp (path, "-") != 0)
    {
      cleanup_free char *copy = firec_xstrdup (path);
      doc->base_dir = firec_xstrdup (dirname (copy));
    }
  /* ${VAR} first: the schema judges the values the VM will get. */
  size_t interpolation_errors = firec_interpolate (doc, getenv_lookup, diags);
  long errors = firec_manifest_validate (doc, diags, err);
  if (errors >= 0)
    errors += (long) interpolation_errors;
  if (errors < 0)
    {
      firec_doc_free (doc);
      return -1;
    }
  *out = doc;
  return errors;
}
