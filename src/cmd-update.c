/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run update NAME|FILE drive ID [--path PATH] [--rate-limiter JSON]
   firec-run update NAME|FILE iface ID [--rx-rate-limiter JSON] [--tx-rate-limiter JSON]
   Post-boot PATCHes; a new drive file is staged into the jail first (the host
   work is update.c's). */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "update.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct update_opts
{
  const char *path;
  const char *rate_limiter;
  const char *rx;
  const char *tx;
};

static int
parse_update_option (int c, const char *arg, void *data)
{
  struct update_opts *o = data;
  switch (c)
    {
    case 'p':
      o->path = arg;
      return 0;
    case 'r':
      o->rate_limiter = arg;
      return 0;
    case 'R':
      o->rx = arg;
      return 0;
    case 'T':
      o->tx = arg;
      return 0;
    default:
      return -1;
    }
}

/* --*-rate-limiter JSON: *ret is NULL when not given. */
static int
parse_json_option (const char *option, const char *text, cJSON **ret)
{
  *ret = NULL;
  if (text == NULL)
    return 0;
  cJSON *value = cJSON_Parse (text);
  if (!cJSON_IsObject (value))
    {
      cJSON_Delete (value);
      return cli_fail (
          -1, "%s must be a JSON object such as {\"bandwidth\": {\"size\": 1000000, \"refill_time\": 100}}", option);
    }
  *ret = value;
  return 0;
}

/* The drive's manifest entry, from the resolved manifest the VM runs as
   (*ret NULL: no such drive). A damaged one is never guessed around. */
static int
recorded_drive (const struct firec_vm_info *info, const char *id, cJSON **ret, firec_error_t *err)
{
  *ret = NULL;
  cleanup_close int dir_fd = -1;
  cleanup_cjson cJSON *manifest = NULL;
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, err) < 0)
    return -1;
  if (dir_fd >= 0 && firec_record_read_manifest (dir_fd, info->state_dir, &manifest, err) < 0)
    {
      firec_error_set_remedy (err, FIREC_REMEDY_RESTART, info->name);
      return -1;
    }
  const cJSON *drives = firec_json_member (firec_json_member (manifest, "spec"), "drives");
  for (const cJSON *d = cJSON_IsArray (drives) ? drives->child : NULL; d; d = d->next)
    if (strcmp (firec_json_string (d, "drive_id") ?: "", id) == 0)
      *ret = cJSON_Duplicate (d, 1);
  return 0;
}

static int
update_drive (const struct firec_vm_info *info, const char *id, const struct update_opts *o)
{
  cleanup_cjson cJSON *limiter = NULL;
  if (parse_json_option ("--rate-limiter", o->rate_limiter, &limiter) < 0)
    return FIREC_EXIT_INVALID;
  cleanup_cjson cJSON *entry = NULL;
  cleanup_error firec_error_t err = NULL;
  if (recorded_drive (info, id, &entry, &err) < 0)
    return cli_report_error (&err);
  if (o->path && entry == NULL)
    return cli_fail (FIREC_EXIT_INVALID, "%s has no drive \"%s\"", info->name, id);
  cleanup_free char *absolute = NULL;
  if (o->path)
    {
      char cwd[4096];
      absolute = o->path[0] == '/' ? firec_xstrdup (o->path)
                                   : firec_xasprintf ("%s/%s", getcwd (cwd, sizeof cwd) ? cwd : ".", o->path);
    }
  bool jailed = info->record->jailer;
  struct firec_drive_update u = {
    .api_socket = info->record->api_socket,
    .vm_root = jailed ? info->record->vm_root : NULL,
    .uid = info->record->uid,
    .gid = info->record->gid,
    .drive_id = id,
    .host_path = absolute,
    .writable = !cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (entry, "is_read_only")),
    .rate_limiter = limiter,
    .state = &info->state_root,
    .name = info->name,
  };
  if (jailed && u.vm_root == NULL)
    firec_error_set (&err, 0, "the record of %s names no VM root", info->name);
  if (err || firec_update_drive (&u, &err) < 0)
    return cli_report_error (&err);
  return FIREC_EXIT_OK;
}

