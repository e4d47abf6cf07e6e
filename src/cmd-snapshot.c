/* firec-run snapshot create NAME|FILE --snapshot PATH --mem PATH [--diff]
   [--keep-paused]: pause, create, resume; the files land at the host paths. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct snapshot_opts
{
  const char *snapshot;
  const char *mem;
  bool diff;
  bool keep_paused;
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
    default:
      return -1;
    }
}

/* Firecracker wrote the file inside the jail (as the VM's uid); move it to where
   the user asked, owned by the user running firec-run. */
static int
move_out (const char *from, const char *to, firec_error_t *err)
{
  if (rename (from, to) < 0)
    {
      if (errno != EXDEV)
        return firec_error_set (err, errno, "cannot move %s to %s", from, to);
      cleanup_close int in = open (from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      cleanup_close int out = open (to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (in < 0 || out < 0)
        return firec_error_set (err, errno, "cannot copy %s to %s", from, to);
      for (;;)
        {
          ssize_t n = copy_file_range (in, NULL, out, NULL, 1 << 30, 0);
          if (n < 0)
            return firec_error_set (err, errno, "cannot copy %s to %s", from, to);
          if (n == 0)
            break;
        }
      unlink (from);
    }
  if (chown (to, getuid (), getgid ()) < 0 || chmod (to, 0600) < 0)
    return firec_error_set (err, errno, "cannot give %s to uid %u", to, (unsigned) getuid ());
  return 0;
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
      print_help ();
      return FIREC_EXIT_OK;
    }
  if (argc < 2 || strcmp (argv[1], "create") != 0)
    return cli_usage_error ("snapshot", "usage: %s snapshot create NAME|FILE --snapshot PATH --mem PATH [--diff] "
                                        "[--keep-paused]",
                            cli_program_name);
  struct snapshot_opts o = { 0 };
  static const struct option options[] = {
    { "snapshot", required_argument, NULL, 's' }, { "mem", required_argument, NULL, 'm' },
    { "diff", no_argument, NULL, 'D' },           { "keep-paused", no_argument, NULL, 'k' },
    { NULL, 0, NULL, 0 },
  };
  struct cli_vm_command cmd = {
    .name = "snapshot create",
    .usage = "NAME|FILE --snapshot PATH --mem PATH [--diff] [--keep-paused]",
    .help = "Pauses the VM, has Firecracker write its state and memory, moves both files to\n"
            "the host paths given, and resumes the VM (unless --keep-paused). --diff writes a\n"
            "diff snapshot (Firecracker 1.5.1 needs machine-config.track_dirty_pages).\n"
            "A manifest whose spec.snapshot names these files starts from them.",
    .option_help = "      --snapshot PATH    where the VM state file goes (required)\n"
                   "      --mem PATH         where the guest memory file goes (required)\n"
                   "      --diff             a diff snapshot: only the pages dirtied since the last one\n"
                   "      --keep-paused      leave the VM paused afterwards\n",
    .options = options,
    .handle_option = parse_snapshot_option,
    .data = &o,
  };
  enum firec_output output;
  struct firec_vm_info info = { .pidfd = -1 };
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_vm_command_parse (&cmd, argc - 1, argv + 1, &output, &info, &model, NULL);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  cleanup_error firec_error_t err = NULL;
  if (o.snapshot == NULL || o.mem == NULL)
    rc = cli_usage_error ("snapshot create", "--snapshot and --mem are required");
  else if (!info.alive)
    {
      fprintf (stderr, "%s snapshot: %s is not running (%s)\n", cli_program_name, info.name,
               firec_vm_state_name (info.state));
      rc = FIREC_EXIT_RUNTIME;
    }
  if (rc != FIREC_EXIT_OK)
    {
      firec_vm_info_release (&info);
      return rc;
    }
  bool jailed = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (info.record, "jailer"));
  const char *vm_root = firec_vm_record_string (&info, "vm_root");
  cleanup_free char *snap_copy = firec_xstrdup (o.snapshot), *mem_copy = firec_xstrdup (o.mem);
  cleanup_free char *fc_snap = jailed ? firec_xasprintf ("/snapshot-out/%s", basename (snap_copy)) : firec_xstrdup (o.snapshot);
  cleanup_free char *fc_mem = jailed ? firec_xasprintf ("/snapshot-out/%s.mem", basename (mem_copy)) : firec_xstrdup (o.mem);
  if (jailed)
    {
      /* Firecracker runs as the VM's uid: it needs a directory of its own to write in. */
      cleanup_free char *dir = firec_xasprintf ("%s/snapshot-out", vm_root);
      if ((mkdir (dir, 0700) < 0 && errno != EEXIST)
          || chown (dir, (uid_t) firec_vm_record_number (&info, "uid"), (gid_t) firec_vm_record_number (&info, "gid"))
                 < 0)
        {
          firec_error_set (&err, errno, "cannot prepare %s", dir);
          rc = cli_report_error (&err);
        }
    }
  bool was_running = info.state == FIREC_VM_RUNNING;
  if (rc == FIREC_EXIT_OK && was_running && firec_vm_api (&info, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL, &err) < 0)
    rc = cli_report_error (&err);
  if (rc == FIREC_EXIT_OK)
    {
      cleanup_cjson cJSON *body = cJSON_CreateObject ();
      cJSON_AddStringToObject (body, "snapshot_type", o.diff ? "Diff" : "Full");
      cJSON_AddStringToObject (body, "snapshot_path", fc_snap);
      cJSON_AddStringToObject (body, "mem_file_path", fc_mem);
      cleanup_free char *text = cJSON_PrintUnformatted (body);
      if (firec_vm_api (&info, "PUT", "/snapshot/create", text, NULL, &err) < 0)
        rc = cli_report_error (&err);
    }
  if (rc == FIREC_EXIT_OK && jailed)
    {
      cleanup_free char *from_snap = firec_xasprintf ("%s%s", vm_root, fc_snap);
      cleanup_free char *from_mem = firec_xasprintf ("%s%s", vm_root, fc_mem);
      if (move_out (from_snap, o.snapshot, &err) < 0 || move_out (from_mem, o.mem, &err) < 0)
        rc = cli_report_error (&err);
    }
  /* Resume even after a failed create: the VM was running when we came. */
  if (was_running && !o.keep_paused)
    {
      cleanup_error firec_error_t resume_err = NULL;
      if (firec_vm_api (&info, "PATCH", "/vm", "{\"state\":\"Resumed\"}", NULL, &resume_err) < 0 && rc == FIREC_EXIT_OK)
        rc = cli_report_error (&resume_err);
    }
  if (rc == FIREC_EXIT_OK)
    fprintf (stderr, "%s: %s: snapshot written to %s and %s%s\n", cli_program_name, info.name, o.snapshot, o.mem,
             o.keep_paused ? " (left paused)" : "");
  firec_vm_info_release (&info);
  return rc;
}
