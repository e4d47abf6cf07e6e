/* SPDX-License-Identifier: Apache-2.0 */
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
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

struct checker
{
  const struct firec_doc *doc;
  struct firec_diags *diags;
  size_t errors;
};

__attribute__ ((format (printf, 5, 6))) static void
check_diag (struct checker *c, enum firec_severity severity, const cJSON *node, const char *pointer, const char *fmt,
            ...)
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
    "boot-source", "machine-config", "drives",  "network-interfaces", "pmem",
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
    check_error (c, vcpus, "/spec/machine-config/vcpu_count", "with smt: true, vcpu_count must be 1 or even (got %.0f)",
                 vcpus->valuedouble);
  const char *huge = firec_json_string (mc, "huge_pages");
  const cJSON *mem = firec_json_member (mc, "mem_size_mib");
  if (huge && strcmp (huge, "None") != 0 && cJSON_IsNumber (mem) && ((long long) mem->valuedouble) % 2 != 0)
    check_error (c, mem, "/spec/machine-config/mem_size_mib",
                 "with huge_pages: %s, mem_size_mib must be even (got %.0f)", huge, mem->valuedouble);
}

static double
number_member (const cJSON *object, const char *name, double fallback)
{
  const cJSON *v = firec_json_member (object, name);
  return cJSON_IsNumber (v) ? v->valuedouble : fallback;
}

/* Firecracker refuses a balloon larger than the guest's memory
   (BalloonConfigError::TooManyPagesRequested), 128 MiB when machine-config is
   left out. */
static void
check_balloon (struct checker *c, const cJSON *spec)
{
  const cJSON *amount = firec_json_member (firec_json_member (spec, "balloon"), "amount_mib");
  const cJSON *mc = firec_json_member (spec, "machine-config");
  double memory = number_member (mc, "mem_size_mib", 128);
  if (cJSON_IsNumber (amount) && amount->valuedouble > memory)
    check_error (c, amount, "/spec/balloon/amount_mib",
                 "a balloon of %.0f MiB is larger than the guest's memory, %.0f MiB%s", amount->valuedouble, memory,
                 mc ? "" : " (Firecracker's default: machine-config is left out)");
}

/* MemoryHotplugConfig::validate (vmm_config/memory_hotplug.rs): the schema has
   the minimums, these are the relations. */
static void
check_memory_hotplug (struct checker *c, const cJSON *spec)
{
  const cJSON *hotplug = firec_json_member (spec, "memory-hotplug");
  if (!cJSON_IsObject (hotplug))
    return;
  const cJSON *block = firec_json_member (hotplug, "block_size_mib");
  const cJSON *slot = firec_json_member (hotplug, "slot_size_mib");
  const cJSON *total = firec_json_member (hotplug, "total_size_mib");
  unsigned long long block_mib = (unsigned long long) number_member (hotplug, "block_size_mib", 2);
  unsigned long long slot_mib = (unsigned long long) number_member (hotplug, "slot_size_mib", 128);
  if (cJSON_IsNumber (block) && block_mib > 0 && (block_mib & (block_mib - 1)) != 0)
    check_error (c, block, "/spec/memory-hotplug/block_size_mib", "block_size_mib %llu is not a power of 2", block_mib);
  if (block_mib > 0 && slot_mib % block_mib != 0)
    check_error (c, slot ? slot : hotplug, slot ? "/spec/memory-hotplug/slot_size_mib" : "/spec/memory-hotplug",
                 "slot_size_mib %llu%s is not a multiple of block_size_mib %llu", slot_mib,
                 slot ? "" : " (the default)", block_mib);
  if (cJSON_IsNumber (total) && slot_mib > 0 && (unsigned long long) total->valuedouble % slot_mib != 0)
    check_error (c, total, "/spec/memory-hotplug/total_size_mib",
                 "total_size_mib %.0f is not a multiple of slot_size_mib %llu", total->valuedouble, slot_mib);
}

/* Restoring hugetlbfs memory from a file is refused
   (GuestMemoryFromFileError::HugetlbfsSnapshot): 2M needs a Uffd handler. */
static void
check_snapshot_memory (struct checker *c, const cJSON *spec)
{
  const cJSON *snapshot = firec_json_member (spec, "snapshot");
  const cJSON *huge = firec_json_member (snapshot, "huge_pages");
  const char *backend = firec_json_string (firec_json_member (snapshot, "mem_backend"), "backend_type");
  bool from_file = firec_json_member (snapshot, "mem_file_path") || (backend && strcmp (backend, "File") == 0);
  if (cJSON_IsString (huge) && strcmp (huge->valuestring, "2M") == 0 && from_file)
    check_error (c, huge, "/spec/snapshot/huge_pages",
                 "huge_pages 2M needs mem_backend {backend_type: Uffd}: Firecracker does not map hugetlbfs memory "
                 "from a file");
}

/* Longer durations would not fit firec-run's timers; a start timeout of 0 would
   give up before anything could start. */
static void
check_duration (struct checker *c, const cJSON *node, const char *pointer, bool may_be_zero)
{
  long ms;
  if (!cJSON_IsString (node))
    return;
  /* The schema's Duration pattern reports what is not digits and a unit. */
  const char *text = node->valuestring, *unit = text + strspn (text, "0123456789");
  if (unit == text
      || !(strcmp (unit, "ms") == 0 || strcmp (unit, "s") == 0 || strcmp (unit, "m") == 0 || strcmp (unit, "h") == 0))
    return;
  if (!firec_duration_ms (text, &ms))
    check_error (c, node, pointer, "%s is longer than a year, the longest duration firec-run takes", node->valuestring);
  else if (ms == 0 && !may_be_zero)
    check_error (c, node, pointer, "a start timeout of %s leaves the VM no time to start", node->valuestring);
}

