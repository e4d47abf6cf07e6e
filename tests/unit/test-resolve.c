/* SPDX-License-Identifier: Apache-2.0 */
/* resolve: ${VAR} interpolation, defaults from the schema, absolute host paths
   and derived names. */
#include "config.h"

#include "manifest.h"
#include "model.h"
#include "plan.h"
#include "util.h"
#include "yaml-load.h"

#include "tap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
fake_env (const char *name)
{
  if (strcmp (name, "NAME") == 0)
    return "web-1";
  if (strcmp (name, "EMPTY") == 0)
    return "";
  if (strcmp (name, "DIR") == 0)
    return "/srv/images";
  if (strcmp (name, "TWO") == 0)
    return "2";
  if (strcmp (name, "YES") == 0)
    return "True";
  if (strcmp (name, "WORD") == 0)
    return "yes";
  if (strcmp (name, "OCTAL") == 0)
    return "0755";
  return NULL;
}

/* Interpolates the YAML value of key "v" and returns it, or the first diagnostic. */
static char *
expand (const char *value)
{
  cleanup_free char *yaml = firec_xasprintf ("v: %s\n", value);
  struct firec_diags diags = { 0 };
  firec_error_t err = NULL;
  struct firec_doc *doc = NULL;
  if (firec_yaml_load_buffer (yaml, strlen (yaml), "t.yaml", &doc, &diags, &err) < 0)
    {
      firec_error_release (&err);
      firec_diags_release (&diags);
      return firec_xstrdup ("load error");
    }
  char *out;
  if (firec_interpolate (doc, fake_env, &diags) > 0)
    out = firec_diag_format (&diags.items[0]);
  else
    out = firec_xstrdup (cJSON_GetStringValue (cJSON_GetObjectItem (doc->root, "v")));
  firec_diags_release (&diags);
  firec_doc_free (doc);
  return out;
}

#define EXPANDS(in, want, name)                                                                                        \
  do                                                                                                                   \
    {                                                                                                                  \
      cleanup_free char *got_ = expand (in);                                                                           \
      TAP_STR_EQ (got_, want, name);                                                                                   \
    }                                                                                                                  \
  while (0)

static void
test_interpolation (void)
{
  EXPANDS ("vm-${NAME}", "vm-web-1", "${VAR} expands");
  EXPANDS ("${MISSING:-fallback}", "fallback", "${VAR:-default} for an unset variable");
  EXPANDS ("${EMPTY:-fallback}", "fallback", "${VAR:-default} for an empty variable");
  EXPANDS ("${NAME:-fallback}", "web-1", "${VAR:-default} for a set variable");
  EXPANDS ("'cost: $$5 and $HOME'", "cost: $5 and $HOME", "$$ is a literal $, a bare $ stays");
  EXPANDS ("${DIR}/vmlinux", "/srv/images/vmlinux", "expansion inside a path");
  EXPANDS ("\"${MISSING}\"",
           "t.yaml:1:4: error: /v: environment variable MISSING is not set (set it, or write ${MISSING:-default})",
           "an unset variable names itself and its position");
  EXPANDS ("${EMPTY:?the image directory must be set}", "t.yaml:1:4: error: /v: EMPTY: the image directory must be set",
           "${VAR:?message}");
  EXPANDS ("${NAME", "t.yaml:1:4: error: /v: unterminated ${ in \"${NAME\" (write $$ for a literal $)",
           "an unterminated ${");
  EXPANDS ("${A:-${B}}",
           "t.yaml:1:4: error: /v: invalid interpolation ${A:-${B}: expected ${NAME}, ${NAME:-default} or "
           "${NAME:?message}",
           "no nesting");
  EXPANDS ("${1X}",
           "t.yaml:1:4: error: /v: invalid interpolation ${1X}: expected ${NAME}, ${NAME:-default} or "
           "${NAME:?message}",
           "a name starts with a letter or _");
  EXPANDS ("$(id -u)", "$(id -u)", "no command substitution");
}

