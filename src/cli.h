/* The command-line side: main dispatches to one function per sub-command. Only
   this side prints or exits; the library returns errors. */
#ifndef FIREC_CLI_H
#define FIREC_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <sys/types.h>
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
int cmd_status (int argc, char **argv);
int cmd_ps (int argc, char **argv);
int cmd_stop (int argc, char **argv);
int cmd_kill (int argc, char **argv);
int cmd_rm (int argc, char **argv);
int cmd_pause (int argc, char **argv);
int cmd_resume (int argc, char **argv);
int cmd_snapshot (int argc, char **argv);
int cmd_balloon (int argc, char **argv);
int cmd_mmds (int argc, char **argv);
int cmd_metrics (int argc, char **argv);
int cmd_update (int argc, char **argv);
int cmd_apply (int argc, char **argv);
int cmd_logs (int argc, char **argv);
int cmd_attach (int argc, char **argv);

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
/* The same, and lowers it into its plan. */
struct firec_plan;
int cli_load_plan (const char *path, const char *base_dir, struct firec_model **model, struct firec_plan **plan);

/* A VM named on the command line: a NAME, or a manifest FILE (validated; then
   *model is set and the caller frees it). Returns 0 or an exit code. */
int cli_target (const char *arg, char **name, struct firec_model **model);

struct firec_vm_info;
/* {format_version, name, state, pid, uptime_s, firecracker_version, digest, mode,
   api_socket, detail} */
cJSON *cli_info_json (const struct firec_vm_info *info);
/* The common shape of the lifecycle commands: [--output text|json] NAME|FILE.
   Parses options (extra ones through handle_option, which returns 0 when it
   took the option), resolves the target and inspects it. */
struct cli_vm_command
{
  const char *name;
  const char *usage;     /* after "firec-run NAME " */
  const char *help;
  const char *option_help;   /* its own options' lines for --help, before --output and --help */
  const char *short_options; /* beyond "o:h" */
  const struct option *options; /* NULL-terminated, without output/help */
  int (*handle_option) (int c, const char *arg, void *data);
  void *data;
  int min_args, max_args; /* positional arguments after NAME|FILE */
};
int cli_vm_command_parse (const struct cli_vm_command *cmd, int argc, char **argv, enum firec_output *output,
                          struct firec_vm_info *info, struct firec_model **model, char ***rest);

/* True when argv[1] is -h or --help: a command with actions (snapshot create,
   balloon set, ...) then prints the list of its actions. */
bool cli_asks_help (int argc, char **argv);

int cli_start_detached (const struct firec_plan *plan, bool quiet, long lock_timeout_ms, int signal_fd, pid_t *pid,
                        firec_error_t *err);

/* firec-supervise beside this binary (a build tree), else where the installed
   layout puts it relative to this binary (bindir to pkglibexecdir), so that an
   installation moved with `make install prefix=` or DESTDIR finds its own
   helper and never another installation's. NULL, after a warning on stderr
   that ends with without (what the caller does without it), when there is
   none. */
char *cli_supervisor_path (const char *without);

extern const char *cli_program_name;
/* When >= 0, errors are also written here (the run inside a tmux session
   reports to the firec-run that started the session). */
extern int cli_error_copy_fd;

#endif