static void
check_durations (struct checker *c, const cJSON *spec)
{
  const cJSON *run = firec_json_member (spec, "run");
  check_duration (c, firec_json_member (run, "start_timeout"), "/spec/run/start_timeout", false);
  check_duration (c, firec_json_member (run, "stop_timeout"), "/spec/run/stop_timeout", true);
  const cJSON *stop = firec_json_member (run, "stop");
  size_t i = 0;
  for (const cJSON *step = cJSON_IsArray (stop) ? stop->child : NULL; step; step = step->next, i++)
    for (const cJSON *m = cJSON_IsObject (step) ? step->child : NULL; m; m = m->next)
      {
        char index[FIREC_DECIMAL_MAX];
        cleanup_free char *pointer = firec_xstrjoin ("/spec/run/stop/", firec_decimal (i, index), "/", m->string, NULL);
        check_duration (c, m, pointer, true);
      }
}

static bool
has_item_with_id (const cJSON *list, const char *id_field, const char *id, bool needs_file)
{
  for (const cJSON *item = cJSON_IsArray (list) ? list->child : NULL; item; item = item->next)
    {
      const char *item_id = firec_json_string (item, id_field);
      if (item_id && strcmp (item_id, id) == 0 && (!needs_file || firec_json_member (item, "path_on_host")))
        return true;
    }
  return false;
}