/* Where a whole ${VAR} takes its field's type, and where it stays a string. */
static void
test_typed_interpolation (void)
{
  static const char text[] = "apiVersion: firec/v1alpha1\n"
                             "kind: MicroVM\n"
                             "metadata: {name: t}\n"
                             "spec:\n"
                             "  machine-config:\n"
                             "    vcpu_count: ${TWO}\n"
                             "    mem_size_mib: '${TWO}'\n"
                             "    smt: ${YES}\n"
                             "    track_dirty_pages: ${WORD}\n"
                             "  network-interfaces:\n"
                             "    - iface_id: eth0\n"
                             "      host_dev_name: ${TWO}\n"
                             "  balloon:\n"
                             "    amount_mib: x${TWO}\n"
                             "    deflate_on_oom: |\n"
                             "      ${YES}\n"
                             "  mmds:\n"
                             "    data:\n"
                             "      count: ${TWO}\n"
                             "  jailer:\n"
                             "    uid: ${OCTAL}\n"
                             "    gid: ${MISSING:-7}\n"
                             "    cgroup_version: ${TWO}\n"
                             "    cgroups:\n"
                             "      cpu.weight: ${TWO}\n"
                             "x-note: ${TWO}\n";
  static const struct
  {
    const char *pointer;
    int type; /* cJSON_Number, cJSON_True, cJSON_False or cJSON_String */
    const char *why;
  } cases[] = {
    { "/spec/machine-config/vcpu_count", cJSON_Number, "an integer field takes the number" },
    { "/spec/machine-config/mem_size_mib", cJSON_String, "a quoted ${VAR} stays a string" },
    { "/spec/machine-config/smt", cJSON_True, "a boolean field takes True" },
    { "/spec/machine-config/track_dirty_pages", cJSON_String, "yes is not a YAML 1.2 boolean" },
    { "/spec/network-interfaces/0/host_dev_name", cJSON_String, "a string field keeps the string" },
    { "/spec/balloon/amount_mib", cJSON_String, "a ${VAR} inside a longer scalar stays a string" },
    { "/spec/balloon/deflate_on_oom", cJSON_String, "a block scalar stays a string" },
    { "/spec/mmds/data/count", cJSON_String, "free-form data keeps the string" },
    { "/spec/jailer/uid", cJSON_String, "0755 is not a plain decimal integer" },
    { "/spec/jailer/gid", cJSON_Number, "a default value takes the type too" },
    { "/spec/jailer/cgroup_version", cJSON_Number, "an enum of numbers and strings takes the number it holds" },
    { "/spec/jailer/cgroups/cpu.weight", cJSON_String, "a map of strings keeps the string" },
    { "/x-note", cJSON_String, "an x-* value keeps the string" },
  };
  struct firec_diags diags = { 0 };
  firec_error_t err = NULL;
  struct firec_doc *doc = NULL;
  if (firec_yaml_load_buffer (text, strlen (text), "t.yaml", &doc, &diags, &err) < 0)
    {
      tap_ok (0, "the typed interpolation manifest loads");
      return;
    }
  tap_ok (firec_interpolate (doc, fake_env, &diags) == 0, "typed interpolation: no interpolation errors");
  for (size_t i = 0; i < FIREC_N_ELEMENTS (cases); i++)
    {
      const cJSON *node = firec_doc_at (doc, cases[i].pointer);
      tap_ok (node && (node->type & 0xFF) == cases[i].type, "%s: %s", cases[i].pointer, cases[i].why);
    }
  const cJSON *vcpus = firec_doc_at (doc, "/spec/machine-config/vcpu_count");
  struct firec_mark mark;
  tap_ok (vcpus && vcpus->valuedouble == 2 && firec_doc_get_mark (doc, vcpus, &mark, NULL) && mark.line == 6
              && mark.column == 17,
          "the typed value keeps its value and its position");
  firec_doc_free (doc);
  firec_diags_release (&diags);
}

