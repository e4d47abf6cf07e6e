/* firec-run apply FILE: make the host match the manifest, idempotently.
   Running with the same digest: nothing to do (changed false). Not running:
   start it detached (changed true). Running with another digest: print what
   differs and refuse, unless --replace (stop, remove, start). One JSON object
   with --output json, for Ansible's changed_when and Salt's stateful commands. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "plan.h"
#include "supervise.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* Field-level differences between two resolved manifests (x-* keys ignored). */
static void
diff_json (const cJSON *a, const cJSON *b, const char *pointer, struct firec_buf *out)
{
  if (cJSON_IsObject (a) && cJSON_IsObject (b))
    {
      for (const cJSON *m = a->child; m; m = m->next)
        {
          if (strncmp (m->string, "x-", 2) == 0)
            continue;
          cleanup_free char *sub = firec_json_pointer_append (pointer, m->string);
          diff_json (m, cJSON_GetObjectItemCaseSensitive (b, m->string), sub, out);
        }
      for (const cJSON *m = b->child; m; m = m->next)
        if (strncmp (m->string, "x-", 2) != 0 && cJSON_GetObjectItemCaseSensitive (a, m->string) == NULL)
          {
            cleanup_free char *sub = firec_json_pointer_append (pointer, m->string);
            diff_json (NULL, m, sub, out);
          }
      return;
    }
  if (cJSON_IsArray (a) && cJSON_IsArray (b) && cJSON_GetArraySize (a) == cJSON_GetArraySize (b))
    {
      size_t i = 0;
      for (const cJSON *x = a->child, *y = b->child; x && y; x = x->next, y = y->next, i++)
        {
          cleanup_free char *sub = firec_json_pointer_append_index (pointer, i);
          diff_json (x, y, sub, out);
        }
      return;
    }
  if (a && b && cJSON_Compare (a, b, true))
    return;
  cleanup_free char *old = a ? cJSON_PrintUnformatted (a) : firec_xstrdup ("(absent)");
  cleanup_free char *new = b ? cJSON_PrintUnformatted (b) : firec_xstrdup ("(absent)");
  firec_buf_printf (out, "  %s: %s -> %s\n", pointer, old, new);
}

static void
print_result (enum firec_output output, bool changed, const char *name, const char *state, pid_t pid,
              const char *socket, const char *comment)
{
  if (output != FIREC_OUTPUT_JSON)
    {
      fprintf (stderr, "%s: %s: %s\n", cli_program_name, name, comment);
      return;
    }
  cleanup_cjson cJSON *o = cJSON_CreateObject ();
  cJSON_AddNumberToObject (o, "format_version", 1);
  cJSON_AddBoolToObject (o, "changed", changed);
  cJSON_AddStringToObject (o, "name", name);
  cJSON_AddStringToObject (o, "state", state);
  if (pid > 0)
    cJSON_AddNumberToObject (o, "pid", pid);
  else
    cJSON_AddNullToObject (o, "pid");
  if (socket)
    cJSON_AddStringToObject (o, "api_socket", socket);
  else
    cJSON_AddNullToObject (o, "api_socket");
  cJSON_AddStringToObject (o, "comment", comment);
  cli_print_json (o);
}

