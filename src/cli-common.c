/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the sub-commands that act on one VM. */
#include "config.h"

#include "cli.h"
#include "remedy.h"
#include "lifecycle.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static bool
looks_like_file (const char *arg)
{
  struct stat st;
  if (strchr (arg, '/') || strcmp (arg, "-") == 0)
    return true;
  const char *dot = strrchr (arg, '.');
  if (dot && (strcmp (dot, ".yaml") == 0 || strcmp (dot, ".yml") == 0 || strcmp (dot, ".json") == 0))
    return true;
  return stat (arg, &st) == 0 && S_ISREG (st.st_mode);
}

int
cli_target (const char *arg, char **name, struct firec_model **model)
{
  *model = NULL;
  if (looks_like_file (arg))
    {
      int rc = cli_load_model (arg, NULL, model);
      if (rc != FIREC_EXIT_OK)
        return rc;
      *name = firec_xstrdup ((*model)->name);
      return FIREC_EXIT_OK;
    }
  regex_t re;
  regcomp (&re, "^[A-Za-z0-9-]{1,64}$", REG_EXTENDED | REG_NOSUB);
  int bad = regexec (&re, arg, 0, NULL, 0);
  regfree (&re);
  if (bad)
    return cli_fail (FIREC_EXIT_INVALID,
                     "\"%s\" is neither a VM name (1 to 64 letters, digits or '-') nor a manifest file", arg);
  *name = firec_xstrdup (arg);
  cli_result_name (*name);
  return FIREC_EXIT_OK;
}

int
cli_parse_lock_timeout (const char *command, const char *arg, long *timeout_ms)
{
  char *end;
  errno = 0;
  long seconds = strtol (arg, &end, 10);
  if (errno || end == arg || *end || seconds < 0 || seconds > FIREC_DURATION_MAX_MS / 1000)
    return cli_usage_error (command, "--lock-timeout takes whole seconds, not \"%s\"", arg);
  *timeout_ms = seconds * 1000;
  return FIREC_EXIT_OK;
}

cJSON *
cli_info_json (const struct firec_vm_info *info)
{
  cJSON *o = cJSON_CreateObject ();
  cJSON_AddNumberToObject (o, "format_version", 1);
  cJSON_AddStringToObject (o, "name", info->name);
  cJSON_AddStringToObject (o, "state", firec_vm_state_name (info->state));
  const struct firec_record *r = info->record;
  if (firec_vm_alive (info))
    cJSON_AddNumberToObject (o, "pid", info->vmm.pid);
  else
    cJSON_AddNullToObject (o, "pid");
  if (firec_vm_alive (info) && r && r->started_at > 0)
    cJSON_AddNumberToObject (o, "uptime_s", (double) (time (NULL) - r->started_at));
  else
    cJSON_AddNullToObject (o, "uptime_s");
  const char *fields[][2] = {
    { "firecracker_version", r ? r->firecracker_version : NULL },
    { "digest", r ? r->digest : NULL },
    { "mode", r ? firec_run_mode_name (r->mode) : NULL },
    { "api_socket", r ? r->api_socket : NULL },
    { "manifest", r ? r->manifest : NULL },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (fields); i++)
    if (fields[i][1])
      cJSON_AddStringToObject (o, fields[i][0], fields[i][1]);
    else
      cJSON_AddNullToObject (o, fields[i][0]);
  cJSON *ifaces = cJSON_AddArrayToObject (o, "interfaces");
  for (size_t i = 0; r && i < r->tap_count; i++)
    {
      cJSON *iface = cJSON_CreateObject ();
      cJSON_AddStringToObject (iface, "iface_id", r->taps[i].iface_id);
      cJSON_AddStringToObject (iface, "host_dev_name", r->taps[i].name);
      if (r->taps[i].netns)
        cJSON_AddStringToObject (iface, "netns", r->taps[i].netns);
      else
        cJSON_AddNullToObject (iface, "netns");
      cJSON_AddBoolToObject (iface, "owned", r->taps[i].owned);
      cJSON_AddItemToArray (ifaces, iface);
    }
  if (info->holder)
    cJSON_AddNumberToObject (o, "firec_pid", info->holder);
  cJSON_AddStringToObject (o, "detail", info->detail ? info->detail : "");
  cJSON *remedy = cli_remedy_json (info->remedy, info->name);
  cJSON_AddItemToObject (o, "remedy", remedy ? remedy : cJSON_CreateNull ());
  return o;
}