static const char manifest[] = "apiVersion: firec/v1alpha1\n"
                               "kind: MicroVM\n"
                               "metadata: {name: web-1}\n"
                               "spec:\n"
                               "  boot-source: {kernel_image_path: ./img/../vmlinux, initrd_path: /abs//initrd}\n"
                               "  drives:\n"
                               "    - {drive_id: rootfs, path_on_host: disks/root.ext4, is_root_device: true}\n"
                               "  logger: {log_path: ./fc.log}\n"
                               "  jailer: {uid: 10001, gid: 10002}\n"
                               "  staging: {default: copy, drives: {rootfs: link}}\n"
                               "  run: {start_timeout: 1500ms, stop: [{sigterm: 2s}, sigkill]}\n";

static void
test_model (void)
{
  setenv ("FIREC_STATE_DIR", "/run/test-firec", 1);
  setenv ("FIREC_CGROUP_ROOT", "/", 1);
  struct firec_diags diags = { 0 };
  firec_error_t err = NULL;
  struct firec_doc *doc = NULL;
  int rc = firec_yaml_load_buffer (manifest, strlen (manifest), "vm.yaml", &doc, &diags, &err);
  tap_ok (rc == 0, "the test manifest loads");
  if (rc < 0)
    return;
  doc->base_dir = firec_xstrdup ("/home/u/vms");
  tap_ok (firec_manifest_validate (doc, &diags, &err) == 0, "the test manifest is valid");
  struct firec_model *m = NULL;
  rc = firec_resolve (doc, &m, &diags, &err);
  tap_ok (rc == 0, "it resolves");
  if (rc < 0)
    return;
  TAP_STR_EQ (m->files[0].host_path, "/home/u/vms/vmlinux", "relative host paths resolve against the manifest");
  TAP_STR_EQ (m->files[1].host_path, "/abs/initrd", "absolute host paths are normalized");
  TAP_STR_EQ (m->files[0].vm_path, "/kernel/vmlinux", "the kernel's path in the jail");
  TAP_STR_EQ (m->files[2].vm_path, "/drives/rootfs/root.ext4", "each drive has its own directory in the jail");
  tap_ok (m->files[2].writable && m->files[2].mode == FIREC_STAGING_LINK, "per-drive staging overrides the default");
  tap_ok (m->files[0].mode == FIREC_STAGING_COPY, "the default staging mode applies to the kernel");
  tap_ok (m->files[3].output && m->files[3].role == FIREC_FILE_LOG, "the log file is an output");
  TAP_STR_EQ (m->jail_dir, "/srv/jailer/firecracker/web-1", "jail directory from the schema defaults");
  TAP_STR_EQ (m->api_socket_host, "/srv/jailer/firecracker/web-1/root/run/firecracker.socket", "API socket host path");
  TAP_STR_EQ (m->state_dir, "/run/test-firec/web-1", "FIREC_STATE_DIR moves the state directory");
  tap_ok (m->uid == 10001 && m->gid == 10002, "uid and gid");
  tap_ok (m->start_timeout_ms == 1500 && m->stop_timeout_ms == 30000, "durations, and the schema's default");
  tap_ok (m->stop_count == 2 && m->stop[0].action == FIREC_STOP_SIGTERM && m->stop[0].wait_ms == 2000
              && m->stop[1].action == FIREC_STOP_SIGKILL,
          "the stop policy");
  tap_ok (m->cgroup_version == 1 && m->resource_limits[0] && strcmp (m->resource_limits[0], "no-file=2048") == 0,
          "cgroup_version auto is the host's (no cgroup2 at FIREC_CGROUP_ROOT: 1), and the jailer's no-file default");
  firec_model_free (m);
  firec_doc_free (doc);
  firec_diags_release (&diags);
  unsetenv ("FIREC_STATE_DIR");
  unsetenv ("FIREC_CGROUP_ROOT");
}

static void
test_normalize (void)
{
  static const char *const cases[][2] = {
    { "/a/b/../c", "/a/c" }, { "//a//b/", "/a/b" }, { "/..", "/" }, { "/a/./b/.", "/a/b" }, { "/", "/" },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (cases); i++)
    {
      cleanup_free char *got = firec_path_normalize (cases[i][0]);
      TAP_STR_EQ (got, cases[i][1], "normalize %s", cases[i][0]);
    }
}

/* ------------------------------------------------------------------ binaries */

