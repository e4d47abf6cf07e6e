/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run plan: the ordered steps that `run` would take, without touching the host. */
#include "config.h"

#include "cli.h"
#include "model.h"
#include "plan.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>

int
cmd_plan (int argc, char **argv)
{
  enum
  {
    OPT_BASE_DIR = 256
  };
  static const struct option options[] = {
    { "output", required_argument, NULL, 'o' },
    { "base-dir", required_argument, NULL, OPT_BASE_DIR },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  enum firec_output output = FIREC_OUTPUT_TEXT;
  const char *base_dir = NULL;
  int c;
  while ((c = getopt_long (argc, argv, "o:h", options, NULL)) != -1)
    switch (c)
      {
      case 'o':
        if (cli_parse_output (optarg, false, &output) < 0)
          return cli_usage_error ("plan", "--output takes text or json, not \"%s\"", optarg);
        break;
      case OPT_BASE_DIR:
        base_dir = optarg;
        break;
      case 'h':
        cli_result_silence ();
        printf ("Usage: %s plan [--output text|json] [--base-dir DIR] FILE\n\n"
                "Prints the ordered steps that `%s run FILE` would take: what each touches,\n"
                "its undo, the jailer argv and every API request with its body. Reads the\n"
                "manifest and the data files it names (mmds data_file, cpu-config file) only.\n\n"
                "Options:\n"
                "  -o, --output FORMAT  text (default) or json: the steps as one object (when\n"
                "                       it fails: a result object with the error)\n"
                "      --base-dir DIR   where relative host paths of a stdin manifest resolve\n"
                "  -h, --help           show this help\n",
                cli_program_name, cli_program_name);
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("plan", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage_error ("plan", "expected exactly one manifest");
  cleanup_model struct firec_model *model = NULL;
  cleanup_plan struct firec_plan *plan = NULL;
  int rc = cli_load_plan (argv[optind], base_dir, &model, &plan);
  if (rc != FIREC_EXIT_OK)
    return rc;
  if (output == FIREC_OUTPUT_JSON)
    {
      /* The plan is a document of its own (its format_version is the plan's):
         printed instead of a result. */
      cleanup_cjson cJSON *json = firec_plan_to_json (plan);
      cli_print_json (json);
      cli_result_silence ();
    }
  else
    {
      cleanup_free char *text = firec_plan_to_text (plan);
      fputs (text, stdout);
    }
  return FIREC_EXIT_OK;
}
