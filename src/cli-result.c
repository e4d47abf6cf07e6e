/* SPDX-License-Identifier: Apache-2.0 */
/* The one result of a command. Every command fills it (name, changed, action,
   its own fields) and the error paths (cli_report_error, cli_usage_error,
   cli_fail, cli_load_model's diagnostics) feed it the error; main prints it
   once, after the command returned, so that with --output json standard output
   carries exactly one object on every exit path. Its JSON Schema is
   schemas/firec-result.v1.schema.json. */
#include "config.h"

#include "cli.h"
#include "remedy.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

static struct
{
  const char *command;
  enum firec_output output;
  bool silent; /* --help: what was printed is not a result */
  bool answer; /* a non-zero exit status that is an answer (status, diff), not an error */
  bool changed;
  char *name;
  char *action;
  char *message; /* the first error reported */
  cJSON *remedy; /* its remedy, or NULL */
  cJSON *diagnostics;
  cJSON *fields; /* the command's own members, in order */
} result = { .command = "", .output = FIREC_OUTPUT_TEXT };

void
cli_result_begin (const char *command)
{
  result.command = command;
}

void
cli_result_set_output (enum firec_output output)
{
  result.output = output;
}

bool
cli_result_json (void)
{
  return result.output == FIREC_OUTPUT_JSON;
}

void
cli_result_silence (void)
{
  result.silent = true;
}

void
cli_result_name (const char *name)
{
  free (result.name);
  result.name = name ? firec_xstrdup (name) : NULL;
}

void
cli_result_changed (bool changed)
{
  result.changed = changed;
}

void
cli_result_action (const char *action)
{
  free (result.action);
  result.action = firec_xstrdup (action);
}

void
cli_result_answer (void)
{
  result.answer = true;
}

void
cli_result_field (const char *key, cJSON *value)
{
  if (result.fields == NULL)
    result.fields = cJSON_CreateObject ();
  cJSON_DeleteItemFromObjectCaseSensitive (result.fields, key);
  cJSON_AddItemToObject (result.fields, key, value ? value : cJSON_CreateNull ());
}

void
cli_result_string (const char *key, const char *value)
{
  cli_result_field (key, value ? cJSON_CreateString (value) : NULL);
}

void
cli_result_error_message (const char *message)
{
  if (result.message == NULL)
    result.message = firec_xstrdup (message);
}

void
cli_result_remedy (enum firec_remedy remedy, const char *arg)
{
  if (result.remedy == NULL)
    result.remedy = cli_remedy_json (remedy, arg);
}

void
cli_result_diagnostics (cJSON *diagnostics)
{
  if (result.diagnostics == NULL)
    {
      result.diagnostics = diagnostics;
      return;
    }
  cJSON *d;
  while ((d = cJSON_DetachItemFromArray (diagnostics, 0)) != NULL)
    cJSON_AddItemToArray (result.diagnostics, d);
  cJSON_Delete (diagnostics);
}

static cJSON *
error_json (int exit_code)
{
  cJSON *e = cJSON_CreateObject ();
  cJSON_AddNumberToObject (e, "exit_code", exit_code);
  if (result.message)
    cJSON_AddStringToObject (e, "message", result.message);
  else
    {
      cleanup_free char *fallback = firec_xasprintf ("%s failed (exit status %d)", result.command, exit_code);
      cJSON_AddStringToObject (e, "message", fallback);
    }
  cJSON_AddItemToObject (e, "diagnostics",
                         result.diagnostics ? steal_pointer (&result.diagnostics) : cJSON_CreateArray ());
  cJSON_AddItemToObject (e, "remedy", result.remedy ? steal_pointer (&result.remedy) : cJSON_CreateNull ());
  return e;
}

int
cli_result_finish (int exit_code)
{
  if (result.output == FIREC_OUTPUT_JSON && !result.silent)
    {
      cleanup_cjson cJSON *o = cJSON_CreateObject ();
      cJSON_AddNumberToObject (o, "format_version", CLI_RESULT_FORMAT_VERSION);
      cJSON_AddStringToObject (o, "command", result.command);
      /* A command that failed before it acted changed nothing. */
      cJSON_AddBoolToObject (o, "changed", result.changed);
      cJSON_AddStringToObject (o, "action", result.action ? result.action : "none");
      if (result.name)
        cJSON_AddStringToObject (o, "name", result.name);
      else
        cJSON_AddNullToObject (o, "name");
      if (exit_code != FIREC_EXIT_OK && !result.answer)
        cJSON_AddItemToObject (o, "error", error_json (exit_code));
      else
        cJSON_AddNullToObject (o, "error");
      for (cJSON *f = result.fields ? result.fields->child : NULL; f; f = f->next)
        if (cJSON_GetObjectItemCaseSensitive (o, f->string) == NULL)
          cJSON_AddItemToObject (o, f->string, cJSON_Duplicate (f, 1));
      cli_print_json (o);
    }
  fflush (stdout);
  free (result.name);
  free (result.action);
  free (result.message);
  cJSON_Delete (result.diagnostics);
  cJSON_Delete (result.remedy);
  cJSON_Delete (result.fields);
  result.name = result.action = result.message = NULL;
  result.diagnostics = result.remedy = result.fields = NULL;
  return exit_code;
}

/* Whether argv asks for --output json anywhere before "--", as getopt would
   read it: so that a usage error found before --output is parsed still ends
   with a result. */
static bool
asks_json (int argc, char **argv)
{
  for (int i = 1; i < argc && strcmp (argv[i], "--") != 0; i++)
    {
      const char *a = argv[i];
      const char *next = i + 1 < argc ? argv[i + 1] : "";
      if (strcmp (a, "--output=json") == 0 || strcmp (a, "-ojson") == 0)
        return true;
      if ((strcmp (a, "--output") == 0 || strcmp (a, "-o") == 0) && strcmp (next, "json") == 0)
        return true;
    }
  return false;
}

void
cli_result_scan_output (int argc, char **argv)
{
  if (asks_json (argc, argv))
    result.output = FIREC_OUTPUT_JSON;
}

int
cli_fail (int exit_code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *message = firec_xvasprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "%s %s: %s\n", cli_program_name, result.command, message);
  if (cli_error_copy_fd >= 0)
    dprintf (cli_error_copy_fd, "%s %s: %s\n", cli_program_name, result.command, message);
  cli_result_error_message (message);
  return exit_code;
}
