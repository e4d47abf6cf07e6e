/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run rm [-f] NAME|FILE: stop if needed, then remove the jail, cgroups and
   state; also what a crashed or killed run left. Nothing there: exit 0. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "supervise.h"
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
  /* Stop signals are read, not obeyed (a dead rm would leave a teardown half
     done and no result): one while the lock is waited for gives up, one while
     the stop policy runs kills at once; a teardown once begun finishes. */
  cleanup_close int signal_fd = firec_supervise_signal_fd ();
  bool force = false;
  /* rm waits 5 s by default, as it always did: it often runs right after a
     firec-run was killed, which may not have let go of it yet. */
  struct firec_vm_lock lock = { .held_fd = -1, .timeout_ms = 5000 };
  static const struct option options[] = { { "force", no_argument, NULL, 'f' }, { NULL, 0, NULL, 0 } };
  struct cli_vm_command cmd = {
    .name = "rm",
    .usage = "[-f] [--lock-timeout SECONDS] [--output text|json] NAME|FILE",
    .help = "Stops the VM if it runs (its stop policy; -f: SIGKILL), then removes its jail\n"
            "directory, cgroups, output files a failed start created, and state, also when\n"
            "firec-run died at any point of a start or the record is damaged: every process\n"
            "the host shows in the VM's jail or cgroups is killed. Given a FILE, the jail the\n"
            "manifest implies is removed even without a record; given a NAME without a record,\n"
            "a jail of that name under /srv/jailer is.\n"
            "Only what the VM's runs made is removed, and only processes tied to the VM killed.\n"
            "Exit status: 0 when nothing is left (also when there was nothing), 5 with the\n"
            "list of what could not be removed, or may be the VM's but cannot be told without\n"
            "its record (the record then stays for another try). Another firec-run holding\n"
            "the VM is signalled only when it is the VM's own run; any other is waited for.\n"
            "JSON result: changed (false when there was nothing to remove), action remove or none.",
    .option_help = "  -f, --force            SIGKILL the VM instead of running its stop policy\n",
    .short_options = "f",
    .options = options,
    .handle_option = parse_force,
    .data = &force,
    .takes_lock = true,
    .lock_timeout_ms = &lock.timeout_ms,
  };
  enum firec_output output;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_vm_command_parse (&cmd, argc, argv, &output, &info, &model, NULL);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  bool something = false;
  cleanup_error firec_error_t err = NULL;
  if (firec_vm_remove (&info, force, model, &lock, signal_fd, &something, &err) < 0)
    rc = cli_report_error (&err);
  cli_result_changed (something);
  cli_result_action (something ? "remove" : "none");
  if (rc == FIREC_EXIT_OK)
    {
      cli_result_string ("comment", something ? "removed" : "nothing to remove");
      if (output != FIREC_OUTPUT_JSON)
        fprintf (stderr, "%s: %s: %s\n", cli_program_name, info.name, something ? "removed" : "nothing to remove");
    }
  firec_vm_info_release (&info);
  return rc;
}
