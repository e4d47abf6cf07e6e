/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run apply FILE: make the host match the manifest, idempotently, for
   configuration management (Ansible's changed_when, Salt's stateful
   commands). What differs comes from the library (drift.h): absent, ended or
   stale: start it (what is left removed first); paused: resume it; fields
   Firecracker changes on a running VM: update them in place, same VMM
   (converge.h); anything else: refuse with exit 6 and the differences, unless
   --replace (stop, remove, start). --check says what it would do and changes
   nothing. The VM's lock is held from the first look to the last change, so
   that two applies of one VM take turns (--lock-timeout) instead of racing. */
#include "config.h"

#include "cli.h"
#include "converge.h"
#include "drift.h"
#include "lifecycle.h"
#include "model.h"
#include "plan.h"
#include "supervise.h"
#include "util.h"

#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct apply_opts
{
  bool replace;
  bool check;
  bool show_diff;
  long lock_timeout_ms;
  enum firec_output output;
};

static void
print_help (void)
{
  printf ("Usage: %s apply [--replace] [--check] [--diff] [--lock-timeout SECONDS]\n"
          "                 [--output text|json] FILE\n\n"
          "Makes the VM that FILE describes run as FILE says, and reports whether it changed\n"
          "anything. Absent, ended or stale: start it detached (what an earlier run left is\n"
          "removed first). Running: compare FILE with the manifest it runs as and with what\n"
          "Firecracker says now (`%s diff FILE` shows the same), then\n"
          "  - change in place, through the API, what Firecracker can change on a running VM:\n"
          "    drive path_on_host and rate_limiter, network interface rate limiters, balloon\n"
          "    amount_mib and stats_polling_interval_s, MMDS data (same VMM: action update);\n"
          "  - resume it when it is paused (action resume);\n"
          "  - anything else needs a new VM: refused with exit 6 and the differences, unless\n"
          "    --replace (stop it, remove it, start this one: action replace).\n"
          "Applying the same FILE again then changes nothing (changed false, action none).\n\n"
          "Options:\n"
          "      --replace        replace a running VM that differs in what only a restart changes\n"
          "      --check          say what apply would do (action, differences), change nothing\n"
          "      --diff           also show the differences as before and after texts\n" CLI_LOCK_TIMEOUT_HELP
          "  -o, --output FORMAT  text (default) or json: one result object {format_version,\n"
          "                       command, changed, action, name, error, check, state, pid,\n"
          "                       api_socket, diff, comment[, before_after]} (firec-run(1))\n"
          "  -h, --help           show this help\n\n"
          "Exit status: 0 the VM is (or, with --check, would be made) as FILE says; 6 the\n"
          "change needs --replace (nothing changed); 1 a step failed; 2 invalid manifest or\n"
          "usage; 3 host precondition failed; 4 locked by another firec-run; 5 leftovers.\n",
          cli_program_name, cli_program_name);
}