int
cmd_apply (int argc, char **argv)
{
  static const struct option options[] = {
    { "replace", no_argument, NULL, 'r' },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  bool replace = false;
  enum firec_output output = FIREC_OUTPUT_TEXT;
  int c;
  while ((c = getopt_long (argc, argv, "o:h", options, NULL)) != -1)
    switch (c)
      {
      case 'r':
        replace = true;
        break;
      case 'o':
        if (cli_parse_output (optarg, false, &output) < 0)
          return cli_usage_error ("apply", "--output takes text or json, not \"%s\"", optarg);
        break;
      case 'h':
        printf ("Usage: %s apply [--replace] [--output text|json] FILE\n\n"
                "Makes the host match FILE: running with the same resolved manifest (digest):\n"
                "nothing to do, changed false; not running: start it detached, changed true;\n"
                "running with a different one: print the fields that differ and refuse, unless\n"
                "--replace (stop it, remove it, start the new one). Exit 0 when the host is as\n"
                "wanted; 1 when it refused or failed.\n\n"
                "Options:\n"
                "      --replace        replace a running VM whose manifest differs\n"
                "  -o, --output FORMAT  text (default) or json: one object\n"
                "                       {format_version, changed, name, state, pid, api_socket, comment}\n"
                "  -h, --help           show this help\n",
                cli_program_name);
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("apply", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage_error ("apply", "expected exactly one manifest");
  cleanup_model struct firec_model *model = NULL;
  cleanup_plan struct firec_plan *plan = NULL;
  int rc = cli_load_plan (argv[optind], NULL, &model, &plan);
  if (rc != FIREC_EXIT_OK)
    return rc;
  cleanup_error firec_error_t err = NULL;
  cleanup_free char *digest = firec_model_digest (model);
  struct firec_vm_info info;
  if (firec_vm_inspect (model->name, &info, &err) < 0)
    return cli_report_error (&err);

  bool running = info.state == FIREC_VM_RUNNING || info.state == FIREC_VM_PAUSED;
  const char *recorded = info.record ? info.record->digest : NULL;
  const char *socket = info.record ? info.record->api_socket : NULL;
  if (running && recorded && strcmp (recorded, digest) == 0)
    {
      print_result (output, false, model->name, firec_vm_state_name (info.state), info.vmm.pid, socket,
                    "already running with this manifest");
      firec_vm_info_release (&info);
      return FIREC_EXIT_OK;
    }
  if (info.state == FIREC_VM_STARTING)
    {
      firec_error_set_kind (&err, FIREC_ERR_LOCKED, 0, "%s is being started by firec-run pid %ld", model->name,
                            (long) info.holder);
      firec_vm_info_release (&info);
      return cli_report_error (&err);
    }
  if (info.state == FIREC_VM_DAMAGED)
    {
      /* It may still run: replacing it blindly could start a second VMM. */
      firec_error_set_kind (&err, FIREC_ERR_PRECONDITION, 0, "cannot tell what %s is: %s", model->name, info.detail);
      firec_vm_info_release (&info);
      return cli_report_error (&err);
    }
  if (running && !replace)
    {
      struct firec_buf diff = { 0 };
      cleanup_free char *path = firec_xasprintf ("%s/manifest.json", info.state_dir);
      cleanup_free char *text = NULL;
      size_t len;
      cleanup_cjson cJSON *old = firec_read_file (path, 16u << 20, &text, &len) == 0 ? cJSON_ParseWithLength (text, len)
                                                                                     : NULL;
      cleanup_cjson cJSON *wanted = firec_model_to_manifest (model);
      diff_json (old, wanted, "", &diff);
      fprintf (stderr, "%s: %s runs with a different manifest (%s, wanted %s):\n%s", cli_program_name, model->name,
               recorded ? recorded : "?", digest, diff.data ? diff.data : "  (the recorded manifest is missing)\n");
      print_result (output, false, model->name, firec_vm_state_name (info.state), info.vmm.pid, socket,
                    "runs with a different manifest; pass --replace to stop it and start this one");
      firec_buf_release (&diff);
      firec_vm_info_release (&info);
      return FIREC_EXIT_RUNTIME;
    }
  /* Replacing, or clearing what an ended or crashed run left, before starting. */
  bool removed;
  if (info.state != FIREC_VM_ABSENT && firec_vm_remove (&info, false, model, &removed, &err) < 0)
    {
      firec_vm_info_release (&info);
      return cli_report_error (&err);
    }
  firec_vm_info_release (&info);
  pid_t pid = 0;
  int signal_fd = firec_supervise_signal_fd ();
  if (cli_start_detached (plan, true, 0, signal_fd, &pid, &err) < 0)
    return cli_report_error (&err);
  print_result (output, true, model->name, "running", pid, model->api_socket_host,
                running ? "replaced" : "started");
  return FIREC_EXIT_OK;
}
