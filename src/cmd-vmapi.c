/* SPDX-License-Identifier: Apache-2.0 */
/* The post-boot operations, each one Firecracker API call (or a short sequence)
   on a running VM: pause, resume, balloon, mmds, metrics. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one call does to the VM, for the result: its action (NULL: it only
   reads) and the member its answer's body goes into. */
struct call_kind
{
  const char *action;
  const char *answer_field;
  const char *done;
};

/* Parses the common options, checks the VM runs, makes one call and reports
   the answer's body (when there is one) or a short confirmation. */
static int
call_on_vm (const struct cli_vm_command *cmd, int argc, char **argv, const char *method, const char *path,
            const char *(*make_body) (char **rest, char **owned, int *rc), const struct call_kind *kind)
{
  enum firec_output output;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_model struct firec_model *model = NULL;
  char **rest = NULL;
  int rc = cli_vm_command_parse (cmd, argc, argv, &output, &info, &model, &rest);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  cleanup_free char *owned = NULL;
  const char *body = make_body ? make_body (rest, &owned, &rc) : NULL;
  if (rc == FIREC_EXIT_OK && !firec_vm_alive (&info))
    rc = cli_fail (FIREC_EXIT_RUNTIME, "%s is not running (%s)", info.name, firec_vm_state_name (info.state));
  if (rc == FIREC_EXIT_OK)
    {
      cleanup_error firec_error_t err = NULL;
      cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
      if (kind->action)
        cli_result_action (kind->action);
      if (firec_vm_api (&info, method, path, body, &resp, &err) < 0)
        rc = cli_report_error (&err);
      else
        {
          cli_result_changed (kind->action != NULL);
          if (resp.body[0] && kind->answer_field)
            cli_result_field (kind->answer_field, cJSON_Parse (resp.body));
          if (resp.body[0] && output != FIREC_OUTPUT_JSON)
            printf ("%s\n", resp.body);
          else if (output != FIREC_OUTPUT_JSON)
            fprintf (stderr, "%s: %s: %s\n", cli_program_name, info.name, kind->done);
        }
    }
  firec_vm_info_release (&info);
  return rc;
}

static const char *
paused_body (char **rest, char **owned, int *rc)
{
  (void) rest, (void) owned, (void) rc;
  return "{\"state\":\"Paused\"}";
}

int
cmd_pause (int argc, char **argv)
{
  static const struct cli_vm_command cmd
      = { .name = "pause", .usage = "NAME|FILE", .help = "Pauses the VM's vCPUs (PATCH /vm {\"state\":\"Paused\"})." };
  static const struct call_kind kind = { "pause", NULL, "paused" };
  return call_on_vm (&cmd, argc, argv, "PATCH", "/vm", paused_body, &kind);
}

static const char *
resumed_body (char **rest, char **owned, int *rc)
{
  (void) rest, (void) owned, (void) rc;
  return "{\"state\":\"Resumed\"}";
}

int
cmd_resume (int argc, char **argv)
{
  static const struct cli_vm_command cmd
      = { .name = "resume", .usage = "NAME|FILE", .help = "Resumes a paused VM (PATCH /vm {\"state\":\"Resumed\"})." };
  static const struct call_kind kind = { "resume", NULL, "resumed" };
  return call_on_vm (&cmd, argc, argv, "PATCH", "/vm", resumed_body, &kind);
}

static const char *
balloon_set_body (char **rest, char **owned, int *rc)
{
  char *end;
  errno = 0;
  unsigned long mib = strtoul (rest[0], &end, 10);
  if (errno || *end || rest[0][0] == '-' || mib > 4294967295UL)
    {
      *rc = cli_fail (FIREC_EXIT_INVALID, "MIB must be a whole number of MiB, not \"%s\"", rest[0]);
      return NULL;
    }
  *owned = firec_xasprintf ("{\"amount_mib\":%lu}", mib);
  return *owned;
}

int
cmd_balloon (int argc, char **argv)
{
  if (cli_asks_help (argc, argv))
    {
      cli_result_silence ();
      printf ("Usage: %s balloon set [OPTIONS] NAME|FILE MIB\n"
              "       %s balloon stats [OPTIONS] NAME|FILE\n\n"
              "Sets the balloon device's target size, or prints its statistics.\n"
              "`%s balloon set --help` lists the options of an action.\n",
              cli_program_name, cli_program_name, cli_program_name);
      return FIREC_EXIT_OK;
    }
  if (argc >= 2 && strcmp (argv[1], "set") == 0)
    {
      static const struct cli_vm_command cmd = { .name = "balloon set",
                                                 .usage = "NAME|FILE MIB",
                                                 .help = "Sets the balloon's target size (PATCH /balloon).",
                                                 .min_args = 1,
                                                 .max_args = 1 };
      static const struct call_kind kind = { "update", NULL, "balloon target set" };
      return call_on_vm (&cmd, argc - 1, argv + 1, "PATCH", "/balloon", balloon_set_body, &kind);
    }
  if (argc >= 2 && strcmp (argv[1], "stats") == 0)
    {
      static const struct cli_vm_command cmd = { .name = "balloon stats",
                                                 .usage = "NAME|FILE",
                                                 .help = "Prints the balloon statistics (GET /balloon/statistics)." };
      static const struct call_kind kind = { NULL, "statistics", "" };
      return call_on_vm (&cmd, argc - 1, argv + 1, "GET", "/balloon/statistics", NULL, &kind);
    }
  return cli_usage_error ("balloon", "usage: %s balloon set NAME|FILE MIB | balloon stats NAME|FILE", cli_program_name);
}

