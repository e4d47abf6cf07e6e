/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run ps: every VM that has state on this host. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>

int
cmd_ps (int argc, char **argv)
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
          return cli_usage_error ("ps", "--output takes text or json, not \"%s\"", optarg);
        break;
      case 'h':
        cli_result_silence ();
        printf ("Usage: %s ps [--output text|json]\n\n"
                "Lists every VM with state on this host, stale ones included: one line each\n"
                "starting with its name, or one JSON result with vms: one object per VM, as\n"
                "status --output json prints it.\n\n"
                "Options:\n"
                "  -o, --output FORMAT  text (default) or json\n"
                "  -h, --help           show this help\n",
                cli_program_name);
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("ps", "unknown option");
      }
  cleanup_error firec_error_t err = NULL;
  char **names = NULL;
  size_t count = 0;
  if (firec_vm_list (&names, &count, &err) < 0)
    return cli_report_error (&err);
  cleanup_cjson cJSON *list = cJSON_CreateArray ();
  for (size_t i = 0; i < count; i++)
    {
      struct firec_vm_info info;
      cleanup_error firec_error_t vm_err = NULL;
      if (firec_vm_inspect (names[i], &info, &vm_err) == 0)
        {
          if (output == FIREC_OUTPUT_JSON)
            cJSON_AddItemToArray (list, cli_info_json (&info));
          else
            cli_print_info_line (&info);
        }
      firec_vm_info_release (&info);
      free (names[i]);
    }
  free (names);
  cli_result_field ("vms", steal_pointer (&list));
  return FIREC_EXIT_OK;
}