static bool
is_firecracker_id (const char *s)
{
  return s[0] && strspn (s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == strlen (s);
}

/* A staging mode for a device the manifest does not stage would be ignored
   without a word: a typo, or a device renamed since. (Keys that are no id at
   all are the schema's to report.) */
static void
check_staging_keys (struct checker *c, const cJSON *spec)
{
  const cJSON *staging = firec_json_member (spec, "staging");
  const cJSON *snapshot_drives = firec_json_member (firec_json_member (spec, "snapshot"), "drives");
  const cJSON *drive_modes = firec_json_member (staging, "drives");
  const cJSON *pmem_modes = firec_json_member (staging, "pmem");
  for (const cJSON *k = cJSON_IsObject (drive_modes) ? drive_modes->child : NULL; k; k = k->next)
    if (is_firecracker_id (k->string)
        && !has_item_with_id (firec_json_member (spec, "drives"), "drive_id", k->string, true)
        && !has_item_with_id (snapshot_drives, "drive_id", k->string, true))
      {
        cleanup_free char *pointer = firec_json_pointer_append ("/spec/staging/drives", k->string);
        struct firec_mark key;
        firec_doc_get_mark (c->doc, k, NULL, &key);
        firec_diags_add (c->diags, FIREC_SEV_ERROR, c->doc->filename, key.line, key.column, pointer,
                         "no drive backed by a file has drive_id \"%s\"", k->string);
        c->errors++;
      }
  for (const cJSON *k = cJSON_IsObject (pmem_modes) ? pmem_modes->child : NULL; k; k = k->next)
    if (is_firecracker_id (k->string) && !has_item_with_id (firec_json_member (spec, "pmem"), "id", k->string, false))
      {
        cleanup_free char *pointer = firec_json_pointer_append ("/spec/staging/pmem", k->string);
        struct firec_mark key;
        firec_doc_get_mark (c->doc, k, NULL, &key);
        firec_diags_add (c->diags, FIREC_SEV_ERROR, c->doc->filename, key.line, key.column, pointer,
                         "no pmem device has id \"%s\"", k->string);
        c->errors++;
      }
}

/* ------------------------------------------------------------------ inline bodies */

/* The bytes a JSON value takes as the body firec-run sends (cJSON, unformatted:
   what Firecracker's serde_json::to_vec counts too, up to how floats print). */
static size_t
json_size (const cJSON *value)
{
  cleanup_free char *text = cJSON_PrintUnformatted (value);
  return text ? strlen (text) : 0;
}

#define DEFAULT_PAYLOAD_LIMIT 51200 /* HTTP_MAX_PAYLOAD_SIZE, vmm/src/lib.rs */

long long
firec_api_body_limit (long long http_api_max_payload_size, long long mmds_size_limit, const char **which)
{
  /* main.rs: --mmds-size-limit defaults to --http-api-max-payload-size, whose
     default is HTTP_MAX_PAYLOAD_SIZE = 51200 (vmm/src/lib.rs). PUT /mmds is
     bound by both: the request body, and the store (mmds/data_store.rs
     put_data: to_vec(&data).len() > data_store_limit). */
  long long payload = http_api_max_payload_size > 0 ? http_api_max_payload_size : DEFAULT_PAYLOAD_LIMIT;
  if (mmds_size_limit > 0 && mmds_size_limit < payload)
    {
      *which = "firecracker.mmds_size_limit";
      return mmds_size_limit;
    }
  *which = http_api_max_payload_size > 0 ? "firecracker.http_api_max_payload_size, the largest API request body"
                                         : "Firecracker's default largest API request body; raise "
                                           "firecracker.http_api_max_payload_size";
  return payload;
}

static void
check_request_bodies (struct checker *c, const cJSON *spec)
{
  const cJSON *fc = firec_json_member (spec, "firecracker");
  long long payload = (long long) number_member (fc, "http_api_max_payload_size", 0);
  const char *which;
  long long limit = firec_api_body_limit (payload, (long long) number_member (fc, "mmds_size_limit", 0), &which);
  const cJSON *data = firec_json_member (firec_json_member (spec, "mmds"), "data");
  size_t size;
  if (cJSON_IsObject (data) && (size = json_size (data)) > (size_t) limit)
    check_error (c, data, "/spec/mmds/data", "the MMDS data is %zu bytes as JSON, more than the %lld of %s", size,
                 limit, which);
  const cJSON *cpu = firec_json_member (spec, "cpu-config");
  limit = firec_api_body_limit (payload, 0, &which);
  if (cJSON_IsObject (cpu) && (size = json_size (cpu)) > (size_t) limit)
    check_error (c, cpu, "/spec/cpu-config", "the CPU template is %zu bytes as JSON, more than the %lld of %s", size,
                 limit, which);
}

/* ------------------------------------------------------------------ custom CPU templates */

/* Firecracker reads these numbers with deserialize_from_str_u32/u64
   (cpu_config/templates_serde.rs: "0b" or "0x" and from_str_radix, in every
   version), and KVM capabilities with str::parse::<u32>: the schema says the
   forms, this says the ranges. */
static bool
fits_bits (const char *text, unsigned bits)
{
  bool binary = strncmp (text, "0b", 2) == 0;
  const char *digits = strncmp (text, "0x", 2) == 0 || binary ? text + 2 : text;
  digits += strspn (digits, "0");
  size_t n = strlen (digits);
  if (binary)
    return n <= bits;
  if (digits != text && text[1] == 'x')
    return n <= bits / 4;
  /* decimal (KVM capabilities): at most 10 digits and no more than 2^32 - 1 */
  return n < 10 || (n == 10 && strcmp (digits, "4294967295") <= 0);
}

static void
check_cpu_number (struct checker *c, const cJSON *node, const char *pointer, unsigned bits)
{
  if (!cJSON_IsString (node))
    return;
  const char *text = node->valuestring + (node->valuestring[0] == '!');
  if (text[0] && !fits_bits (text, bits))
    check_error (c, node, pointer, "%s does not fit in %u bits", node->valuestring, bits);
}

static void
check_cpu_template_list (struct checker *c, const cJSON *template, const char *list, const char *const *fields,
                         const unsigned *bits)
{
  const cJSON *items = firec_json_member (template, list);
  size_t i = 0;
  for (const cJSON *item = cJSON_IsArray (items) ? items->child : NULL; item; item = item->next, i++)
    for (size_t f = 0; fields[f]; f++)
      {
        cleanup_free char *pointer = fields[f][0] ? firec_xasprintf ("/spec/cpu-config/%s/%zu/%s", list, i, fields[f])
                                                  : firec_xasprintf ("/spec/cpu-config/%s/%zu", list, i);
        check_cpu_number (c, fields[f][0] ? firec_json_member (item, fields[f]) : item, pointer, bits[f]);
      }
}

static void
check_cpu_template (struct checker *c, const cJSON *spec)
{
  const cJSON *template = firec_json_member (spec, "cpu-config");
  if (!cJSON_IsObject (template))
    return;
  static const char *const capability[] = { "", NULL };
  static const char *const leaf[] = { "leaf", "subleaf", NULL };
  static const char *const addr[] = { "addr", NULL };
  static const unsigned u32[] = { 32, 32 }, u64[] = { 64 };
  check_cpu_template_list (c, template, "kvm_capabilities", capability, u32);
  check_cpu_template_list (c, template, "cpuid_modifiers", leaf, u32);
  check_cpu_template_list (c, template, "msr_modifiers", addr, u32);
  check_cpu_template_list (c, template, "reg_modifiers", addr, u64);
}

/* ------------------------------------------------------------------ architecture */

/* Fields only one architecture's Firecracker takes: static CPU templates are
   an enum per architecture, aarch64 refuses smt (SmtNotSupported) and
   clock_realtime, and a custom template denies the other architecture's keys.
   The manifest does not say its architecture, but it cannot ask for both. */
struct arch_evidence
{
  const cJSON *node;
  const char *pointer;
  bool aarch64;
};

static void
note_arch (struct checker *c, struct arch_evidence *first, const cJSON *node, const char *pointer, bool aarch64)
{
  if (node == NULL)
    return;
  if (first->node == NULL)
    {
      *first = (struct arch_evidence){ node, pointer, aarch64 };
      return;
    }
  if (first->aarch64 == aarch64)
    return;
  struct firec_mark mark;
  firec_doc_get_mark (c->doc, first->node, &mark, NULL);
  check_error (c, node, pointer, "this is for %s only, but %s (line %u) is for %s only: no Firecracker takes both",
               aarch64 ? "aarch64" : "x86_64", first->pointer, mark.line, first->aarch64 ? "aarch64" : "x86_64");
}

static void
check_architecture (struct checker *c, const cJSON *spec)
{
  struct arch_evidence first = { 0 };
  const cJSON *mc = firec_json_member (spec, "machine-config");
  const cJSON *smt = firec_json_member (mc, "smt");
  note_arch (c, &first, cJSON_IsTrue (smt) ? smt : NULL, "/spec/machine-config/smt", false);
  const cJSON *template = firec_json_member (mc, "cpu_template");
  if (cJSON_IsString (template) && strcmp (template->valuestring, "None") != 0)
    note_arch (c, &first, template, "/spec/machine-config/cpu_template", strcmp (template->valuestring, "V1N1") == 0);
  static const struct
  {
    const char *key;
    const char *pointer;
    bool aarch64;
  } keys[] = {
    { "cpuid_modifiers", "/spec/cpu-config/cpuid_modifiers", false },
    { "msr_modifiers", "/spec/cpu-config/msr_modifiers", false },
    { "reg_modifiers", "/spec/cpu-config/reg_modifiers", true },
    { "vcpu_features", "/spec/cpu-config/vcpu_features", true },
  };
  const cJSON *cpu = firec_json_member (spec, "cpu-config");
  for (size_t i = 0; i < FIREC_N_ELEMENTS (keys); i++)
    note_arch (c, &first, cJSON_IsObject (cpu) ? firec_json_member (cpu, keys[i].key) : NULL, keys[i].pointer,
               keys[i].aarch64);
  const cJSON *realtime = firec_json_member (firec_json_member (spec, "snapshot"), "clock_realtime");
  note_arch (c, &first, cJSON_IsTrue (realtime) ? realtime : NULL, "/spec/snapshot/clock_realtime", false);
}

/* ------------------------------------------------------------------ kernel command line */

/* Firecracker's kernel command line holds 2048 bytes with its NUL, on x86_64 and
   aarch64 alike and in every version from 1.5 to 1.17:
     src/vmm/src/arch/x86_64/layout.rs:  pub const CMDLINE_MAX_SIZE: usize = 2048;
     src/vmm/src/arch/aarch64/layout.rs: pub const CMDLINE_MAX_SIZE: usize = 2048;
   PUT /boot-source builds it with linux-loader's Cmdline::try_from (boot_args,
   CMDLINE_MAX_SIZE), which refuses boot_args that do not fit. InstanceStart
   then appends, each after a space (Cmdline::insert_str):
   - for the root drive "root=/dev/vda" or "root=PARTUUID=<partuuid>", then "ro"
     or "rw" (builder.rs); for a root pmem device "root=/dev/pmem<i>" and ro/rw;
   - on x86_64, for every virtio device (drives, interfaces, pmem, vsock, balloon,
     entropy, virtio-mem), "virtio_mmio.device=4K@0x<8 hex digits>:<IRQ from 5>"
     (device_manager/mmio.rs, add_virtio_device_to_cmdline);
   - from 1.13, without --enable-pci, "pci=off" (builder.rs:
     boot_cmdline.insert("pci", "off")).
   Past the limit InstanceStart fails, after everything was set up. */
#define KERNEL_CMDLINE_MAX_BYTES 2047 /* CMDLINE_MAX_SIZE without the NUL */

static bool
is_ascii_space (char ch)
{
  return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

static size_t
trimmed_length (const char *s, size_t len)
{
  size_t start = 0;
  while (start < len && is_ascii_space (s[start]))
    start++;
  while (len > start && is_ascii_space (s[len - 1]))
    len--;
  return len - start;
}

/* What Cmdline::try_from keeps of boot_args: split at the first " -- " outside
   double quotes, both sides trimmed (of ASCII whitespace here; Rust trims any
   Unicode space), " -- " kept only before non-empty init arguments. */
static size_t
boot_args_size (const char *s)
{
  size_t len = strlen (s), split = len;
  bool quoted = false;
  for (size_t i = 0; i < len && split == len; i++)
    {
      if (s[i] == '"')
        quoted = !quoted;
      else if (!quoted && strncmp (s + i, " -- ", 4) == 0)
        split = i;
    }
  size_t size = trimmed_length (s, split);
  if (split < len)
    {
      size_t init = trimmed_length (s + split + 4, len - split - 4);
      if (init > 0)
        size += 4 + init;
    }
  return size;
}

/* " root=... ro|rw" for the root device, or "" when there is none. */
static void
root_arguments (const cJSON *spec, char *ret, size_t size)
{
  ret[0] = '\0';
  const cJSON *drives = firec_json_member (spec, "drives");
  for (const cJSON *d = cJSON_IsArray (drives) ? drives->child : NULL; d; d = d->next)
    if (true_member (d, "is_root_device"))
      {
        const char *partuuid = firec_json_string (d, "partuuid");
        snprintf (ret, size, " root=%s%s %s", partuuid ? "PARTUUID=" : "/dev/vda", partuuid ? partuuid : "",
                  true_member (d, "is_read_only") ? "ro" : "rw");
        return;
      }
  const cJSON *pmem = firec_json_member (spec, "pmem");
  size_t i = 0;
  for (const cJSON *p = cJSON_IsArray (pmem) ? pmem->child : NULL; p; p = p->next, i++)
    if (true_member (p, "root_device"))
      {
        snprintf (ret, size, " root=/dev/pmem%zu %s", i, true_member (p, "read_only") ? "ro" : "rw");
        return;
      }
}

static size_t
virtio_device_count (const cJSON *spec)
{
  size_t n = 0;
  static const char *const lists[] = { "drives", "network-interfaces", "pmem" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (lists); i++)
    {
      const cJSON *list = firec_json_member (spec, lists[i]);
      n += cJSON_IsArray (list) ? (size_t) cJSON_GetArraySize (list) : 0;
    }
  static const char *const single[] = { "vsock", "balloon", "entropy", "memory-hotplug" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (single); i++)
    n += cJSON_IsObject (firec_json_member (spec, single[i])) ? 1 : 0;
  return n;
}

static void
check_boot_args (struct checker *c, const cJSON *spec)
{
  const cJSON *args = firec_json_member (firec_json_member (spec, "boot-source"), "boot_args");
  if (!cJSON_IsString (args))
    return;
  const char *pointer = "/spec/boot-source/boot_args";
  size_t size = boot_args_size (args->valuestring);
  if (size > KERNEL_CMDLINE_MAX_BYTES)
    {
      check_error (c, args, pointer, "boot_args is %zu bytes; Firecracker's kernel command line holds at most %d", size,
                   KERNEL_CMDLINE_MAX_BYTES);
      return;
    }
  char root[128];
  root_arguments (spec, root, sizeof root);
  size_t everywhere = size + strlen (root);
  if (everywhere > KERNEL_CMDLINE_MAX_BYTES)
    {
      check_error (c, args, pointer,
                   "boot_args is %zu bytes, and with \"%s\", which Firecracker appends for the root device, "
                   "the kernel "
                   "command line would be %zu; it holds at most %d",
                   size, root + 1, everywhere, KERNEL_CMDLINE_MAX_BYTES);
      return;
    }
  /* x86_64 only: the architecture is not in the manifest, hence a warning. */
  size_t devices = virtio_device_count (spec);
  size_t on_x86_64 = everywhere + strlen (" pci=off");
  for (size_t i = 0; i < devices; i++)
    on_x86_64 += strlen (" virtio_mmio.device=4K@0xd0000000:") + (5 + i < 10 ? 1 : 2);
  if (on_x86_64 > KERNEL_CMDLINE_MAX_BYTES)
    check_warning (c, args, pointer,
                   "boot_args is %zu bytes; on x86_64 Firecracker also appends%s a \"virtio_mmio.device=4K@0x...:IRQ\" "
                   "for each virtio device (%zu here) and, from 1.13, \"pci=off\": %zu bytes there, over the %d its "
                   "kernel command line holds",
                   size, root[0] ? " the root device's arguments," : "", devices, on_x86_64, KERNEL_CMDLINE_MAX_BYTES);
}

/* ------------------------------------------------------------------ network */

/* Linux's dev_valid_name (net/core/dev.c): at most IFNAMSIZ - 1 bytes, not "."
   or "..", no '/', ':' or isspace() byte. The schema says all of that except the
   byte count and the byte 0xA0, which the kernel's ctype table counts as a space
   (lib/ctype.c: 160 is _S|_SP) and which sits inside UTF-8 characters such as
   "à" (C3 A0). */
static void
check_interface_name (struct checker *c, const cJSON *dev, const char *pointer)
{
  if (!cJSON_IsString (dev))
    return;
  const char *name = dev->valuestring;
  if (strlen (name) > 15 && firec_utf8_length (name) <= 15)
    check_error (c, dev, pointer, "\"%s\" is %zu bytes long; Linux interface names hold at most 15", name,
                 strlen (name));
  else if (strchr (name, '\xA0'))
    check_error (c, dev, pointer,
                 "\"%s\" holds the byte 0xA0 (part of a UTF-8 character such as \"\xC3\xA0\"), which Linux takes "
                 "for a space in interface names",
                 name);
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
      char index[FIREC_DECIMAL_MAX];
      cleanup_free char *pointer
          = firec_xstrjoin ("/spec/network-interfaces/", firec_decimal (i, index), "/host_dev_name", NULL);
      check_interface_name (c, firec_json_member (iface, "host_dev_name"), pointer);
    }
  const cJSON *overrides = firec_json_member (firec_json_member (spec, "snapshot"), "network_overrides");
  i = 0;
  for (const cJSON *o = cJSON_IsArray (overrides) ? overrides->child : NULL; o; o = o->next, i++)
    {
      cleanup_free char *pointer = firec_xasprintf ("/spec/snapshot/network_overrides/%zu/host_dev_name", i);
      check_interface_name (c, firec_json_member (o, "host_dev_name"), pointer);
    }
  /* Two interfaces on one TAP: Firecracker's second open fails (EBUSY), and the
     run would create and remove the device twice. */
  check_unique_ids (c, ifaces, "/spec/network-interfaces", "host_dev_name", "host_dev_name");
  check_unique_ids (c, overrides, "/spec/snapshot/network_overrides", "host_dev_name", "host_dev_name");
}

/* spec.tap, the options of the TAPs firec-run creates: a key that names no
   interface would be ignored without a word (a typo, an interface renamed
   since), and a bridge is the host namespace's, out of reach of a TAP created
   in jailer.netns. */
static void
check_tap_options (struct checker *c, const cJSON *spec)
{
  const cJSON *options = firec_json_member (spec, "tap");
  const cJSON *ifaces = firec_json_member (spec, "network-interfaces");
  const cJSON *overrides = firec_json_member (firec_json_member (spec, "snapshot"), "network_overrides");
  const cJSON *jailer = firec_json_member (spec, "jailer");
  const cJSON *netns = firec_json_member (jailer, "netns");
  bool in_netns = cJSON_IsString (netns) && !cJSON_IsFalse (firec_json_member (jailer, "enabled"));
  for (const cJSON *k = cJSON_IsObject (options) ? options->child : NULL; k; k = k->next)
    {
      cleanup_free char *pointer = firec_json_pointer_append ("/spec/tap", k->string);
      if (is_firecracker_id (k->string) && !has_item_with_id (ifaces, "iface_id", k->string, false)
          && !has_item_with_id (overrides, "iface_id", k->string, false))
        {
          struct firec_mark key;
          firec_doc_get_mark (c->doc, k, NULL, &key);
          firec_diags_add (c->diags, FIREC_SEV_ERROR, c->doc->filename, key.line, key.column, pointer,
                           "no network interface has iface_id \"%s\"", k->string);
          c->errors++;
        }
      const cJSON *bridge = firec_json_member (k, "bridge");
      if (cJSON_IsString (bridge) && in_netns)
        {
          cleanup_free char *bridge_pointer = firec_xasprintf ("%s/bridge", pointer);
          check_error (c, bridge, bridge_pointer,
                       "the bridge %s is in the host's network namespace, but with jailer.netns (%s) firec-run "
                       "creates the TAP in that namespace: leave out bridge and attach the TAP there yourself, or "
                       "leave out jailer.netns",
                       bridge->valuestring, netns->valuestring);
        }
    }
}

/* ------------------------------------------------------------------ sockets in the VM's root */

/* Where Firecracker binds a VM-root socket, and where the host sees it. */
struct socket_paths
{
  char *bound; /* the path Firecracker passes to bind() */
  char *host;  /* the same socket seen from the host */
};

/* The file name of the firecracker binary: the jailer names the jail after it. */
static const char *
exec_name_of (const cJSON *spec)
{
  const char *binary = firec_json_string (firec_json_member (spec, "firecracker"), "binary");
  if (binary == NULL)
    return "firecracker";
  const char *slash = strrchr (binary, '/');
  return slash ? slash + 1 : binary;
}

static void
socket_paths_for (const cJSON *manifest, const char *vm_root_path, struct socket_paths *ret)
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
      ret->host = firec_xstrjoin ("/run/firec/", name, "/root", vm_root_path, NULL);
      ret->bound = firec_xstrdup (ret->host);
      return;
    }
  const char *base = firec_json_string (jailer, "chroot_base_dir");
  ret->host
      = firec_xstrjoin (base ? base : "/srv/jailer", "/", exec_name_of (spec), "/", name, "/root", vm_root_path, NULL);
  ret->bound = firec_xstrdup (vm_root_path);
}

