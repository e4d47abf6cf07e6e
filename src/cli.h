/* The command-line side: main dispatches to one function per sub-command. Only
   this side prints or exits; the library returns errors. */
#ifndef FIREC_CLI_H
#define FIREC_CLI_H

#include <stdbool.h>
#include <cjson/cJSON.h>

#include "error.h"

/* Stable exit codes (documented in firec-run(1)). */
enum firec_exit
{
  FIREC_EXIT_OK = 0,
  FIREC_EXIT_RUNTIME = 1,
  FIREC_EXIT_INVALID = 2,
  FIREC_EXIT_PRECONDITION = 3,
  FIREC_EXIT_LOCKED = 4,
  FIREC_EXIT_LEFTOVERS = 5,
};

enum firec_output
{
  FIREC_OUTPUT_TEXT,
  FIREC_OUTPUT_JSON,
  FIREC_OUTPUT_YAML,
};

int cmd_run (int argc, char **argv);
int cmd_validate (int argc, char **argv);
int cmd_schema (int argc, char **argv);
int cmd_plan (int argc, char **argv);
int cmd_render (int argc, char **argv);
int cmd_import (int argc, char **argv);

/* Helpers shared by the sub-commands. */
int cli_parse_output (const char *value, bool allow_yaml, enum firec_output *out);
int cli_usage_error (const char *command, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Prints "firec-run: <message>" to stderr and returns the exit code for the error's kind. */
int cli_report_error (firec_error_t *err);
/* Prints one JSON object on stdout, followed by a newline. */
void cli_print_json (const cJSON *object);

/* Loads, validates and resolves a manifest; prints its diagnostics to stderr.
   Returns 0, or the exit code to end with. */
struct firec_model;
int cli_load_model (const char *path, const char *base_dir, struct firec_model **out);

extern const char *cli_program_name;

#endif