static char bindir[] = "/tmp/firec-test-resolve-XXXXXX";

static void
make_executable (const char *name, const char *content)
{
  cleanup_free char *path = firec_xasprintf ("%s/%s", bindir, name);
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (fd < 0 || write (fd, content, strlen (content)) != (ssize_t) strlen (content))
    abort ();
  close (fd);
}

static void
make_symlink (const char *target, const char *name)
{
  cleanup_free char *path = firec_xasprintf ("%s/%s", bindir, name);
  unlink (path);
  if (symlink (target, path) < 0)
    abort ();
}

/* The model of a manifest whose firecracker.binary is binary (jailer on). */
static struct firec_model *
model_with_binary (const char *binary)
{
  cleanup_free char *yaml = firec_xasprintf ("apiVersion: firec/v1alpha1\n"
                                             "kind: MicroVM\n"
                                             "metadata: {name: web-1}\n"
                                             "spec:\n"
                                             "  boot-source: {kernel_image_path: /k, initrd_path: /i}\n"
                                             "  firecracker: {binary: '%s'}\n"
                                             "  jailer: {uid: 10001, gid: 10001}\n",
                                             binary);
  struct firec_diags diags = { 0 };
  firec_error_t err = NULL;
  struct firec_doc *doc = NULL;
  struct firec_model *m = NULL;
  if (firec_yaml_load_buffer (yaml, strlen (yaml), "vm.yaml", &doc, &diags, &err) == 0)
    {
      doc->base_dir = firec_xstrdup (bindir);
      if (firec_manifest_validate (doc, &diags, &err) != 0 || firec_resolve (doc, &m, &diags, &err) < 0)
        m = NULL;
    }
  firec_error_release (&err);
  firec_diags_release (&diags);
  firec_doc_free (doc);
  return m;
}