static void
check_socket_path (struct checker *c, const char *vm_root_path, const cJSON *at, const char *pointer, const char *what,
                   bool bound)
{
  struct socket_paths paths;
  socket_paths_for (c->doc->root, vm_root_path, &paths);
  size_t limit = sizeof ((struct sockaddr_un *) 0)->sun_path;
  if (strlen (paths.bound) >= limit)
    check_error (c, at, pointer, "the %s path %s is %zu bytes long; a Unix socket path holds at most %zu", what,
                 paths.bound, strlen (paths.bound), limit - 1);
  else if (strlen (paths.host) >= limit)
    check_warning (c, at, pointer,
                   bound ? "on the host the %s is %s, %zu bytes long: firec-run copes, but tools that connect by "
                           "path (socat, curl) cannot; shorten metadata.name or jailer.chroot_base_dir"
                         : "on the host the %s is %s, %zu bytes long: a backend cannot bind() it by that path; "
                           "shorten metadata.name or jailer.chroot_base_dir",
                   what, paths.host, strlen (paths.host));
  free (paths.bound);
  free (paths.host);
}

/* The schema's VmRootPath: '/' then segments, none empty, "." or "..". The
   checks below only judge paths in that form; the schema reports the others. */
static bool
is_normalized_vm_root_path (const char *path)
{
  if (path[0] != '/')
    return false;
  for (const char *p = path; *p == '/';)
    {
      p++;
      size_t n = strcspn (p, "/");
      if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return false;
      p += n;
    }
  return true;
}

