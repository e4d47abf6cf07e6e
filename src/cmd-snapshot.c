/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run snapshot create NAME|FILE --snapshot PATH --mem PATH [--diff]
   [--keep-paused] [--force]: pause, create, resume; the files land at the host
   paths (the host work is snapshot.c's). */
#include "config.h"

#include "cli.h"
#include "diag.h"
#include "lifecycle.h"
#include "model.h"
#include "snapshot.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct snapshot_opts
{
  const char *snapshot;
  const char *mem;
  bool diff;
  bool keep_paused;
  bool force;
};

static int
parse_snapshot_option (int c, const char *arg, void *data)
{
  struct snapshot_opts *o = data;
  switch (c)
    {
    case 's':
      o->snapshot = arg;
      return 0;
    case 'm':
      o->mem = arg;
      return 0;
    case 'D':
      o->diff = true;
      return 0;
    case 'k':
      o->keep_paused = true;
      return 0;
    case 'f':
      o->force = true;
      return 0;
    default:
      return -1;
    }
}

/* The host files the VM uses, from the resolved manifest its run recorded (or
   the one given, if that cannot be read): a snapshot never replaces them. */
static char **
vm_inputs (const struct firec_vm_info *info, const struct firec_model *given, size_t *count)
{
  cleanup_free char *path = firec_xasprintf ("%s/manifest.json", info->state_dir);
  struct firec_diags diags = { 0 };
  cleanup_error firec_error_t err = NULL;
  cleanup_model struct firec_model *recorded = NULL;
  if (firec_model_load (path, NULL, &recorded, &diags, &err) < 0)
    recorded = NULL;
  firec_diags_release (&diags);
  const struct firec_model *m = recorded ? recorded : given;
  *count = m ? m->file_count : 0;
  char **inputs = firec_xcalloc (*count + 1, sizeof *inputs);
  for (size_t i = 0; i < *count; i++)
    inputs[i] = firec_xstrdup (m->files[i].host_path);
  return inputs;
}

static void
print_help (void)
{
  printf ("Usage: %s snapshot create [OPTIONS] NAME|FILE --snapshot PATH --mem PATH\n\n"
          "Writes a running VM's state and memory to host files; a manifest whose\n"
          "spec.snapshot names them starts from them. `%s snapshot create --help`\n"
          "lists its options.\n",
          cli_program_name, cli_program_name);
}

int
cmd_snapshot (int argc, char **argv)
{
  if (cli_asks_help (argc, argv))
    {
      cli_result_silence ();
      print_help ();
      return FIREC_EXIT_OK;
    }
  if (argc < 2 || strcmp (argv[1], "create") != 0)
    return cli_usage_error ("snapshot",
                            "usage: %s snapshot create NAME|FILE --snapshot PATH --mem PATH [--diff] "
                            "[--keep-paused] [--force]",
                            cli_program_name);
  struct snapshot_opts o = { 0 };
  static const struct option options[] = {
    { "snapshot", required_argument, NULL, 's' }, { "mem", required_argument, NULL, 'm' },
    { "diff", no_argument, NULL, 'D' },           { "keep-paused", no_argument, NULL, 'k' },
    { "force", no_argument, NULL, 'f' },          { NULL, 0, NULL, 0 },
  };
  struct cli_vm_command cmd = {
    .name = "snapshot create",
    .usage = "NAME|FILE --snapshot PATH --mem PATH [--diff] [--keep-paused] [--force]",
    .help = "Pauses the VM, has Firecracker write its state and memory, moves both files to\n"
            "the host paths given (owned by the caller, mode 0600), and resumes the VM\n"
            "(unless --keep-paused). --diff writes a diff snapshot (Firecracker 1.5.1 needs\n"
            "machine-config.track_dirty_pages). A manifest whose spec.snapshot names these\n"
            "files starts from them.\n"
            "\n"
            "A snapshot never overwrites data: the destination directories are checked before\n"
            "the VM is paused, an existing file at either path is refused (exit 3), and\n"
            "--force replaces it by renaming the new file over it, never by writing into it\n"
            "(other hard links keep the old content); a file the VM uses is never replaced.\n"
            "A failed snapshot leaves nothing at the paths and resumes the VM.",
    .option_help = "      --snapshot PATH    where the VM state file goes (required)\n"
                   "      --mem PATH         where the guest memory file goes (required)\n"
                   "      --diff             a diff snapshot: only the pages dirtied since the last one\n"
                   "      --keep-paused      leave the VM paused afterwards\n"
                   "      --force            replace existing files at the paths (by rename)\n",
    .options = options,
    .handle_option = parse_snapshot_option,
    .data = &o,
  };
  enum firec_output output;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_vm_command_parse (&cmd, argc - 1, argv + 1, &output, &info, &model, NULL);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  cleanup_error firec_error_t err = NULL;
  if (o.snapshot == NULL || o.mem == NULL)
    rc = cli_usage_error ("snapshot create", "--snapshot and --mem are required");
  else if (!firec_vm_alive (&info))
    rc = cli_fail (FIREC_EXIT_RUNTIME, "%s is not running (%s)", info.name, firec_vm_state_name (info.state));
  if (rc != FIREC_EXIT_OK)
    {
      firec_vm_info_release (&info);
      return rc;
    }
  bool jailed = info.record->jailer;
  size_t input_count = 0;
  char **inputs = vm_inputs (&info, model, &input_count);
  struct firec_snapshot_request rq = {
    .api_socket = info.record->api_socket,
    .vm_root = info.record->vm_root,
    .chrooted = jailed,
    /* Without the jailer, Firecracker runs as firec-run does. */
    .vmm_uid = jailed ? info.record->uid : geteuid (),
    .vmm_gid = jailed ? info.record->gid : getegid (),
    .snapshot_path = o.snapshot,
    .mem_path = o.mem,
    .diff = o.diff,
    .keep_paused = o.keep_paused,
    .force = o.force,
    .inputs = (const char *const *) inputs,
    .input_count = input_count,
  };
  bool paused = false;
  cli_result_action ("snapshot");
  if (rq.api_socket == NULL || rq.vm_root == NULL)
    {
      firec_error_set (&err, 0, "the record of %s names no API socket or VM root", info.name);
      rc = cli_report_error (&err);
    }
  else if (firec_snapshot_create (&rq, &paused, &err) < 0)
    rc = cli_report_error (&err);
  else
    {
      cli_result_changed (true);
      cli_result_string ("snapshot_path", o.snapshot);
      cli_result_string ("mem_path", o.mem);
      cli_result_field ("paused", cJSON_CreateBool (paused));
    }
  if (rc == FIREC_EXIT_OK && output != FIREC_OUTPUT_JSON)
    fprintf (stderr, "%s: %s: snapshot written to %s and %s%s\n", cli_program_name, info.name, o.snapshot, o.mem,
             paused ? " (left paused)" : "");
  for (size_t i = 0; i < input_count; i++)
    free (inputs[i]);
  free (inputs);
  firec_vm_info_release (&info);
  return rc;
}