static void
test_binary_resolution (void)
{
  if (mkdtemp (bindir) == NULL)
    abort ();
  make_executable ("fc-bin", "#!/bin/sh\n");
  make_executable ("firecracker-v1.13.1", "#!/bin/sh\n");
  make_symlink ("fc-bin", "firecracker");
  make_symlink ("firecracker-v1.13.1", "fc-link");
  cleanup_free char *fc_bin = firec_xasprintf ("%s/fc-bin", bindir);
  cleanup_free char *fc_link = firec_xasprintf ("%s/fc-link", bindir);
  cleanup_free char *fc_real = firec_xasprintf ("%s/firecracker-v1.13.1", bindir);
  cleanup_free char *fc_symlink = firec_xasprintf ("%s/firecracker", bindir);

  /* A symlink named "firecracker" to fc-bin: the jailer sees fc-bin. */
  struct firec_model *m = model_with_binary (fc_symlink);
  tap_ok (m != NULL, "a manifest naming a symlinked binary resolves");
  if (m == NULL)
    return;
  TAP_STR_EQ (m->firecracker_binary.path, fc_bin, "the binary is the symlink's target");
  TAP_STR_EQ (m->firecracker_binary.written, fc_symlink, "and the name as written is kept for messages");
  TAP_STR_EQ (m->exec_name, "fc-bin", "the exec name is the target's file name");
  TAP_STR_EQ (m->jail_dir, "/srv/jailer/fc-bin/web-1", "so is the jail directory, as the jailer names it");
  struct firec_plan *plan = NULL;
  firec_error_t err = NULL;
  tap_ok (firec_plan_build (m, &plan, &err) == 0, "it plans");
  TAP_STR_EQ (plan ? plan->min_firecracker_version : NULL, "1.13",
              "the pre-1.13 name rule is checked on the target's name");
  const struct firec_step *spawn = NULL, *binaries = NULL;
  for (size_t i = 0; plan && i < plan->count; i++)
    if (plan->steps[i].kind == FIREC_STEP_SPAWN)
      spawn = &plan->steps[i];
    else if (plan->steps[i].kind == FIREC_STEP_PREFLIGHT_BINARIES)
      binaries = &plan->steps[i];
  struct firec_step_prose prose = { 0 };
  if (binaries)
    firec_step_prose (plan, binaries, &prose);
  tap_ok (prose.description && strstr (prose.description, "at least 1.13") && strstr (prose.description, fc_bin),
          "preflight.binaries checks the resolved file against the plan's real minimum (%s)",
          prose.description ? prose.description : "no step");
  firec_step_prose_release (&prose);
  tap_ok (spawn && spawn->min_version_reasons && strstr (spawn->min_version_reasons[0], fc_symlink)
              && strstr (spawn->min_version_reasons[0], "\"fc-bin\" lacks"),
          "the reason names the symlink and the file it resolves to");
  bool exec_file = false;
  for (size_t i = 1; spawn && spawn->argv[i]; i++)
    exec_file |= strcmp (spawn->argv[i - 1], "--exec-file") == 0 && strcmp (spawn->argv[i], fc_bin) == 0;
  tap_ok (exec_file, "the jailer's --exec-file is the resolved file (the argv is final)");
  firec_plan_free (plan);
  firec_error_release (&err);

  tap_ok (firec_binary_changed (&m->firecracker_binary, m->base_dir) == NULL, "unchanged: no difference");
  make_symlink ("firecracker-v1.13.1", "firecracker");
  cleanup_free char *retargeted = firec_binary_changed (&m->firecracker_binary, m->base_dir);
  tap_ok (retargeted && strstr (retargeted, "now resolves to") && strstr (retargeted, fc_real),
          "a retargeted symlink is a change (%s)", retargeted ? retargeted : "none");
  make_symlink ("fc-bin", "firecracker");
  unlink (fc_bin);
  make_executable ("fc-bin", "#!/bin/sh\nexit 0\n"); /* perhaps in the old inode */
  cleanup_free char *replaced = firec_binary_changed (&m->firecracker_binary, m->base_dir);
  tap_ok (replaced && strstr (replaced, "replaced"), "a new file at the same path is a change (%s)",
          replaced ? replaced : "none");
  firec_model_free (m);

  /* A symlink to a name with "firecracker": 1.5.1's rule holds, the jail follows the target. */
  m = model_with_binary (fc_link);
  TAP_STR_EQ (m ? m->jail_dir : NULL, "/srv/jailer/firecracker-v1.13.1/web-1",
              "a symlink without \"firecracker\" in its name to one with it: the jail is the target's");
  plan = NULL;
  if (m && firec_plan_build (m, &plan, &err) == 0)
    TAP_STR_EQ (plan->min_firecracker_version, "1.5.1", "and any version's jailer accepts it");
  else
    tap_ok (0, "and any version's jailer accepts it");
  firec_plan_free (plan);
  firec_model_free (m);

  /* A relative path resolves against the manifest's directory, a bare name in PATH. */
  m = model_with_binary ("./fc-link");
  TAP_STR_EQ (m ? m->firecracker_binary.path : NULL, fc_real, "a relative path resolves against the manifest");
  firec_model_free (m);
  cleanup_free char *old_path = firec_xstrdup (getenv ("PATH") ? getenv ("PATH") : "");
  setenv ("PATH", bindir, 1);
  m = model_with_binary ("fc-link");
  TAP_STR_EQ (m ? m->firecracker_binary.path : NULL, fc_real, "a bare name is looked up in PATH, then resolved");
  firec_model_free (m);
  m = model_with_binary ("no-such-firecracker");
  tap_ok (m && !m->firecracker_binary.found && strcmp (m->firecracker_binary.path, "no-such-firecracker") == 0
              && strcmp (m->exec_name, "no-such-firecracker") == 0,
          "a name not found stays as written (preflight refuses it)");
  firec_model_free (m);
  setenv ("PATH", old_path, 1);

  const char *names[] = { "fc-bin", "firecracker-v1.13.1", "firecracker", "fc-link" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (names); i++)
    {
      cleanup_free char *path = firec_xasprintf ("%s/%s", bindir, names[i]);
      unlink (path);
    }
  rmdir (bindir);
}

int
main (void)
{
  test_interpolation ();
  test_typed_interpolation ();
  test_model ();
  test_normalize ();
  test_binary_resolution ();
  return tap_done ();
}