struct vm_root_socket
{
  const cJSON *node; /* NULL: the default API socket */
  const char *path;
  char pointer[48];
  const char *what;
  bool bound; /* Firecracker binds it (else it connects to it: vhost-user) */
  bool vsock; /* the vsock device's: guest-initiated connections go to <path>_PORT */
};

/* A socket must not land on what firec-run or the jailer put into the VM's root:
   the directories of the staged files, /dev and /run themselves, the copy of the
   firecracker binary and its pid file. */
static void
check_reserved (struct checker *c, const cJSON *spec, const cJSON *at, const struct vm_root_socket *s)
{
  static const char *const reserved[]
      = { "/dev",     "/kernel", "/initrd",     "/drives",  "/pmem",     "/logs",
          "/metrics", "/serial", "/cpu-config", "/seccomp", "/snapshot", "/snapshot-memory" };
  const char *path = s->path;
  for (size_t r = 0; r < FIREC_N_ELEMENTS (reserved); r++)
    {
      size_t n = strlen (reserved[r]);
      if (strncmp (path, reserved[r], n) == 0 && (path[n] == '/' || path[n] == '\0'))
        {
          check_error (c, at, s->pointer,
                       "%s is inside %s, where firec-run and the jailer put the VM's files; use a path under /run",
                       path, reserved[r]);
          return;
        }
    }
  if (strcmp (path, "/run") == 0)
    {
      check_error (c, at, s->pointer, "/run is the directory the jailer creates for sockets; use a path under it");
      return;
    }
  if (cJSON_IsFalse (firec_json_member (firec_json_member (spec, "jailer"), "enabled")))
    return;
  const char *exec_name = exec_name_of (spec);
  size_t n = strlen (exec_name);
  if (path[0] == '/' && strncmp (path + 1, exec_name, n) == 0
      && (path[1 + n] == '\0' || strcmp (path + 1 + n, ".pid") == 0))
    check_error (c, at, s->pointer, "%s is where the jailer puts its copy of %s or its pid file; use a path under /run",
                 path, exec_name);
}

