/* firec-run update NAME|FILE drive ID [--path PATH] [--rate-limiter JSON]
   firec-run update NAME|FILE iface ID [--rx-rate-limiter JSON] [--tx-rate-limiter JSON]
   Post-boot PATCHes; a new drive file is staged into the jail first. */
#include "config.h"

#include "cli.h"
#include "lifecycle.h"
#include "model.h"
#include "stage.h"
#include "util.h"

#include <fcntl.h>
#include <sys/stat.h>
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

static int
add_json_option (cJSON *body, const char *field, const char *text)
{
  if (text == NULL)
    return 0;
  cJSON *value = cJSON_Parse (text);
  if (!cJSON_IsObject (value))
    {
      cJSON_Delete (value);
      fprintf (stderr, "%s update: %s must be a JSON object such as {\"bandwidth\": {\"size\": 1000000, "
                       "\"refill_time\": 100}}\n",
               cli_program_name, field);
      return -1;
    }
  cJSON_AddItemToObject (body, field, value);
  return 0;
}

/* The drive's manifest entry, from the resolved manifest the run recorded. */
static cJSON *
recorded_drive (const char *state_dir, const char *id)
{
  cleanup_free char *path = firec_xasprintf ("%s/manifest.json", state_dir);
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_file (path, 16u << 20, &text, &len) < 0)
    return NULL;
  cleanup_cjson cJSON *manifest = cJSON_ParseWithLength (text, len);
  const cJSON *drives = cJSON_GetObjectItemCaseSensitive (cJSON_GetObjectItemCaseSensitive (manifest, "spec"), "drives");
  for (const cJSON *d = drives ? drives->child : NULL; d; d = d->next)
    if (strcmp (cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (d, "drive_id")) ?: "", id) == 0)
      return cJSON_Duplicate (d, 1);
  return NULL;
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
  struct firec_vm_info info = { .pidfd = -1 };
  cleanup_model struct firec_model *model = NULL;
  char **rest = NULL;
  int rc = cli_vm_command_parse (&cmd, argc, argv, &output, &info, &model, &rest);
  if (rc != FIREC_EXIT_OK)
    return rc < 0 ? FIREC_EXIT_OK : rc;
  const char *what = rest[0], *id = rest[1];
  bool drive = strcmp (what, "drive") == 0;
  cleanup_cjson cJSON *body = cJSON_CreateObject ();
  cleanup_error firec_error_t err = NULL;
  if (!drive && strcmp (what, "iface") != 0)
    rc = cli_usage_error ("update", "update drive ID or update iface ID, not \"%s\"", what);
  else if (!info.alive)
    {
      fprintf (stderr, "%s update: %s is not running (%s)\n", cli_program_name, info.name,
               firec_vm_state_name (info.state));
      rc = FIREC_EXIT_RUNTIME;
    }
  else if (drive)
    {
      cJSON_AddStringToObject (body, "drive_id", id);
      if (add_json_option (body, "rate_limiter", o.rate_limiter) < 0)
        rc = FIREC_EXIT_INVALID;
      else if (o.path)
        {
          bool jailed = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (info.record, "jailer"));
          cleanup_cjson cJSON *entry = recorded_drive (info.state_dir, id);
          cleanup_free char *absolute = o.path[0] == '/' ? firec_xstrdup (o.path) : NULL;
          if (absolute == NULL)
            {
              char cwd[4096];
              absolute = firec_xasprintf ("%s/%s", getcwd (cwd, sizeof cwd) ? cwd : ".", o.path);
            }
          if (entry == NULL)
            {
              fprintf (stderr, "%s update: %s has no drive \"%s\"\n", cli_program_name, info.name, id);
              rc = FIREC_EXIT_INVALID;
            }
          else if (jailed)
            {
              /* Staged like at start: a link (or bind mount) next to the old file. */
              struct firec_file file = {
                .role = FIREC_FILE_DRIVE,
                .host_path = absolute,
                .mode = FIREC_STAGING_AUTO,
                .writable = !cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (entry, "is_read_only")),
              };
              /* Where a start would have put it, so that a snapshot taken now restores
                 with snapshot.drives naming this file. */
              cleanup_free char *base = firec_xstrdup (strrchr (absolute, '/') + 1);
              file.vm_path = firec_xasprintf ("/drives/%s/%s", id, base);
              cleanup_free char *vm_path = file.vm_path;
              cleanup_close int root = open (firec_vm_record_string (&info, "vm_root"), O_PATH | O_DIRECTORY | O_CLOEXEC);
              struct firec_staged staged = { 0 };
              struct stat st;
              if (root >= 0 && fstatat (root, file.vm_path + 1, &st, AT_SYMLINK_NOFOLLOW) == 0)
                {
                  fprintf (stderr, "%s update: drive %s already has a file named %s in the jail; give the new file "
                                   "another name\n",
                           cli_program_name, id, base);
                  rc = FIREC_EXIT_INVALID;
                }
              else if (root < 0
                  || firec_stage_file (root, &file, (uid_t) firec_vm_record_number (&info, "uid"),
                                       (gid_t) firec_vm_record_number (&info, "gid"), NULL, NULL, &staged, &err)
                         < 0)
                rc = err ? cli_report_error (&err) : FIREC_EXIT_RUNTIME;
              else
                cJSON_AddStringToObject (body, "path_on_host", vm_path);
              firec_staged_release (&staged);
            }
          else
            cJSON_AddStringToObject (body, "path_on_host", absolute);
        }
    }
  else
    {
      cJSON_AddStringToObject (body, "iface_id", id);
      if (add_json_option (body, "rx_rate_limiter", o.rx) < 0 || add_json_option (body, "tx_rate_limiter", o.tx) < 0)
        rc = FIREC_EXIT_INVALID;
    }
  if (rc == FIREC_EXIT_OK)
    {
      cleanup_free char *path = firec_xasprintf ("/%s/%s", drive ? "drives" : "network-interfaces", id);
      cleanup_free char *text = cJSON_PrintUnformatted (body);
      if (firec_vm_api (&info, "PATCH", path, text, NULL, &err) < 0)
        rc = cli_report_error (&err);
      else
        fprintf (stderr, "%s: %s: %s %s updated\n", cli_program_name, info.name, what, id);
    }
  firec_vm_info_release (&info);
  return rc;
}