void
cli_result_info (const struct firec_vm_info *info)
{
  cleanup_cjson cJSON *o = cli_info_json (info);
  for (cJSON *m = o->child; m; m = m->next)
    if (strcmp (m->string, "format_version") != 0 && strcmp (m->string, "name") != 0)
      cli_result_field (m->string, cJSON_Duplicate (m, 1));
}

bool
cli_asks_help (int argc, char **argv)
{
  return argc >= 2 && (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0);
}

int
cli_vm_command_parse (const struct cli_vm_command *cmd, int argc, char **argv, enum firec_output *output,
                      struct firec_vm_info *info, struct firec_model **model, char ***rest)
{
  enum
  {
    OPT_LOCK_TIMEOUT = 0x4c54, /* no short option has this value */
  };
  struct option options[32];
  size_t n = 0;
  for (const struct option *o = cmd->options; o && o->name && n < 28; o++)
    options[n++] = *o;
  if (cmd->takes_lock)
    options[n++] = (struct option){ "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT };
  options[n++] = (struct option){ "output", required_argument, NULL, 'o' };
  options[n++] = (struct option){ "help", no_argument, NULL, 'h' };
  options[n] = (struct option){ NULL, 0, NULL, 0 };
  cleanup_free char *short_options = firec_xasprintf ("o:h%s", cmd->short_options ? cmd->short_options : "");
  *output = FIREC_OUTPUT_TEXT;
  int c;
  while ((c = getopt_long (argc, argv, short_options, options, NULL)) != -1)
    switch (c)
      {
      case 'o':
        if (cli_parse_output (optarg, false, output) < 0)
          return cli_usage_error (cmd->name, "--output takes text or json, not \"%s\"", optarg);
        break;
      case 'h':
        printf ("Usage: %s %s %s\n\n%s\n\nOptions:\n%s", cli_program_name, cmd->name, cmd->usage, cmd->help,
                cmd->option_help ? cmd->option_help : "");
        if (cmd->takes_lock)
          printf ("      --lock-timeout SECONDS\n"
                  "                         wait up to SECONDS for another firec-run holding this VM,\n"
                  "                         then exit 4 (default %ld)\n",
                  *cmd->lock_timeout_ms / 1000);
        printf ("  -o, --output FORMAT    text or json (one result object, see firec-run(1))\n"
                "  -h, --help             show this help\n");
        cli_result_silence ();
        return -1;
      case OPT_LOCK_TIMEOUT:
        {
          int rc = cli_parse_lock_timeout (cmd->name, optarg, cmd->lock_timeout_ms);
          if (rc != FIREC_EXIT_OK)
            return rc;
          break;
        }
      default:
        if (cmd->handle_option && cmd->handle_option (c, optarg, cmd->data) == 0)
          break;
        return cli_usage_error (cmd->name, "unknown option \"%s\"", argv[optind - 1]);
      }
  int positional = argc - optind - 1;
  if (optind >= argc || positional < cmd->min_args || positional > cmd->max_args)
    return cli_usage_error (cmd->name, "usage: %s %s %s", cli_program_name, cmd->name, cmd->usage);
  cleanup_free char *name = NULL;
  int rc = cli_target (argv[optind], &name, model);
  if (rc != FIREC_EXIT_OK)
    return rc;
  cleanup_error firec_error_t err = NULL;
  if (firec_vm_inspect (name, info, &err) < 0)
    return cli_report_error (&err);
  if (rest)
    *rest = argv + optind + 1;
  return FIREC_EXIT_OK;
}

char *
cli_supervisor_path (const char *without)
{
  char self[PATH_MAX];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n < 0)
    {
      fprintf (stderr, "%s: warning: cannot read /proc/self/exe (%m): %s\n", cli_program_name, without);
      return NULL;
    }
  self[n] = '\0';
  *strrchr (self, '/') = '\0';
  char *beside = firec_xasprintf ("%s/firec-supervise", self);
  if (access (beside, X_OK) == 0)
    return beside;
  free (beside);
  char *installed = firec_xasprintf ("%s/%s/firec-supervise", self, FIREC_SUPERVISE_RELDIR);
  if (access (installed, X_OK) == 0)
    return installed;
  fprintf (stderr, "%s: warning: no firec-supervise in %s: %s\n", cli_program_name, installed, without);
  free (installed);
  return NULL;
}