/* Guest-initiated vsock connections to port P go to <uds_path>_P. */
static bool
is_vsock_port_socket (const char *uds_path, const char *path)
{
  size_t n = strlen (uds_path);
  return strncmp (path, uds_path, n) == 0 && path[n] == '_' && path[n + 1] != '\0'
         && strspn (path + n + 1, "0123456789") == strlen (path + n + 1);
}

static void
check_vm_root_paths (struct checker *c, const cJSON *spec)
{
  struct vm_root_socket sockets[64];
  size_t count = 0;
  const cJSON *fc = firec_json_member (spec, "firecracker");
  const cJSON *api = firec_json_member (fc, "api_socket");
  /* The API socket has a default: judged at the firecracker section (or spec)
     when the manifest does not set it. */
  sockets[count++]
      = (struct vm_root_socket){ .node = api,
                                 .path = cJSON_IsString (api) ? api->valuestring : "/run/firecracker.socket",
                                 .what = "API socket",
                                 .bound = true };
  strcpy (sockets[0].pointer, cJSON_IsString (api) ? "/spec/firecracker/api_socket"
                              : fc                 ? "/spec/firecracker"
                                                   : "/spec");
  const cJSON *vsock = firec_json_member (firec_json_member (spec, "vsock"), "uds_path");
  const cJSON *override
      = firec_json_member (firec_json_member (firec_json_member (spec, "snapshot"), "vsock_override"), "uds_path");
  const cJSON *vsock_paths[] = { vsock, override };
  static const char *const vsock_pointers[] = { "/spec/vsock/uds_path", "/spec/snapshot/vsock_override/uds_path" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (vsock_paths); i++)
    if (cJSON_IsString (vsock_paths[i]))
      {
        sockets[count] = (struct vm_root_socket){ .node = vsock_paths[i],
                                                  .path = vsock_paths[i]->valuestring,
                                                  .what = "vsock socket",
                                                  .bound = true,
                                                  .vsock = true };
        strcpy (sockets[count++].pointer, vsock_pointers[i]);
      }
  const cJSON *drives = firec_json_member (spec, "drives");
  size_t i = 0;
  for (const cJSON *d = cJSON_IsArray (drives) ? drives->child : NULL; d && count < FIREC_N_ELEMENTS (sockets);
       d = d->next, i++)
    {
      const cJSON *socket = firec_json_member (d, "socket");
      if (!cJSON_IsString (socket))
        continue;
      sockets[count]
          = (struct vm_root_socket){ .node = socket, .path = socket->valuestring, .what = "vhost-user socket" };
      snprintf (sockets[count++].pointer, sizeof sockets[0].pointer, "/spec/drives/%zu/socket", i);
    }

  for (size_t k = 0; k < count; k++)
    {
      const struct vm_root_socket *s = &sockets[k];
      if (!is_normalized_vm_root_path (s->path))
        continue;
      const cJSON *at = s->node ? s->node : fc ? fc : spec;
      check_reserved (c, spec, at, s);
      /* sun_path bounds a vhost-user socket too: Firecracker connects to it. */
      check_socket_path (c, s->path, at, s->pointer, s->what, s->bound);
      for (size_t j = 0; j < k; j++)
        {
          const struct vm_root_socket *t = &sockets[j];
          if (!(s->bound || t->bound))
            continue;
          const struct vm_root_socket *uds = t->vsock ? t : s->vsock ? s : NULL;
          const struct vm_root_socket *other = uds == t ? s : t;
          if (strcmp (s->path, t->path) == 0)
            check_error (c, at, s->pointer, "the %s and the %s are both %s", t->what, s->what, s->path);
          else if (uds && is_vsock_port_socket (uds->path, other->path))
            check_error (c,
                         other->node ? other->node
                         : fc        ? fc
                                     : spec,
                         other->pointer,
                         "the %s %s is where Firecracker connects the guest's vsock connections to port %s "
                         "(<uds_path>_PORT of the vsock socket %s)",
                         other->what, other->path, other->path + strlen (uds->path) + 1, uds->path);
        }
    }
}

