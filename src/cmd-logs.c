/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run logs [-f] [--tail N] NAME|FILE: the VM's serial console as its
   console keeper logged it (console.h), also after the VM ended. */
#include "config.h"

#include "cli.h"
#include "console.h"
#include "lifecycle.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void
print_help (void)
{
  printf ("Usage: %s logs [-f] [--tail N] NAME|FILE\n\n"
          "Prints the VM's serial console as its console keeper kept it: what the guest\n"
          "wrote, and what Firecracker and the jailer said on stdout and stderr (Firecracker's\n"
          "log too, unless spec.logger sends it to a file). The keeper keeps the last %d KiB\n"
          "at least, %d KiB at most (STATE_DIR/NAME/%s and %s), as they came;\n"
          "they stay after the VM ends, until `%s rm NAME`.\n\n"
          "Options:\n"
          "  -f, --follow      then print what comes, until the VM ends\n"
          "  -n, --tail N      only the last N lines\n"
          "  -h, --help        show this help\n\n"
          "Exit status: 0, or 1 when there is no such VM or no log.\n",
          cli_program_name, FIREC_CONSOLE_LOG_MAX / 1024, 2 * FIREC_CONSOLE_LOG_MAX / 1024, FIREC_CONSOLE_LOG,
          FIREC_CONSOLE_LOG_OLD, cli_program_name);
}

/* The keeper, while it runs (pid and start time from the record). */
static void
open_keeper (const struct firec_vm_info *info, struct firec_pidref *keeper)
{
  const struct firec_record *r = info->record;
  cleanup_error firec_error_t ignored = NULL;
  if (r && r->console.dir && r->console.keeper.pid > 0)
    firec_pidref_open (r->console.keeper.pid, r->console.keeper.start_time, keeper, &ignored);
}

static int
print_log (struct firec_vm_info *info, long tail, bool follow)
{
  cleanup_close int dir_fd = -1;
  cleanup_error firec_error_t err = NULL;
  if (info->state == FIREC_VM_ABSENT)
    {
      fprintf (stderr, "%s: no VM named %s\n", cli_program_name, info->name);
      return FIREC_EXIT_RUNTIME;
    }
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, &err) < 0)
    return cli_report_error (&err);
  if (dir_fd < 0)
    {
      fprintf (stderr, "%s: %s has no console log yet (%s)\n", cli_program_name, info->name, info->detail);
      return FIREC_EXIT_RUNTIME;
    }
  struct firec_pidref keeper = FIREC_PIDREF_NULL;
  open_keeper (info, &keeper);
  /* Everything Firecracker wrote until now, logged before it is read. */
  if (firec_pidref_is_set (&keeper))
    firec_console_sync (dir_fd, 1000);
  else if (follow && firec_vm_alive (info))
    fprintf (stderr, "%s: %s's console keeper is not running: nothing more will be logged\n", cli_program_name,
             info->name);
  int rc = firec_console_copy_log (dir_fd, info->state_dir, tail, follow ? &keeper : NULL, STDOUT_FILENO, &err);
  firec_pidref_done (&keeper);
  return rc < 0 ? cli_report_error (&err) : FIREC_EXIT_OK;
}

int
cmd_logs (int argc, char **argv)
{
  static const struct option options[] = {
    { "follow", no_argument, NULL, 'f' },
    { "tail", required_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  bool follow = false;
  long tail = -1;
  int c;
  while ((c = getopt_long (argc, argv, "fn:h", options, NULL)) != -1)
    switch (c)
      {
      case 'f':
        follow = true;
        break;
      case 'n':
        {
          char *end;
          errno = 0;
          tail = strtol (optarg, &end, 10);
          if (*end || end == optarg || tail < 0 || errno)
            return cli_usage_error ("logs", "--tail takes a number of lines, not \"%s\"", optarg);
          break;
        }
      case 'h':
        print_help ();
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("logs", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage_error ("logs", "usage: %s logs [-f] [--tail N] NAME|FILE", cli_program_name);
  cleanup_free char *name = NULL;
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_target (argv[optind], &name, &model);
  if (rc != FIREC_EXIT_OK)
    return rc;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_error firec_error_t err = NULL;
  if (firec_vm_inspect (name, &info, &err) < 0)
    return cli_report_error (&err);
  rc = print_log (&info, tail, follow);
  firec_vm_info_release (&info);
  return rc;
}
