/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run stop / kill NAME|FILE: the stop policy, or SIGKILL at once. An
   attached VM is stopped through the firec-run that supervises it. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "supervise.h"
#include "model.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static int
parse_timeout (int c, const char *arg, void *data)
{
  if (c != 't')
    return -1;
  char *end;
  long seconds = strtol (arg, &end, 10);
  if (*end || seconds <= 0)
    return -1;
  *(long *) data = seconds * 1000;
  return 0;
}

static int
stop_or_kill (int argc, char **argv, bool force)
{
  /* Stop signals are read, not obeyed: ^C while the policy runs kills at
     once, while the lock is waited for gives up; the result is printed. */
  cleanup_close int signal_fd = firec_supervise_signal_fd ();
  long timeout_ms = 0;
  /* stop and kill wait 2 s by default, as they always did: a firec-run
     killed an instant ago may not have let go of it yet. */
  struct firec_vm_lock lock = { .held_fd = -1, .timeout_ms = 2000 };
  static const struct option options[] = { { "timeout", required_argument, NULL, 't' }, { NULL, 0, NULL, 0 } };
  struct cli_vm_command cmd = {
    .name = force ? "kill" : "stop",
    .usage = force ? "[--lock-timeout SECONDS] [--output text|json] NAME|FILE"
                   : "[--timeout SECONDS] [--lock-timeout SECONDS] [--output text|json] NAME|FILE",
    .help = force ? "Kills the VM's firecracker with SIGKILL now. Its state stays for `rm`\n"
                    "(an attached VM's firec-run removes everything itself).\n"
                    "JSON result: changed (false when it was not running), action kill or none."
                  : "Runs the VM's stop policy (spec.run.stop, by default SendCtrlAltDel, wait 10 s,\n"
                    "SIGKILL), within --timeout seconds at most. Its state stays for `rm` (an\n"
                    "attached VM's firec-run removes everything itself).\n"
                    "JSON result: changed (false when it was not running), action stop or none.",
    .option_help
    = force ? NULL : "  -t, --timeout SECONDS  the whole stop policy within SECONDS at most, then SIGKILL\n",
    .short_options = force ? NULL : "t:",
    .options = force ? NULL : options,
    .handle_option = parse_timeout,
    .data = &timeout_ms,
    .takes_lock = true,
    .lock_timeout_ms = &lock.timeout_ms,
  };
  enum firec_output output;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_vm_command_parse (&cmd, argc, argv, &output, &info, &model, NULL);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  cleanup_error firec_error_t err = NULL;
  bool changed = false;
  if (firec_vm_alive (&info) || info.holder || info.state == FIREC_VM_DAMAGED)
    {
      cli_result_action (force ? "kill" : "stop");
      rc = firec_vm_stop (&info, force, timeout_ms, signal_fd, &lock, &changed, &err) < 0 ? cli_report_error (&err)
                                                                                          : FIREC_EXIT_OK;
    }
  /* A stop that failed half way may have changed something: changed once
     the policy began (or the VM's run was asked to stop it). */
  cli_result_changed (changed);
  const char *comment = changed ? (force ? "killed" : "stopped") : "was not running";
  if (rc == FIREC_EXIT_OK)
    cli_result_string ("comment", comment);
  if (rc == FIREC_EXIT_OK && output != FIREC_OUTPUT_JSON)
    fprintf (stderr, "%s: %s %s\n", cli_program_name, info.name, changed ? comment : "was not running: nothing to do");
  firec_vm_info_release (&info);
  return rc;
}

int
cmd_stop (int argc, char **argv)
{
  return stop_or_kill (argc, argv, false);
}

int
cmd_kill (int argc, char **argv)
{
  return stop_or_kill (argc, argv, true);
}