static int
update_iface (const struct firec_vm_info *info, const char *id, const struct update_opts *o)
{
  cleanup_cjson cJSON *rx = NULL, *tx = NULL;
  if (parse_json_option ("--rx-rate-limiter", o->rx, &rx) < 0
      || parse_json_option ("--tx-rate-limiter", o->tx, &tx) < 0)
    return FIREC_EXIT_INVALID;
  cleanup_cjson cJSON *body = cJSON_CreateObject ();
  cJSON_AddStringToObject (body, "iface_id", id);
  if (rx)
    cJSON_AddItemToObject (body, "rx_rate_limiter", steal_pointer (&rx));
  if (tx)
    cJSON_AddItemToObject (body, "tx_rate_limiter", steal_pointer (&tx));
  cleanup_free char *path = firec_xasprintf ("/network-interfaces/%s", id);
  cleanup_free char *text = cJSON_PrintUnformatted (body);
  cleanup_error firec_error_t err = NULL;
  if (firec_vm_api (info, "PATCH", path, text, NULL, &err) < 0)
    return cli_report_error (&err);
  return FIREC_EXIT_OK;
}

int
cmd_update (int argc, char **argv)
{
  struct update_opts o = { 0 };
  static const struct option options[] = {
    { "path", required_argument, NULL, 'p' },
    { "rate-limiter", required_argument, NULL, 'r' },
    { "rx-rate-limiter", required_argument, NULL, 'R' },
    { "tx-rate-limiter", required_argument, NULL, 'T' },
    { NULL, 0, NULL, 0 },
  };
  struct cli_vm_command cmd = {
    .name = "update",
    .usage = "NAME|FILE drive ID [--path PATH] [--rate-limiter JSON]\n"
             "       firec-run update NAME|FILE iface ID [--rx-rate-limiter JSON] [--tx-rate-limiter JSON]",
    .help = "Changes a running VM's drive (its backing file, staged into the jail like at\n"
            "start, or its rate limiter) or a network interface's rate limiters.",
    .option_help = "      --path PATH        drive: a new backing file, staged into the jail\n"
                   "      --rate-limiter JSON\n"
                   "                         drive: a new rate limiter (Firecracker's RateLimiter object)\n"
                   "      --rx-rate-limiter JSON\n"
                   "                         iface: a new receive rate limiter\n"
                   "      --tx-rate-limiter JSON\n"
                   "                         iface: a new transmit rate limiter\n",
    .options = options,
    .handle_option = parse_update_option,
    .data = &o,
    .min_args = 2,
    .max_args = 2,
  };
  enum firec_output output;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_model struct firec_model *model = NULL;
  char **rest = NULL;
  int rc = cli_vm_command_parse (&cmd, argc, argv, &output, &info, &model, &rest);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  const char *what = rest[0], *id = rest[1];
  bool drive = strcmp (what, "drive") == 0;
  if (!drive && strcmp (what, "iface") != 0)
    rc = cli_usage_error ("update", "update drive ID or update iface ID, not \"%s\"", what);
  else if (!firec_vm_alive (&info))
    rc = cli_fail (FIREC_EXIT_RUNTIME, "%s is not running (%s)", info.name, firec_vm_state_name (info.state));
  else
    {
      cli_result_action ("update");
      rc = drive ? update_drive (&info, id, &o) : update_iface (&info, id, &o);
    }
  cli_result_changed (rc == FIREC_EXIT_OK);
  if (rc == FIREC_EXIT_OK && output != FIREC_OUTPUT_JSON)
    fprintf (stderr, "%s: %s: %s %s updated\n", cli_program_name, info.name, what, id);
  firec_vm_info_release (&info);
  return rc;
}
