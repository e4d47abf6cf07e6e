/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run: run one Firecracker microVM from a YAML manifest. */
#include "config.h"

#include "cli.h"
#include "remedy.h"
#include "curl-dl.h"
#include "model.h"
#include "plan.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_program_name = "firec-run";

static const struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} commands[] = {
  { "run", cmd_run, "start the microVM a manifest describes (the default command)" },
  { "validate", cmd_validate, "check manifests against the schema and Firecracker's rules" },
  { "plan", cmd_plan, "print the ordered steps a run would take" },
  { "render", cmd_render, "print the resolved manifest or its Firecracker --config-file" },
  { "import", cmd_import, "wrap a Firecracker --config-file document into a manifest" },
  { "apply", cmd_apply, "make a VM match a manifest: start, update in place, resume or replace" },
  { "diff", cmd_diff, "how a running VM differs from a manifest (exit 0 same, 1 differs)" },
  { "status", cmd_status, "the state of one VM" },
  { "ps", cmd_ps, "every VM on this host" },
  { "logs", cmd_logs, "a VM's serial console as it was kept (-f: follow it)" },
  { "attach", cmd_attach, "a VM's serial console on this terminal" },
  { "stop", cmd_stop, "run a VM's stop policy" },
  { "kill", cmd_kill, "SIGKILL a VM" },
  { "rm", cmd_rm, "stop if needed, remove the jail, cgroups and state" },
  { "pause", cmd_pause, "pause a running VM" },
  { "resume", cmd_resume, "resume a paused VM" },
  { "snapshot", cmd_snapshot, "snapshot create: write a running VM's state and memory" },
  { "balloon", cmd_balloon, "balloon set MIB | balloon stats" },
  { "mmds", cmd_mmds, "mmds put|patch: replace or merge MMDS contents" },
  { "metrics", cmd_metrics, "metrics flush" },
  { "update", cmd_update, "change a running VM's drive or interface" },
  { "schema", cmd_schema, "print the manifest JSON Schema" },
};

static void
print_help (FILE *ret)
{
  fprintf (ret,
           "Usage: %s [run] FILE\n       %s COMMAND [OPTIONS] [ARGS]\n\n"
           "Runs one Firecracker microVM from a YAML manifest.\n\nCommands:\n",
           cli_program_name, cli_program_name);
  for (size_t i = 0; i < FIREC_N_ELEMENTS (commands); i++)
    fprintf (ret, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (ret, "\nGlobal options:\n"
                "  -h, --help     show this help (COMMAND --help for a command's options)\n"
                "  -V, --version  print the version\n"
                "\nExit codes: 0 ok, 1 runtime failure rolled back, 2 invalid manifest or usage,\n"
                "3 host precondition failed, 4 locked by another run, 5 rollback incomplete,\n"
                "6 apply: the change needs --replace. diff: 0 as wanted, 1 differs, 2 or more\n"
                "trouble. With --output json every command prints one result object on stdout.\n"
                "See firec-run(1).\n");
}

int
cli_parse_output (const char *value, bool allow_yaml, enum firec_output *ret)
{
  if (strcmp (value, "text") == 0)
    *ret = FIREC_OUTPUT_TEXT;
  else if (strcmp (value, "json") == 0)
    *ret = FIREC_OUTPUT_JSON;
  else if (allow_yaml && strcmp (value, "yaml") == 0)
    *ret = FIREC_OUTPUT_YAML;
  else
    return -1;
  cli_result_set_output (*ret);
  return 0;
}

int
cli_usage_error (const char *command, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *message = firec_xvasprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "%s %s: %s\nTry '%s %s --help'.\n", cli_program_name, command, message, cli_program_name, command);
  cli_result_error_message (message);
  return FIREC_EXIT_INVALID;
}

int cli_error_copy_fd = -1;

int
cli_report_error (firec_error_t *err)
{
  if (err == NULL || *err == NULL)
    return FIREC_EXIT_RUNTIME;
  fprintf (stderr, "%s: %s\n", cli_program_name, (*err)->message);
  if (cli_error_copy_fd >= 0)
    dprintf (cli_error_copy_fd, "%s: %s\n", cli_program_name, (*err)->message);
  cli_result_error_message ((*err)->message);
  cleanup_free char *remedy = cli_remedy_text ((*err)->remedy, (*err)->remedy_arg);
  if (remedy)
    {
      fprintf (stderr, "%s: %s\n", cli_program_name, remedy);
      if (cli_error_copy_fd >= 0)
        dprintf (cli_error_copy_fd, "%s: %s\n", cli_program_name, remedy);
      cli_result_remedy ((*err)->remedy, (*err)->remedy_arg);
    }
  int code = (int) (*err)->kind;
  firec_error_release (err);
  return code;
}

