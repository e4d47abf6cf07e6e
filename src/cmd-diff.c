/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run diff FILE: how the VM FILE describes differs from FILE, field by
   field, and how `apply` would reconcile each difference (drift.h). Changes
   nothing. Exit status as diff(1) and `kubectl diff`: 0 as wanted, 1 differs,
   2 or more trouble; a failure `run` reports as 1 is 3 here. */
#include "config.h"

#include "cli.h"
#include "drift.h"
#include "lifecycle.h"
#include "model.h"
#include "plan.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>

static void
print_help (void)
{
  printf ("Usage: %s diff [--output text|json] FILE\n\n"
          "Compares FILE (resolved as `run` would) with the VM it describes as it runs: the\n"
          "manifest it was started or last updated with, and what Firecracker says now\n"
          "(GET / for paused, GET /vm/config for drives, network interfaces and balloon,\n"
          "GET /mmds), so that changes made outside apply show too. Each difference has its\n"
          "field's path, the wanted and the actual value, and how `apply` would reconcile\n"
          "it: live (in place, same VMM), restart (apply --replace) or state (start,\n"
          "resume). Changes nothing.\n\n"
          "Options:\n"
          "  -o, --output FORMAT  text (default) or json: one result object with differs,\n"
          "                       state, diff: [{path, wanted, actual, reconcile, source,\n"
          "                       note}], and action: what apply would do (firec-run(1))\n"
          "  -h, --help           show this help\n\n"
          "Exit status (as diff(1), unlike the other commands): 0 as wanted, 1 differs,\n"
          "2 invalid manifest or usage, 3 cannot compare (the VM's record is damaged, its\n"
          "API does not answer...), 4 a firec-run is starting it.\n",
          cli_program_name);
}

/* Trouble is 2 or more: a runtime failure, 1 elsewhere, would read as
   "differs". */
static int
trouble (int rc)
{
  return rc == FIREC_EXIT_RUNTIME ? FIREC_EXIT_PRECONDITION : rc;
}

int
cmd_diff (int argc, char **argv)
{
  static const struct option options[] = {
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  enum firec_output output = FIREC_OUTPUT_TEXT;
  int c;
  while ((c = getopt_long (argc, argv, "o:h", options, NULL)) != -1)
    switch (c)
      {
      case 'o':
        if (cli_parse_output (optarg, false, &output) < 0)
          return cli_usage_error ("diff", "--output takes text or json, not \"%s\"", optarg);
        break;
      case 'h':
        cli_result_silence ();
        print_help ();
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("diff", "unknown option \"%s\"", argv[optind - 1]);
      }
  if (optind + 1 != argc)
    return cli_usage_error ("diff", "expected exactly one manifest");
  cleanup_model struct firec_model *model = NULL;
  cleanup_plan struct firec_plan *plan = NULL;
  int rc = cli_load_plan (argv[optind], NULL, &model, &plan);
  if (rc != FIREC_EXIT_OK)
    return trouble (rc);
  cleanup_error firec_error_t err = NULL;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  struct firec_drift drift = { 0 };
  if (firec_vm_inspect (model->name, &info, &err) < 0 || firec_drift_compute (plan, &info, &drift, &err) < 0)
    rc = trouble (cli_report_error (&err));
  else
    {
      bool differs = drift.action != FIREC_DRIFT_NONE;
      cli_result_action (firec_drift_action_name (drift.action));
      cli_result_field ("differs", cJSON_CreateBool (differs));
      cli_result_string ("state", firec_vm_state_name (info.state));
      cli_result_field ("diff", firec_drift_to_json (&drift));
      cli_result_answer ();
      if (output != FIREC_OUTPUT_JSON && differs)
        {
          cleanup_free char *text = firec_drift_to_text (&drift);
          printf ("%s (%s): apply would %s\n%s", model->name, firec_vm_state_name (info.state),
                  firec_drift_action_name (drift.action), text);
        }
      rc = differs ? FIREC_EXIT_RUNTIME : FIREC_EXIT_OK;
    }
  firec_drift_release (&drift);
  firec_vm_info_release (&info);
  return rc;
}
