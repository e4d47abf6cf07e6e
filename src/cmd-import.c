/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run import: wraps a Firecracker --config-file document into a manifest
   that validates and renders back to the same Firecracker configuration. */
#include "config.h"

#include "cli.h"
#include "manifest.h"
#include "model.h"
#include "util.h"
#include "yaml-emit.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>

/* The --config-file keys (Firecracker's VmmConfig); each becomes the spec section
   of the same name. */
static const char *const config_keys[] = {
  "boot-source", "drives",  "machine-config", "cpu-config", "network-interfaces", "vsock", "balloon", "entropy",
  "logger",      "metrics", "mmds-config",    "pmem",       "memory-hotplug",
};

static char *
name_from_path (const char *path)
{
  cleanup_free char *copy = firec_xstrdup (path);
  char *base = basename (copy);
  char *dot = strrchr (base, '.');
  if (dot && dot != base)
    *dot = '\0';
  /* A VM name is letters, digits and '-', and starts with no '-' (it is the
     jailer's --id): "_web 1.json" becomes web-1. */
  struct firec_buf buf = { 0 };
  for (const char *p = base; *p && buf.len < 64; p++)
    if (isalnum ((unsigned char) *p) || buf.len > 0)
      firec_buf_append (&buf, isalnum ((unsigned char) *p) ? p : "-", 1);
  char *name = firec_buf_steal (&buf);
  if (name[0] == '\0')
    {
      free (name);
      name = firec_xstrdup ("vm");
    }
  return name;
}

int
cmd_import (int argc, char **argv)
{
  static const struct option options[] = {
    { "name", required_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *name = NULL;
  int c;
  while ((c = getopt_long (argc, argv, "n:h", options, NULL)) != -1)
    switch (c)
      {
      case 'n':
        name = optarg;
        break;
      case 'h':
        cli_result_silence ();
        printf ("Usage: %s import [--name NAME] FC.json\n\n"
                "Wraps a Firecracker --config-file document into a manifest (YAML on stdout).\n"
                "Paths are kept as written and the jailer is off (jailer: {enabled: false}), so the\n"
                "manifest renders back to the same configuration; turn the jailer on to jail it.\n"
                "NAME defaults to the file name.\n\n"
                "Options:\n"
                "  -n, --name NAME  metadata.name of the manifest\n"
                "  -h, --help       show this help\n",
                cli_program_name);
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("import", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage_error ("import", "expected exactly one Firecracker config file");
  const char *path = argv[optind];
  cleanup_free char *text = NULL;
  size_t len;
  int rc = strcmp (path, "-") == 0 ? firec_read_fd (0, 16u << 20, &text, &len)
                                   : firec_read_file (path, 16u << 20, &text, &len);
  if (rc < 0)
    {
      fprintf (stderr, "%s import: cannot read %s: %s\n", cli_program_name, path, strerror (errno));
      return FIREC_EXIT_INVALID;
    }
  const char *end = NULL;
  cleanup_cjson cJSON *config = cJSON_ParseWithLengthOpts (text, len, &end, 0);
  if (!cJSON_IsObject (config))
    {
      fprintf (stderr, "%s import: %s is not a JSON object (near byte %td)\n", cli_program_name, path,
               end ? end - text : 0);
      return FIREC_EXIT_INVALID;
    }

  cleanup_cjson cJSON *manifest = cJSON_CreateObject ();
  cJSON_AddStringToObject (manifest, "apiVersion", "firec/v1alpha1");
  cJSON_AddStringToObject (manifest, "kind", "MicroVM");
  cleanup_free char *derived_name = name ? NULL : name_from_path (path);
  cJSON *metadata = cJSON_AddObjectToObject (manifest, "metadata");
  cJSON_AddStringToObject (metadata, "name", name ? name : derived_name);
  cJSON *spec = cJSON_AddObjectToObject (manifest, "spec");
  bool unknown = false;
  for (const cJSON *k = config->child; k; k = k->next)
    {
      bool known = false;
      for (size_t i = 0; i < FIREC_N_ELEMENTS (config_keys); i++)
        known = known || strcmp (k->string, config_keys[i]) == 0;
      if (!known)
        {
          /* Firecracker ignores unknown top-level keys; a typo would go unnoticed. */
          fprintf (stderr, "%s import: %s: unknown --config-file key \"%s\"\n", cli_program_name, path, k->string);
          unknown = true;
        }
    }
  if (unknown)
    return FIREC_EXIT_INVALID;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (config_keys); i++)
    {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive (config, config_keys[i]);
      /* An empty list is Firecracker's way of saying "none" (it requires drives). */
      if (v == NULL || (cJSON_IsArray (v) && v->child == NULL))
        continue;
      cJSON_AddItemToObject (spec, config_keys[i], cJSON_Duplicate (v, 1));
    }
  if (cJSON_GetObjectItemCaseSensitive (cJSON_GetObjectItemCaseSensitive (spec, "vsock"), "uds_path"))
    fprintf (stderr,
             "%s import: note: vsock.uds_path is a path in the VM's root; without the jailer firec-run creates it "
             "under the VM's private run directory (see render's x-firec-derived.vsock_socket)\n",
             cli_program_name);
  cJSON *jailer = cJSON_AddObjectToObject (spec, "jailer");
  cJSON_AddBoolToObject (jailer, "enabled", 0);

  /* The result must validate: check it before printing anything. */
  struct firec_doc doc = { .filename = (char *) path, .root = manifest };
  struct firec_diags diags = { 0 };
  cleanup_error firec_error_t err = NULL;
  long errors = firec_manifest_validate (&doc, &diags, &err);
  if (errors != 0)
    {
      if (errors < 0)
        return cli_report_error (&err);
      for (size_t i = 0; i < diags.count; i++)
        if (diags.items[i].severity == FIREC_SEV_ERROR)
          fprintf (stderr, "%s: error: %s: %s\n", path, diags.items[i].path, diags.items[i].message);
      firec_diags_release (&diags);
      return FIREC_EXIT_INVALID;
    }
  firec_diags_release (&diags);
  /* Firecracker's strings hold no ${VAR}: a $ in them is a $ the manifest must
     keep (validation above judged the values themselves). */
  firec_escape_dollars (spec);
  cleanup_free char *header
      = firec_xasprintf ("yaml-language-server: $schema=https://firec.invalid/schemas/firec-vm.v1alpha1.schema.json\n"
                         "Imported by firec-run import from %s.",
                         path);
  cleanup_free char *yaml = NULL;
  if (firec_yaml_emit (manifest, header, &yaml, &err) < 0)
    return cli_report_error (&err);
  fputs (yaml, stdout);
  return FIREC_EXIT_OK;
}