/* ------------------------------------------------------------------ host files */

/* A host file the manifest names. Pointers and normalized paths are only
   built when needed: most manifests name a few files and no file twice. */
struct host_file
{
  const cJSON *node;
  const char *pointer; /* the field, or with list: the field of each item */
  const char *list;    /* "/spec/drives", or NULL */
  size_t index;
  char *path;    /* lexically normalized absolute path; NULL until compared */
  bool writable; /* the guest writes it (a read-write drive or pmem) */
  bool output;   /* Firecracker writes it */
};

struct host_files
{
  struct host_file *items;
  size_t count;
  size_t cap;
};

static void
add_host_file (struct host_files *files, const cJSON *node, const char *pointer, const char *list, size_t index,
               bool writable, bool output)
{
  if (!cJSON_IsString (node) || node->valuestring[0] == '\0')
    return;
  if (files->count == files->cap)
    {
      files->cap = files->cap ? files->cap * 2 : 16;
      files->items = firec_xrealloc (files->items, files->cap * sizeof *files->items);
    }
  files->items[files->count++] = (struct host_file){ node, pointer, list, index, NULL, writable, output };
}

static void
add_listed_files (struct host_files *files, const cJSON *list, const char *list_pointer, const char *read_only_field)
{
  size_t i = 0;
  for (const cJSON *item = cJSON_IsArray (list) ? list->child : NULL; item; item = item->next, i++)
    add_host_file (files, firec_json_member (item, "path_on_host"), "path_on_host", list_pointer, i,
                   !true_member (item, read_only_field), false);
}

/* Every host file of the manifest: what Firecracker and the guest read, what
   the guest writes, and what Firecracker writes. The executables count when
   they are paths (a bare name is looked up in PATH at run time). */
static void
collect_host_files (const cJSON *spec, struct host_files *files)
{
  const cJSON *fc = firec_json_member (spec, "firecracker");
  const cJSON *snapshot = firec_json_member (spec, "snapshot");
  static const struct
  {
    const char *section;
    const char *field;
    const char *pointer;
    bool output;
  } singles[] = {
    { "boot-source", "kernel_image_path", "/spec/boot-source/kernel_image_path", false },
    { "boot-source", "initrd_path", "/spec/boot-source/initrd_path", false },
    { "mmds", "data_file", "/spec/mmds/data_file", false },
    { "snapshot", "snapshot_path", "/spec/snapshot/snapshot_path", false },
    { "snapshot", "mem_file_path", "/spec/snapshot/mem_file_path", false },
    { "logger", "log_path", "/spec/logger/log_path", true },
    { "metrics", "metrics_path", "/spec/metrics/metrics_path", true },
    { "serial", "serial_out_path", "/spec/serial/serial_out_path", true },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (singles); i++)
    if (!singles[i].output)
      add_host_file (files, firec_json_member (firec_json_member (spec, singles[i].section), singles[i].field),
                     singles[i].pointer, NULL, 0, false, false);
  add_host_file (files, firec_json_member (firec_json_member (snapshot, "mem_backend"), "backend_path"),
                 "/spec/snapshot/mem_backend/backend_path", NULL, 0, false, false);
  add_host_file (files, firec_json_member (spec, "cpu-config"), "/spec/cpu-config", NULL, 0, false, false);
  add_host_file (files, firec_json_member (firec_json_member (fc, "seccomp"), "filter"),
                 "/spec/firecracker/seccomp/filter", NULL, 0, false, false);
  const cJSON *binaries[]
      = { firec_json_member (fc, "binary"), firec_json_member (firec_json_member (spec, "jailer"), "binary") };
  static const char *const binary_pointers[] = { "/spec/firecracker/binary", "/spec/jailer/binary" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (binaries); i++)
    if (cJSON_IsString (binaries[i]) && strchr (binaries[i]->valuestring, '/'))
      add_host_file (files, binaries[i], binary_pointers[i], NULL, 0, false, false);
  add_listed_files (files, firec_json_member (spec, "drives"), "/spec/drives", "is_read_only");
  add_listed_files (files, firec_json_member (spec, "pmem"), "/spec/pmem", "read_only");
  add_listed_files (files, firec_json_member (snapshot, "drives"), "/spec/snapshot/drives", "is_read_only");
  /* Outputs last: a conflict is reported at the output, the likelier mistake. */
  for (size_t i = 0; i < FIREC_N_ELEMENTS (singles); i++)
    if (singles[i].output)
      add_host_file (files, firec_json_member (firec_json_member (spec, singles[i].section), singles[i].field),
                     singles[i].pointer, NULL, 0, false, true);
}

static char *
absolute_base_dir (const char *base_dir)
{
  if (base_dir == NULL)
    return NULL;
  if (base_dir[0] == '/')
    return firec_path_normalize (base_dir);
  char cwd[PATH_MAX];
  if (getcwd (cwd, sizeof cwd) == NULL)
    return NULL;
  cleanup_free char *joined = firec_xstrjoin (cwd, "/", base_dir, NULL);
  return firec_path_normalize (joined);
}

/* Normalizes every path, against the manifest's directory; false when a
   relative path cannot be placed (stdin without --base-dir: resolve says so). */
