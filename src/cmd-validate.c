/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run validate: checks manifests without touching the host (no root, no
   /dev/kvm, no binaries), so it runs in pre-commit hooks and CI. */
#include "config.h"

#include "cli.h"
#include "manifest.h"
#include "model.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define MAX_ERRORS_SHOWN 50

static void
print_help (void)
{
  printf ("Usage: %s validate [--output text|json] [--base-dir DIR] FILE...\n\n"
          "Checks each manifest against the schema and Firecracker's rules and prints every\n"
          "problem as FILE:LINE:COLUMN: error: /json/pointer: message.\n"
          "FILE may be - for standard input; its relative paths then resolve against --base-dir.\n\n"
          "Options:\n"
          "  -o, --output FORMAT  text (default) or json: one result object with valid,\n"
          "                       error_count, warning_count and diagnostics\n"
          "      --base-dir DIR   directory that relative host paths of a stdin manifest resolve against\n"
          "  -h, --help           show this help\n\n"
          "Exit status: 0 when every manifest is valid, 2 otherwise.\n",
          cli_program_name);
}

int
cmd_validate (int argc, char **argv)
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
          return cli_usage_error ("validate", "--output takes text or json, not \"%s\"", optarg);
        break;
      case OPT_BASE_DIR:
        base_dir = optarg;
        break;
      case 'h':
        cli_result_silence ();
        print_help ();
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("validate", "unknown option");
      }
  if (optind == argc)
    return cli_usage_error ("validate", "no manifest given");

  struct firec_diags all = { 0 };
  bool invalid = false;
  for (int i = optind; i < argc; i++)
    {
      struct firec_diags diags = { 0 };
      cleanup_error firec_error_t err = NULL;
      cleanup_doc struct firec_doc *doc = NULL;
      long errors = firec_manifest_load (argv[i], strcmp (argv[i], "-") == 0 ? base_dir : NULL, &doc, &diags, &err);
      if (errors < 0 && diags.count == 0)
        {
          /* Not about the manifest's text: report it as a diagnostic of the file. */
          firec_diags_add (&diags, FIREC_SEV_ERROR, argv[i], 0, 0, "", "%s", err->message);
        }
      /* What only resolving can tell (a relative path in a stdin manifest without
         --base-dir) is part of validity too. */
      if (errors == 0)
        {
          struct firec_model *model = NULL;
          cleanup_error firec_error_t resolve_err = NULL;
          if (firec_resolve (doc, &model, &diags, &resolve_err) < 0)
            errors = (long) firec_diags_count (&diags, FIREC_SEV_ERROR);
          firec_model_free (model);
        }
      if (errors != 0)
        invalid = true;
      for (size_t d = 0; d < diags.count; d++)
        {
          struct firec_diag *x = &diags.items[d];
          firec_diags_add (&all, x->severity, x->file, x->line, x->column, x->path, "%s", x->message);
        }
      firec_diags_release (&diags);
    }

  size_t error_count = firec_diags_count (&all, FIREC_SEV_ERROR);
  size_t warning_count = firec_diags_count (&all, FIREC_SEV_WARNING);
  cli_result_field ("valid", cJSON_CreateBool (!invalid));
  cli_result_field ("error_count", cJSON_CreateNumber ((double) error_count));
  cli_result_field ("warning_count", cJSON_CreateNumber ((double) warning_count));
  cli_result_field ("diagnostics", firec_diags_to_json (&all));
  if (invalid)
    {
      cleanup_free char *message
          = firec_xasprintf ("%zu error%s in %d manifest%s", error_count, error_count == 1 ? "" : "s", argc - optind,
                             argc - optind == 1 ? "" : "s");
      cli_result_error_message (message);
      cli_result_diagnostics (firec_diags_to_json (&all));
    }
  if (output != FIREC_OUTPUT_JSON)
    {
      cleanup_free char *text = firec_diags_format_text (&all, MAX_ERRORS_SHOWN);
      fputs (text, stderr);
      if (!invalid)
        for (int i = optind; i < argc; i++)
          printf ("%s: valid\n", argv[i]);
    }
  firec_diags_release (&all);
  return invalid ? FIREC_EXIT_INVALID : FIREC_EXIT_OK;
}