static int
parse_options (int argc, char **argv, struct apply_opts *o)
{
  enum
  {
    OPT_REPLACE = 256,
    OPT_CHECK,
    OPT_DIFF,
    OPT_LOCK_TIMEOUT,
  };
  static const struct option options[] = {
    { "replace", no_argument, NULL, OPT_REPLACE },
    { "check", no_argument, NULL, OPT_CHECK },
    { "diff", no_argument, NULL, OPT_DIFF },
    { "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
    { "output", required_argument, NULL, 'o' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  while ((c = getopt_long (argc, argv, "o:h", options, NULL)) != -1)
    switch (c)
      {
      case OPT_REPLACE:
        o->replace = true;
        break;
      case OPT_CHECK:
        o->check = true;
        break;
      case OPT_DIFF:
        o->show_diff = true;
        break;
      case OPT_LOCK_TIMEOUT:
        if (cli_parse_lock_timeout ("apply", optarg, &o->lock_timeout_ms) != FIREC_EXIT_OK)
          return FIREC_EXIT_INVALID;
        break;
      case 'o':
        if (cli_parse_output (optarg, false, &o->output) < 0)
          return cli_usage_error ("apply", "--output takes text or json, not \"%s\"", optarg);
        break;
      case 'h':
        cli_result_silence ();
        print_help ();
        return -1;
      default:
        return cli_usage_error ("apply", "unknown option \"%s\"", argv[optind - 1]);
      }
  if (optind + 1 != argc)
    return cli_usage_error ("apply", "expected exactly one manifest");
  return FIREC_EXIT_OK;
}

/* ------------------------------------------------------------------ reporting */

/* Ansible's diff shape: the differing fields as they are and as wanted, one
   per line, so that `--check --diff` shows them. */
static cJSON *
before_after (const struct firec_drift *drift, const char *name, const char *file)
{
  struct firec_buf before = { 0 }, after = { 0 };
  for (size_t i = 0; i < drift->count; i++)
    {
      const struct firec_drift_item *it = &drift->items[i];
      cleanup_free char *a = it->actual ? cJSON_PrintUnformatted (it->actual) : firec_xstrdup ("(absent)");
      cleanup_free char *w = it->wanted ? cJSON_PrintUnformatted (it->wanted) : firec_xstrdup ("(absent)");
      firec_buf_printf (&before, "%s: %s\n", it->path, a);
      firec_buf_printf (&after, "%s: %s\n", it->path, w);
    }
  cJSON *o = cJSON_CreateObject ();
  cleanup_free char *header = firec_xasprintf ("%s (as it runs)", name);
  cleanup_free char *b = firec_buf_steal (&before);
  cleanup_free char *a = firec_buf_steal (&after);
  cJSON_AddStringToObject (o, "before_header", header);
  cJSON_AddStringToObject (o, "after_header", file);
  cJSON_AddStringToObject (o, "before", b);
  cJSON_AddStringToObject (o, "after", a);
  return o;
}

static void
print_diff_text (const cJSON *ba)
{
  printf ("--- %s\n+++ %s\n", firec_json_string (ba, "before_header"), firec_json_string (ba, "after_header"));
  static const char *const sides[][2] = { { "before", "-" }, { "after", "+" } };
  for (size_t s = 0; s < FIREC_N_ELEMENTS (sides); s++)
    {
      const char *text = firec_json_string (ba, sides[s][0]);
      for (const char *line = text; line && *line;)
        {
          size_t n = strcspn (line, "\n");
          printf ("%s%.*s\n", sides[s][1], (int) n, line);
          line += n + (line[n] == '\n');
        }
    }
}

/* The VM after apply (or, with --check, as it is): state, pid, api socket. */
static void
report_vm (const char *state, pid_t pid, const char *socket)
{
  cli_result_string ("state", state);
  cli_result_field ("pid", pid > 0 ? cJSON_CreateNumber (pid) : NULL);
  cli_result_string ("api_socket", socket);
}

static void
report_done (const struct apply_opts *o, const char *name, const char *comment)
{
  cli_result_string ("comment", comment);
  if (o->output != FIREC_OUTPUT_JSON)
    fprintf (stderr, "%s: %s: %s\n", cli_program_name, name, comment);
}

/* ------------------------------------------------------------------ acting */

struct apply
{
  const struct apply_opts *o;
  const struct firec_model *model;
  const struct firec_plan *plan;
  struct firec_vm_info info;
  int lock;         /* the VM's lock, held from the first look on; -1: none (--check, or supervised) */
  bool locked_name; /* the lock is still named (no teardown removed its file) */
};

/* The VM's lock before looking at it, unless its supervisor holds it for the
   VM's life (an attached VM). With --check nothing is taken (a lock file would
   be a change): a VM being started is waited for, up to --lock-timeout. */
static int
lock_and_inspect (struct apply *a, firec_error_t *err)
{
  const char *name = a->model->name;
  if (firec_vm_inspect (name, &a->info, err) < 0)
    return -1;
  if (a->o->check)
    {
      long long deadline = firec_now_ms () + a->o->lock_timeout_ms;
      while (a->info.state == FIREC_VM_STARTING && firec_now_ms () < deadline)
        {
          poll (NULL, 0, 50);
          firec_vm_info_release (&a->info);
          if (firec_vm_inspect (name, &a->info, err) < 0)
            return -1;
        }
      return 0;
    }
  if (firec_vm_supervised (&a->info))
    return 0;
  if (firec_vm_lock (name, a->o->lock_timeout_ms, &a->lock, err) < 0)
    return -1;
  a->locked_name = true;
  firec_vm_info_release (&a->info);
  return firec_vm_inspect (name, &a->info, err);
}

/* Removes what stands in the way (the VM to replace, or what an ended run
   left), under the lock held: its file goes with the VM, so a new one is
   taken for the start before the old is let go, and a waiting apply never
   slips in between. */
static int
clear_the_way (struct apply *a, firec_error_t *err)
{
  bool removed;
  struct firec_vm_lock how = { .held_fd = a->lock, .timeout_ms = a->o->lock_timeout_ms };
  if (firec_vm_remove (&a->info, false, a->model, &how, -1, &removed, err) < 0)
    return -1;
  if (removed)
    cli_result_changed (true);
  int fresh = -1;
  if (firec_vm_lock (a->model->name, a->o->lock_timeout_ms, &fresh, err) < 0)
    return -1;
  if (a->lock >= 0)
    close (a->lock);
  a->lock = fresh;
  return 0;
}

static int
start (struct apply *a, bool clear, firec_error_t *err)
{
  if (clear && clear_the_way (a, err) < 0)
    return -1;
  pid_t pid = 0;
  int signal_fd = firec_supervise_signal_fd ();
  if (cli_start_detached (a->plan, true, a->o->lock_timeout_ms, a->lock >= 0 ? &a->lock : NULL, signal_fd, &pid, err)
      < 0)
    return -1;
  cli_result_changed (true);
  report_vm ("running", pid, a->model->api_socket_host);
  return 0;
}

static int
update_in_place (struct apply *a, const struct firec_drift *drift, firec_error_t *err)
{
  bool changed = false;
  int rc = firec_converge (a->plan, &a->info, drift, &changed, err);
  cli_result_changed (changed);
  if (rc < 0)
    return -1;
  report_vm ("running", a->info.vmm.pid, a->info.record->api_socket);
  return 0;
}

static int
refuse (struct apply *a, const struct firec_drift *drift)
{
  const struct firec_vm_info *info = &a->info;
  report_vm (firec_vm_state_name (info->state), info->vmm.pid, info->record->api_socket);
  struct firec_buf paths = { 0 };
  for (size_t i = 0; i < drift->count; i++)
    if (drift->items[i].how == FIREC_RECONCILE_RESTART)
      firec_buf_printf (&paths, "%s%s", paths.len ? ", " : "",
                        drift->items[i].path[0] ? drift->items[i].path : "digest");
  cleanup_free char *list = firec_buf_steal (&paths);
  int rc = cli_fail (FIREC_EXIT_NEEDS_REPLACE,
                     "%s differs in what only a new VM can have (%s): pass --replace to stop it and start this one",
                     a->model->name, list);
  cleanup_free char *text = firec_drift_to_text (drift);
  fputs (text, stderr); /* every difference, for people, also beside --output json */
  return rc;
}

static const char *
comment_for (enum firec_drift_action action, bool check)
{
  switch (action)
    {
    case FIREC_DRIFT_NONE:
      return "already as wanted";
    case FIREC_DRIFT_START:
      return check ? "would start it" : "started";
    case FIREC_DRIFT_REPLACE:
      return check ? "would replace it (stop, remove, start)" : "replaced";
    case FIREC_DRIFT_UPDATE:
      return check ? "would update it in place" : "updated in place";
    case FIREC_DRIFT_RESUME:
      return check ? "would resume it" : "resumed";
    }
  return "";
}

static int
act (struct apply *a, const struct firec_drift *drift, firec_error_t *err)
{
  const struct firec_vm_info *info = &a->info;
  bool running = info->state == FIREC_VM_RUNNING || info->state == FIREC_VM_PAUSED;
  if (drift->action == FIREC_DRIFT_REPLACE && !a->o->replace)
    return refuse (a, drift);
  if (a->o->check)
    {
      /* What apply would refuse before its first change, --check says. */
      if ((drift->action == FIREC_DRIFT_UPDATE || drift->action == FIREC_DRIFT_RESUME)
          && firec_converge_check (a->plan, info, drift, err) < 0)
        return -1;
      cli_result_changed (drift->action != FIREC_DRIFT_NONE);
      report_vm (firec_vm_state_name (info->state), firec_vm_alive (info) ? info->vmm.pid : 0,
                 info->record ? info->record->api_socket : NULL);
      return 0;
    }
  switch (drift->action)
    {
    case FIREC_DRIFT_NONE:
      report_vm (firec_vm_state_name (info->state), info->vmm.pid, info->record->api_socket);
      return 0;
    case FIREC_DRIFT_START:
      return start (a, info->state != FIREC_VM_ABSENT, err);
    case FIREC_DRIFT_REPLACE:
      return start (a, running, err);
    case FIREC_DRIFT_UPDATE:
    case FIREC_DRIFT_RESUME:
      return update_in_place (a, drift, err);
    }
  return 0;
}

int
cmd_apply (int argc, char **argv)
{
  struct apply_opts o = { .output = FIREC_OUTPUT_TEXT };
  int rc = parse_options (argc, argv, &o);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  cli_result_field ("check", cJSON_CreateBool (o.check));
  cleanup_model struct firec_model *model = NULL;
  cleanup_plan struct firec_plan *plan = NULL;
  rc = cli_load_plan (argv[optind], NULL, &model, &plan);
  if (rc != FIREC_EXIT_OK)
    return rc;
  struct apply a = { .o = &o, .model = model, .plan = plan, .info = FIREC_VM_INFO_INIT, .lock = -1 };
  cleanup_error firec_error_t err = NULL;
  struct firec_drift drift = { 0 };
  if (lock_and_inspect (&a, &err) < 0 || firec_drift_compute (plan, &a.info, &drift, &err) < 0)
    rc = cli_report_error (&err);
  else
    {
      cli_result_action (firec_drift_action_name (drift.action));
      cli_result_field ("diff", firec_drift_to_json (&drift));
      if (o.show_diff)
        {
          cJSON *ba = before_after (&drift, model->name, argv[optind]);
          if (o.output != FIREC_OUTPUT_JSON)
            print_diff_text (ba);
          cli_result_field ("before_after", ba);
        }
      rc = act (&a, &drift, &err);
      if (rc < 0)
        rc = cli_report_error (&err);
      else if (rc == FIREC_EXIT_OK)
        report_done (&o, model->name, comment_for (drift.action, o.check));
    }
  firec_drift_release (&drift);
  firec_vm_info_release (&a.info);
  firec_vm_unlock (model->name, a.lock);
  return rc;
}