static bool
normalize_host_files (const char *doc_base_dir, struct host_files *files)
{
  cleanup_free char *base = NULL;
  for (size_t k = 0; k < files->count; k++)
    {
      const char *path = files->items[k].node->valuestring;
      if (path[0] == '/')
        {
          files->items[k].path = firec_path_normalize (path);
          continue;
        }
      if (base == NULL && (base = absolute_base_dir (doc_base_dir)) == NULL)
        return false;
      size_t base_len = strlen (base), path_len = strlen (path);
      cleanup_free char *joined = firec_xmalloc (base_len + path_len + 2);
      memcpy (joined, base, base_len);
      joined[base_len] = '/';
      memcpy (joined + base_len + 1, path, path_len + 1);
      files->items[k].path = firec_path_normalize (joined);
    }
  return true;
}

static char *
host_file_pointer (const struct host_file *f)
{
  return f->list ? firec_xasprintf ("%s/%zu/%s", f->list, f->index, f->pointer) : firec_xstrdup (f->pointer);
}

/* The VM's jail directory, <chroot_base_dir>/<binary's file name>/<name>, which
   firec-run removes with the VM; NULL without the jailer. */
static char *
jail_dir_of (const cJSON *manifest)
{
  const cJSON *spec = firec_json_member (manifest, "spec");
  const cJSON *jailer = firec_json_member (spec, "jailer");
  const char *name = firec_json_string (firec_json_member (manifest, "metadata"), "name");
  if (cJSON_IsFalse (firec_json_member (jailer, "enabled")) || name == NULL)
    return NULL;
  const char *base = firec_json_string (jailer, "chroot_base_dir");
  cleanup_free char *joined
      = firec_xstrjoin (base && base[0] == '/' ? base : "/srv/jailer", "/", exec_name_of (spec), "/", name, NULL);
  return firec_path_normalize (joined);
}

static void
check_outside_jail (struct checker *c, const struct host_files *files)
{
  cleanup_free char *jail = jail_dir_of (c->doc->root);
  size_t n = jail ? strlen (jail) : 0;
  for (size_t k = 0; jail && k < files->count; k++)
    {
      const struct host_file *f = &files->items[k];
      if (strncmp (f->path, jail, n) == 0 && (f->path[n] == '/' || f->path[n] == '\0'))
        {
          cleanup_free char *pointer = host_file_pointer (f);
          check_error (c, f->node, pointer,
                       "%s is inside %s, this VM's jail directory, which firec-run builds and removes with the VM",
                       f->node->valuestring, jail);
        }
    }
}

/* Host files inside the jail directory are refused too (check_outside_jail).
   Two fields naming one file, compared by spelling once normalized (../disk.ext4,
   ./../disk.ext4 and the absolute path are one file). An output must not be an
   input or another output: Firecracker writes it from its first byte. A file
   the guest writes backs one device only. Read-only inputs may be shared. The
   same file reached through a hard or symbolic link is for preflight, which can
   look at the host. */
static void
check_file_identity (struct checker *c, const cJSON *spec)
{
  struct host_files files = { 0 };
  collect_host_files (spec, &files);
  /* Relative paths of a manifest on stdin cannot be placed: resolve says so. */
  bool placed = normalize_host_files (c->doc->base_dir, &files);
  if (placed)
    check_outside_jail (c, &files);
  if (placed && files.count >= 2)
    for (size_t k = 0; k < files.count; k++)
      {
        const struct host_file *b = &files.items[k];
        for (size_t j = 0; j < k; j++)
          {
            const struct host_file *a = &files.items[j];
            if (!(a->output || b->output || a->writable || b->writable) || strcmp (a->path, b->path) != 0)
              continue;
            const char *why = a->output && b->output ? "two outputs cannot share a file"
                              : a->output || b->output
                                  ? "an output must not be an input of the same VM: Firecracker writes it from its "
                                    "first byte"
                                  : "a file the guest writes backs one device only (read-only files may be shared)";
            struct firec_mark first;
            firec_doc_get_mark (c->doc, a->node, &first, NULL);
            cleanup_free char *a_pointer = host_file_pointer (a);
            cleanup_free char *b_pointer = host_file_pointer (b);
            check_error (c, b->node, b_pointer, "%s is also %s (line %u, column %u): %s", b->node->valuestring,
                         a_pointer, first.line, first.column, why);
            break;
          }
      }
  for (size_t k = 0; k < files.count; k++)
    free (files.items[k].path);
  free (files.items);
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
  check_unique_ids (&c, firec_json_member (spec, "network-interfaces"), "/spec/network-interfaces", "iface_id",
                    "iface_id");
  check_unique_ids (&c, firec_json_member (spec, "pmem"), "/spec/pmem", "id", "pmem id");
  check_unique_ids (&c, firec_json_member (firec_json_member (spec, "snapshot"), "drives"), "/spec/snapshot/drives",
                    "drive_id", "drive_id");
  check_unique_ids (&c, firec_json_member (firec_json_member (spec, "snapshot"), "network_overrides"),
                    "/spec/snapshot/network_overrides", "iface_id", "iface_id");
  check_root_devices (&c, spec, snapshot);
  check_snapshot_exclusions (&c, spec);
  check_mmds_interfaces (&c, spec);
  check_machine_config (&c, spec);
  check_network_interfaces (&c, spec);
  check_tap_options (&c, spec);
  check_vm_root_paths (&c, spec);
  check_file_identity (&c, spec);
  check_boot_args (&c, spec);
  check_balloon (&c, spec);
  check_memory_hotplug (&c, spec);
  check_snapshot_memory (&c, spec);
  check_durations (&c, spec);
  check_staging_keys (&c, spec);
  check_request_bodies (&c, spec);
  check_cpu_template (&c, spec);
  check_architecture (&c, spec);
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
firec_manifest_load (const char *path, const char *base_dir, struct firec_doc **ret, struct firec_diags *diags,
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
  *ret = doc;
  return errors;
}
