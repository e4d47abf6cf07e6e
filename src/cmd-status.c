/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run status NAME|FILE: what the state record and the live process say. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "remedy.h"
#include "util.h"

#include <stdio.h>
#include <time.h>

void
cli_print_info_line (const struct firec_vm_info *info)
{
  printf ("%-20s %-9s", info->name, firec_vm_state_name (info->state));
  const struct firec_record *r = info->record;
  if (firec_vm_alive (info))
    {
      long up = r && r->started_at > 0 ? (long) (time (NULL) - r->started_at) : 0;
      printf (" pid %-8ld up %ldh%02ldm%02lds", (long) info->vmm.pid, up / 3600, up / 60 % 60, up % 60);
    }
  if (r && r->firecracker_version)
    printf (" firecracker %s", r->firecracker_version);
  cleanup_free char *remedy = cli_remedy_text (info->remedy, info->name);
  printf (" (%s%s%s)\n", info->detail ? info->detail : "", remedy ? "; " : "", remedy ? remedy : "");
}

int
cmd_status (int argc, char **argv)
{
  static const struct cli_vm_command cmd = {
    .name = "status",
    .usage = "[--output text|json] NAME|FILE",
    .help = "Reports a VM's state from its record and the live process: running, paused,\n"
            "starting, exited, stale or absent; its pid, uptime, Firecracker version, the\n"
            "digest of its resolved manifest, and each network interface's TAP device and\n"
            "whether firec-run created it.\n\nExit status: 0 when it is running or paused, 1 otherwise (an\n"
            "answer, not an error: the JSON result's error stays null).",
  };
  enum firec_output output;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_vm_command_parse (&cmd, argc, argv, &output, &info, &model, NULL);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  cli_result_info (&info);
  cli_result_answer ();
  if (output != FIREC_OUTPUT_JSON)
    {
      cli_print_info_line (&info);
      if (info.record && info.record->digest)
        printf ("  digest %s\n  api socket %s\n", info.record->digest, info.record->api_socket);
      for (size_t i = 0; info.record && i < info.record->tap_count; i++)
        {
          const struct firec_record_tap *t = &info.record->taps[i];
          printf ("  %s on TAP %s%s%s (%s)\n", t->iface_id, t->name, t->netns ? " in " : "", t->netns ? t->netns : "",
                  t->owned ? "created by firec-run, removed with the VM" : "it existed before: used as it is, kept");
        }
    }
  rc = info.state == FIREC_VM_RUNNING || info.state == FIREC_VM_PAUSED ? FIREC_EXIT_OK : FIREC_EXIT_RUNTIME;
  firec_vm_info_release (&info);
  return rc;
}
