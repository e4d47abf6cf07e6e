/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run render: the resolved manifest (defaults, ${VAR}, absolute paths,
   derived names), or the equivalent Firecracker --config-file. */
#include "config.h"

#include "cli.h"
#include "model.h"
#include "plan.h"
#include "util.h"
#include "yaml-emit.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int
cmd_render (int argc, char **argv)
{
  enum
  {
    OPT_BASE_DIR = 256,
    OPT_FIRECRACKER_CONFIG,
  };
  static const struct option options[] = {
    { "output", required_argument, NULL, 'o' },
    { "base-dir", required_argument, NULL, OPT_BASE_DIR },
    { "firecracker-config", no_argument, NULL, OPT_FIRECRACKER_CONFIG },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  enum firec_output output = FIREC_OUTPUT_YAML;
  const char *base_dir = NULL;
  bool firecracker_config = false;
  int c;
  while ((c = getopt_long (argc, argv, "o:h", options, NULL)) != -1)
    switch (c)
      {
      case 'o':
        if (cli_parse_output (optarg, true, &output) < 0 || output == FIREC_OUTPUT_TEXT)
          return cli_usage_error ("render", "--output takes yaml or json, not \"%s\"", optarg);
        break;
      case OPT_BASE_DIR:
        base_dir = optarg;
        break;
      case OPT_FIRECRACKER_CONFIG:
        firecracker_config = true;
        break;
      case 'h':
        cli_result_silence ();
        printf ("Usage: %s render [--output yaml|json] [--base-dir DIR] [--firecracker-config] FILE\n\n"
                "Prints the resolved manifest: defaults applied, ${VAR} expanded, host paths\n"
                "absolute, derived names under x-firec-derived. It validates and plans exactly\n"
                "like FILE. With --firecracker-config, prints the equivalent Firecracker\n"
                "--config-file JSON instead (paths as Firecracker sees them).\n\n"
                "Options:\n"
                "  -o, --output FORMAT   yaml (default) or json (when it fails: a result object\n"
                "                        with the error)\n"
                "      --base-dir DIR    where relative host paths of a stdin manifest resolve\n"
                "      --firecracker-config\n"
                "                        print the equivalent Firecracker --config-file instead\n"
                "  -h, --help            show this help\n",
                cli_program_name);
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("render", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage_error ("render", "expected exactly one manifest");
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_load_model (argv[optind], base_dir, &model);
  if (rc != FIREC_EXIT_OK)
    return rc;
  cleanup_error firec_error_t err = NULL;
  if (firecracker_config)
    {
      if (model->snapshot)
        return cli_fail (FIREC_EXIT_INVALID, "%s loads a snapshot, which a Firecracker --config-file cannot express",
                         argv[optind]);
      cleanup_plan struct firec_plan *plan = NULL;
      if (firec_plan_build (model, &plan, &err) < 0)
        return cli_report_error (&err);
      cleanup_cjson cJSON *config = firec_plan_firecracker_config (plan);
      const cJSON *spec = cJSON_GetObjectItemCaseSensitive (model->manifest, "spec");
      static const char *const no_config_key[] = { "serial", "mmds" };
      for (size_t i = 0; i < FIREC_N_ELEMENTS (no_config_key); i++)
        if (cJSON_GetObjectItemCaseSensitive (spec, no_config_key[i]) != NULL)
          fprintf (stderr, "%s render: note: spec.%s has no --config-file key and is left out%s\n", cli_program_name,
                   no_config_key[i],
                   strcmp (no_config_key[i], "mmds") == 0 ? " (pass the data with firecracker --metadata)" : "");
      cli_print_json (config);
      cli_result_silence ();
      return FIREC_EXIT_OK;
    }
  cleanup_cjson cJSON *manifest = firec_model_to_manifest (model);
  /* The manifest is the output, never wrapped in a result: render's output
     validates as a manifest. */
  cli_result_silence ();
  if (output == FIREC_OUTPUT_JSON)
    {
      cli_print_json (manifest);
      return FIREC_EXIT_OK;
    }
  cleanup_free char *yaml = NULL;
  if (firec_yaml_emit (manifest, "Rendered by firec-run render: every default, ${VAR} and path resolved.", &yaml, &err)
      < 0)
    return cli_report_error (&err);
  fputs (yaml, stdout);
  return FIREC_EXIT_OK;
}
