/* firec-run rm [-f] NAME|FILE: stop if needed, then remove the jail, cgroups and
   state; also what a crashed or killed run left. Nothing there: exit 0. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "util.h"

#include <stdio.h>
#include <unistd.h>

static int
parse_force (int c, const char *arg, void *data)
{
  (void) arg;
  if (c != 'f')
    return -1;
  *(bool *) data = true;
  return 0;
}

int
cmd_rm (int argc, char **argv)
{
  bool force = false;
  static const struct option options[] = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  struct cli_vm_command cmd = {
    .name = "rm",
    .usage = "[-f] [--output text|json] NAME|FILE",
    .help = "Stops the VM if it runs (its stop policy; -f: SIGKILL), then removes its jail\n"
            "directory, cgroups and state, also when a crashed run left them. Given a FILE,\n"
            "the jail directory the manifest implies is removed even without a record.\n"
            "Nothing to remove is success (exit 0).",
    .option_help = "  -f, --force            SIGKILL the VM instead of running its stop policy\n",
    .short_options = "f",
    .options = options,
    .handle_option = parse_force,
    .data = &force,
  };
  enum firec_output output;
  struct firec_vm_info info = { .pidfd = -1 };
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_vm_command_parse (&cmd, argc, argv, &output, &info, &model, NULL);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  const char *extra = model ? (model->jail_dir ? model->jail_dir : model->vm_root) : NULL;
  bool something = info.state != FIREC_VM_ABSENT || (extra && access (extra, F_OK) == 0);
  cleanup_error firec_error_t err = NULL;
  if (something && firec_vm_remove (&info, force, extra, &err) < 0)
    rc = cli_report_error (&err);
  if (rc == FIREC_EXIT_OK)
    {
      if (output == FIREC_OUTPUT_JSON)
        {
          cleanup_cjson cJSON *o = cJSON_CreateObject ();
          cJSON_AddNumberToObject (o, "format_version", 1);
          cJSON_AddStringToObject (o, "name", info.name);
          cJSON_AddBoolToObject (o, "changed", something);
          cJSON_AddStringToObject (o, "comment", something ? "removed" : "nothing to remove");
          cli_print_json (o);
        }
      else
        fprintf (stderr, "%s: %s: %s\n", cli_program_name, info.name,
                 something ? "removed" : "nothing to remove");
    }
  firec_vm_info_release (&info);
  return rc;
}
