/* SPDX-License-Identifier: Apache-2.0 */
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
  /* apply: the manifest differs in what only a restart can change, and
     --replace was not given (nothing was changed). */
  FIREC_EXIT_NEEDS_REPLACE = 6,
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
int cmd_diff (int argc, char **argv);

/* Helpers shared by the sub-commands. cli_parse_output also tells the result
   (below) the format. */
int cli_parse_output (const char *value, bool allow_yaml, enum firec_output *ret);
/* Prints the usage error to stderr, records it in the result, returns 2. */
int cli_usage_error (const char *command, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Prints "firec-run: <message>" to stderr, records it in the result and
   returns the exit code for the error's kind. */
int cli_report_error (firec_error_t *err);
/* Prints "firec-run COMMAND: <message>" to stderr, records it in the result
   and returns exit_code. */
int cli_fail (int exit_code, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Prints one JSON object on stdout, followed by a newline. */
void cli_print_json (const cJSON *object);

/* The result of the command (cli-result.c): one object on stdout with
   --output json, printed by main once the command returned, whatever the exit
   path. {format_version, command, changed, action, name, error: null |
   {exit_code, message, diagnostics}, ...the command's own members}. Its JSON
   Schema is schemas/firec-result.v1.schema.json. */
#define CLI_RESULT_FORMAT_VERSION 1
void cli_result_begin (const char *command);
/* --output json anywhere in argv: a usage error found before getopt reaches it
   still prints a result. */
void cli_result_scan_output (int argc, char **argv);
void cli_result_set_output (enum firec_output output);
bool cli_result_json (void);
/* --help printed: no result. */
void cli_result_silence (void);
void cli_result_name (const char *name);
void cli_result_changed (bool changed);
/* start, replace, update, resume, pause, stop, kill, remove, snapshot, flush;
   "none" unless set. */
void cli_result_action (const char *action);
/* The exit status is an answer (status: not running; diff: differs), not an
   error: error stays null. */
void cli_result_answer (void);
/* A member of the command's own; value is taken (NULL: null). */
void cli_result_field (const char *key, cJSON *value);
void cli_result_string (const char *key, const char *value);
/* The first error reported is the message; diagnostics are appended (taken). */
void cli_result_error_message (const char *message);
/* The first error's remedy (error.remedy). */
void cli_result_remedy (enum firec_remedy remedy, const char *arg);
void cli_result_diagnostics (cJSON *diagnostics);
/* Prints the result (with --output json) and returns exit_code. */
int cli_result_finish (int exit_code);

/* Loads, validates and resolves a manifest; prints its diagnostics to stderr.
   Returns 0, or the exit code to end with. */
struct firec_model;
int cli_load_model (const char *path, const char *base_dir, struct firec_model **ret);
/* The same, and lowers it into its plan. */
struct firec_plan;
int cli_load_plan (const char *path, const char *base_dir, struct firec_model **model, struct firec_plan **plan);

/* A VM named on the command line: a NAME, or a manifest FILE (validated; then
   *model is set and the caller frees it). Returns 0 or an exit code. The
   result names the VM. */
int cli_target (const char *arg, char **name, struct firec_model **model);

struct firec_vm_info;
/* {format_version, name, state, pid, uptime_s, firecracker_version, digest, mode,
   api_socket, detail} */
cJSON *cli_info_json (const struct firec_vm_info *info);
/* The same members (but format_version and name) into the result. */
void cli_result_info (const struct firec_vm_info *info);
/* The line `status` and `ps` print for a VM (cmd-status.c). */
void cli_print_info_line (const struct firec_vm_info *info);
/* The common shape of the lifecycle commands: [--output text|json] NAME|FILE.
   Parses options (extra ones through handle_option, which returns 0 when it
   took the option; with takes_lock, --lock-timeout too), resolves the target
   and inspects it. Returns 0, an exit code, or -1 after --help. */
struct cli_vm_command
{
  const char *name;
  const char *usage; /* after "firec-run NAME " */
  const char *help;
  const char *option_help;      /* its own options' lines for --help, before --output and --help */
  const char *short_options;    /* beyond "o:h" */
  const struct option *options; /* NULL-terminated, without output/help */
  int (*handle_option) (int c, const char *arg, void *data);
  void *data;
  int min_args, max_args; /* positional arguments after NAME|FILE */
  bool takes_lock;        /* accepts --lock-timeout SECONDS (into *lock_timeout_ms, which holds the default) */
  long *lock_timeout_ms;
};
int cli_vm_command_parse (const struct cli_vm_command *cmd, int argc, char **argv, enum firec_output *output,
                          struct firec_vm_info *info, struct firec_model **model, char ***rest);

/* True when argv[1] is -h or --help: a command with actions (snapshot create,
   balloon set, ...) then prints the list of its actions. */
bool cli_asks_help (int argc, char **argv);

/* --lock-timeout SECONDS: whole seconds, 0 or more, into milliseconds. */
int cli_parse_lock_timeout (const char *command, const char *arg, long *timeout_ms);
#define CLI_LOCK_TIMEOUT_HELP                                                                                          \
  "      --lock-timeout SECONDS\n"                                                                                     \
  "                         wait up to SECONDS for another firec-run holding this VM\n"                                \
  "                         (default 0: exit 4 at once)\n"

/* held_lock: the VM's lock when the caller holds it already (apply), or NULL. */
int cli_start_detached (const struct firec_plan *plan, bool quiet, long lock_timeout_ms, const int *held_lock,
                        int signal_fd, pid_t *pid, firec_error_t *err);

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