void
cli_print_json (const cJSON *object)
{
  cleanup_free char *text = cJSON_Print (object);
  fputs (text, stdout);
  fputc ('\n', stdout);
}

/* "vm.yaml:3:5: error: /spec/...: ... (and 2 more errors)": the result's
   message for an invalid manifest; every diagnostic is in the result too. */
static char *
invalid_message (const struct firec_diags *diags)
{
  size_t errors = firec_diags_count (diags, FIREC_SEV_ERROR);
  for (size_t i = 0; i < diags->count; i++)
    if (diags->items[i].severity == FIREC_SEV_ERROR)
      {
        cleanup_free char *first = firec_diag_format (&diags->items[i]);
        if (errors == 1)
          return steal_pointer (&first);
        return firec_xasprintf ("%s (and %zu more error%s)", first, errors - 1, errors == 2 ? "" : "s");
      }
  return firec_xstrdup ("invalid manifest");
}

int
cli_load_model (const char *path, const char *base_dir, struct firec_model **ret)
{
  struct firec_diags diags = { 0 };
  cleanup_error firec_error_t err = NULL;
  int rc = firec_model_load (path, base_dir, ret, &diags, &err);
  cleanup_free char *text = firec_diags_format_text (&diags, 50);
  fputs (text, stderr);
  if (cli_error_copy_fd >= 0)
    dprintf (cli_error_copy_fd, "%s", text);
  bool had_errors = firec_diags_count (&diags, FIREC_SEV_ERROR) > 0;
  if (had_errors)
    {
      cleanup_free char *message = invalid_message (&diags);
      cli_result_error_message (message);
    }
  if (diags.count > 0)
    cli_result_diagnostics (firec_diags_to_json (&diags));
  firec_diags_release (&diags);
  if (rc == 0)
    {
      cli_result_name ((*ret)->name);
      return FIREC_EXIT_OK;
    }
  if (had_errors)
    return FIREC_EXIT_INVALID;
  return cli_report_error (&err);
}

int
cli_load_plan (const char *path, const char *base_dir, struct firec_model **model, struct firec_plan **plan)
{
  int rc = cli_load_model (path, base_dir, model);
  if (rc != FIREC_EXIT_OK)
    return rc;
  cleanup_error firec_error_t err = NULL;
  if (firec_plan_build (*model, plan, &err) < 0)
    return cli_report_error (&err);
  return FIREC_EXIT_OK;
}

/* A command that started loading libcurl on a helper thread (run, apply) lets
   it finish before exit () runs the libraries' destructors. */
static int
settled (int rc)
{
  firec_curl_settle ();
  return rc;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      print_help (stderr);
      return FIREC_EXIT_INVALID;
    }
  const char *command = argv[1];
  cli_result_scan_output (argc, argv);
  if (strcmp (command, "-h") == 0 || strcmp (command, "--help") == 0 || strcmp (command, "help") == 0)
    {
      print_help (stdout);
      return FIREC_EXIT_OK;
    }
  if (strcmp (command, "-V") == 0 || strcmp (command, "--version") == 0)
    {
      printf ("firec-run %s\n", PACKAGE_VERSION);
      return FIREC_EXIT_OK;
    }
  for (size_t i = 0; i < FIREC_N_ELEMENTS (commands); i++)
    if (strcmp (command, commands[i].name) == 0)
      {
        cli_result_begin (commands[i].name);
        return cli_result_finish (settled (commands[i].run (argc - 1, argv + 1)));
      }
  /* `firec-run vm.yaml` is `firec-run run vm.yaml`. */
  cli_result_begin ("run");
  if (command[0] != '-' && (strchr (command, '.') || strchr (command, '/')))
    return cli_result_finish (settled (cmd_run (argc, argv)));
  fprintf (stderr, "%s: unknown command \"%s\"\nTry '%s --help'.\n", cli_program_name, command, cli_program_name);
  cleanup_free char *message = firec_xasprintf ("unknown command \"%s\"", command);
  cli_result_begin (command);
  cli_result_error_message (message);
  return cli_result_finish (FIREC_EXIT_INVALID);
}