static const char *
file_body (char **rest, char **owned, int *rc)
{
  size_t len;
  mode_t type;
  /* A regular file only, read to its end at once: a FIFO or a device could
     block forever or never end. */
  if (firec_read_regular_file (rest[0], 16u << 20, owned, &len, &type) < 0)
    {
      if (type)
        *rc = cli_fail (FIREC_EXIT_INVALID, "%s is %s, not a regular file: nothing was read from it", rest[0],
                        firec_file_type_name (type));
      else
        *rc = cli_fail (FIREC_EXIT_INVALID, "cannot read %s: %s", rest[0],
                        errno == EFBIG ? "larger than 16 MiB" : strerror (errno));
      return NULL;
    }
  cleanup_cjson cJSON *json = cJSON_ParseWithLength (*owned, len);
  if (!cJSON_IsObject (json))
    {
      *rc = cli_fail (FIREC_EXIT_INVALID, "%s must hold a JSON object", rest[0]);
      return NULL;
    }
  return *owned;
}

int
cmd_mmds (int argc, char **argv)
{
  if (cli_asks_help (argc, argv))
    {
      cli_result_silence ();
      printf ("Usage: %s mmds put [OPTIONS] NAME|FILE DATA.json\n"
              "       %s mmds patch [OPTIONS] NAME|FILE PATCH.json\n\n"
              "Replaces the MMDS contents, or merges a JSON merge patch into them.\n"
              "`%s mmds put --help` lists the options of an action.\n",
              cli_program_name, cli_program_name, cli_program_name);
      return FIREC_EXIT_OK;
    }
  bool put = argc >= 2 && strcmp (argv[1], "put") == 0;
  bool patch = argc >= 2 && strcmp (argv[1], "patch") == 0;
  if (!put && !patch)
    return cli_usage_error ("mmds", "usage: %s mmds put|patch NAME|FILE DATA.json", cli_program_name);
  static const struct cli_vm_command put_cmd = { .name = "mmds put",
                                                 .usage = "NAME|FILE DATA.json",
                                                 .help = "Replaces the MMDS contents (PUT /mmds).",
                                                 .min_args = 1,
                                                 .max_args = 1 };
  static const struct cli_vm_command patch_cmd = { .name = "mmds patch",
                                                   .usage = "NAME|FILE PATCH.json",
                                                   .help = "Merges a JSON merge patch into MMDS (PATCH /mmds).",
                                                   .min_args = 1,
                                                   .max_args = 1 };
  static const struct call_kind put_kind = { "update", NULL, "MMDS replaced" };
  static const struct call_kind patch_kind = { "update", NULL, "MMDS patched" };
  return call_on_vm (put ? &put_cmd : &patch_cmd, argc - 1, argv + 1, put ? "PUT" : "PATCH", "/mmds", file_body,
                     put ? &put_kind : &patch_kind);
}

static const char *
flush_body (char **rest, char **owned, int *rc)
{
  (void) rest, (void) owned, (void) rc;
  return "{\"action_type\":\"FlushMetrics\"}";
}

int
cmd_metrics (int argc, char **argv)
{
  if (cli_asks_help (argc, argv))
    {
      cli_result_silence ();
      printf ("Usage: %s metrics flush [OPTIONS] NAME|FILE\n\n"
              "Makes Firecracker write its metrics to spec.metrics.metrics_path now.\n"
              "`%s metrics flush --help` lists its options.\n",
              cli_program_name, cli_program_name);
      return FIREC_EXIT_OK;
    }
  if (argc < 2 || strcmp (argv[1], "flush") != 0)
    return cli_usage_error ("metrics", "usage: %s metrics flush NAME|FILE", cli_program_name);
  static const struct cli_vm_command cmd = { .name = "metrics flush",
                                             .usage = "NAME|FILE",
                                             .help = "Makes Firecracker write its metrics now (FlushMetrics)." };
  static const struct call_kind kind = { "flush", NULL, "metrics flushed" };
  return call_on_vm (&cmd, argc - 1, argv + 1, "PUT", "/actions", flush_body, &kind);
}
