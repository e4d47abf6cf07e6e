/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run schema: prints the embedded manifest schema (for editors and CI). */
#include "config.h"

#include "cli.h"
#include "schema.h"

#include <getopt.h>
#include <stdio.h>

int
cmd_schema (int argc, char **argv)
{
  static const struct option options[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
  int c;
  while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1)
    switch (c)
      {
      case 'h':
        cli_result_silence ();
        printf ("Usage: %s schema\n\nPrints the JSON Schema (2020-12) of firec-run manifests.\n\n"
                "Options:\n"
                "  -h, --help  show this help\n",
                cli_program_name);
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("schema", "unknown option");
      }
  if (optind != argc)
    return cli_usage_error ("schema", "takes no arguments");
  size_t len;
  const char *text = firec_schema_text (&len);
  if (fwrite (text, 1, len, stdout) != len || fflush (stdout) != 0)
    return FIREC_EXIT_RUNTIME;
  return FIREC_EXIT_OK;
}
