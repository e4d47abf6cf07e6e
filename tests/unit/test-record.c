/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for record.c's console keeper field and its ownership fields
   (the jail's state, outputs not the run's, the run's start time): they go
   through a write and a read unchanged, records of earlier firec-runs
   (without them) still read, and a damaged one is EBADMSG naming what is
   wrong; and for the keeper's identity from its arguments (console.h), by
   which the host finds a keeper whose pid never reached the record. */
#include "config.h"

#include "console.h"
#include "record.h"
#include "util.h"
#include "tap.h"

#include <errno.h>
#include <string.h>

static struct firec_record *
sample (void)
{
  struct firec_record *r = firec_xcalloc (1, sizeof *r);
  r->name = firec_xstrdup ("vm-1");
  r->manifest = firec_xstrdup ("/etc/firec/vm-1.yaml");
  r->exec_name = firec_xstrdup ("firecracker");
  r->vm_root = firec_xstrdup ("/run/firec/vm-1/root");
  r->api_socket = firec_xstrdup ("/run/firec/vm-1/root/api.sock");
  r->stop = firec_xcalloc (1, sizeof *r->stop);
  r->cgroup_dirs = firec_xcalloc (1, sizeof *r->cgroup_dirs);
  r->cgroup_parents = firec_xcalloc (1, sizeof *r->cgroup_parents);
  r->mode = FIREC_RUN_DAEMON;
  return r;
}

/* The record's JSON with the "console" member replaced by value (NULL: removed). */
static char *
with_console (const struct firec_record *r, const char *value)
{
  cleanup_cjson cJSON *json = firec_record_to_json (r);
  cJSON_DeleteItemFromObjectCaseSensitive (json, "console");
  if (value)
    cJSON_AddItemToObject (json, "console", cJSON_Parse (value));
  return cJSON_PrintUnformatted (json);
}

static struct firec_record *
parse (const char *text, char **error)
{
  struct firec_record *out = NULL;
  firec_error_t err = NULL;
  *error = NULL;
  if (firec_record_from_json (text, strlen (text), "state.json", &out, &err) < 0)
    {
      *error = firec_xasprintf ("%d %s", err->errno_value, err->message);
      firec_error_release (&err);
    }
  return out;
}

static void
test_round_trip (void)
{
  cleanup_record struct firec_record *r = sample ();
  r->console.dir = firec_xstrdup ("/run/firec/vm-1");
  r->console.keeper = (struct firec_record_process){ 4242, 987654321 };
  cleanup_cjson cJSON *json = firec_record_to_json (r);
  cleanup_free char *text = cJSON_PrintUnformatted (json);
  cleanup_free char *error = NULL;
  cleanup_record struct firec_record *back = parse (text, &error);
  TAP_STR_EQ (error, NULL, "a record with a console keeper reads back");
  TAP_STR_EQ (back ? back->console.dir : NULL, "/run/firec/vm-1", "... its directory");
  tap_ok (back && back->console.keeper.pid == 4242 && back->console.keeper.start_time == 987654321,
          "... its keeper's pid and start time");

  /* Named before it is started: a directory, no process yet. */
  r->console.keeper = (struct firec_record_process){ 0, 0 };
  cleanup_free char *intent = with_console (r, "{\"dir\": \"/run/firec/vm-1\", \"keeper\": null}");
  cleanup_record struct firec_record *pending = parse (intent, &error);
  tap_ok (pending && pending->console.dir && pending->console.keeper.pid == 0,
          "a keeper named before it is started reads as its directory without a process");
}

static void
test_older_and_damaged (void)
{
  cleanup_record struct firec_record *r = sample ();
  static const struct
  {
    const char *console; /* NULL: no member */
    const char *error;   /* NULL: reads, without a keeper */
    const char *what;
  } cases[] = {
    { NULL, NULL, "a record of an earlier firec-run (no \"console\") reads, without a keeper" },
    { "null", NULL, "\"console\": null reads, without a keeper" },
    { "[]", "74 the record state.json is damaged: \"console\" is not an object", "an array is damage" },
    { "{\"dir\": \"run/firec/vm-1\", \"keeper\": null}",
      "74 the record state.json is damaged: \"dir\" is not an absolute path without \"..\"", "a relative dir" },
    { "{\"dir\": \"/run/firec/../etc\", \"keeper\": null}",
      "74 the record state.json is damaged: \"dir\" is not an absolute path without \"..\"", "a dir that climbs" },
    { "{\"dir\": \"/run/firec/vm-1\"}", "74 the record state.json is damaged: \"keeper\" is missing",
      "a keeper missing" },
    { "{\"dir\": \"/run/firec/vm-1\", \"keeper\": {\"pid\": 0, \"start_time\": 1}}",
      "74 the record state.json is damaged: \"pid\" is not a whole number from 1 to 2147483647", "pid 0" },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (cases); i++)
    {
      cleanup_free char *text = with_console (r, cases[i].console);
      cleanup_free char *error = NULL;
      cleanup_record struct firec_record *back = parse (text, &error);
      TAP_STR_EQ (error, cases[i].error, "%s", cases[i].what);
      if (cases[i].error == NULL)
        tap_ok (back && back->console.dir == NULL && back->console.keeper.pid == 0, "... no keeper");
    }
}

/* The record's JSON with member key replaced by value (NULL: removed). */
static char *
with_member (cJSON *json, const char *key, const char *value)
{
  cJSON_DeleteItemFromObjectCaseSensitive (json, key);
  if (value)
    cJSON_AddItemToObject (json, key, cJSON_Parse (value));
  return cJSON_PrintUnformatted (json);
}

/* What the run made and what it only named or found in place (record.h):
   kept through a write and a read; a record of an earlier firec-run, which
   had none of it, reads as it was meant (its jail made, its outputs its own). */
static void
test_ownership (void)
{
  cleanup_record struct firec_record *r = sample ();
  r->jailer = true;
  r->jail_dir = firec_xstrdup ("/srv/jailer/firecracker/vm-1");
  r->chroot_base = firec_xstrdup ("/srv/jailer");
  free (r->vm_root);
  r->vm_root = firec_xstrdup ("/srv/jailer/firecracker/vm-1/root");
  r->jail = FIREC_JAIL_NOT_OURS;
  r->firec_start_time = 123456789;
  size_t o = firec_record_add_output (r, "/var/log/vm-1.log");
  r->outputs[o].not_ours = true;
  cleanup_cjson cJSON *json = firec_record_to_json (r);
  cleanup_free char *text = cJSON_PrintUnformatted (json);
  cleanup_free char *error = NULL;
  cleanup_record struct firec_record *back = parse (text, &error);
  TAP_STR_EQ (error, NULL, "a record naming what is not the run's reads back");
  tap_ok (back && back->jail == FIREC_JAIL_NOT_OURS && !firec_record_owns_root (back), "... a jail not ours");
  tap_ok (back && back->output_count == 1 && back->outputs[0].not_ours, "... an output not ours");
  tap_ok (back && back->firec_start_time == 123456789, "... the run's start time");

  cleanup_free char *older = with_member (json, "jail", NULL);
  cleanup_record struct firec_record *old = parse (older, &error);
  tap_ok (old && old->jail == FIREC_JAIL_MADE && firec_record_owns_root (old),
          "a record of an earlier firec-run (no \"jail\"): the jail it names is its own");
  cleanup_free char *bad = with_member (json, "jail", "\"mine\"");
  cleanup_record struct firec_record *damaged = parse (bad, &error);
  tap_ok (damaged == NULL, "a record with a jail state firec-run does not write is not read");
  TAP_STR_EQ (error, "74 the record state.json is damaged: \"jail\" is \"mine\", not one firec-run writes",
              "... the error says why");
  r->jail = FIREC_JAIL_INTENDED;
  tap_ok (!firec_record_owns_root (r), "a jail only named is not the run's (its processes are not the VM's)");
  r->jailer = false;
  tap_ok (firec_record_owns_root (r), "without the jailer the root, in the state directory, is the run's");
}

static void
test_keeper_args (void)
{
  static const char keeper[] = "/usr/libexec/firec/firec-supervise\0--console\0--state-dir\0/run/firec/vm-1\0"
                               "--master-fd\0003\0--socket-fd\0004\0--dir-fd\0005";
  tap_ok (firec_console_is_keeper (keeper, sizeof keeper, "/run/firec/vm-1"), "a keeper is known by its arguments");
  tap_ok (!firec_console_is_keeper (keeper, sizeof keeper, "/run/firec/vm-10"), "... of its state directory only");
  tap_ok (!firec_console_is_keeper (keeper, sizeof keeper, "/run/firec/vm"), "... not of a prefix of it");
  static const char shell[] = "/bin/sh\0-c\0--console --state-dir /run/firec/vm-1";
  tap_ok (!firec_console_is_keeper (shell, sizeof shell, "/run/firec/vm-1"),
          "a command line that mentions it is not one");
  static const char guard[] = "firec-supervise\0--guard\0003\0--state-root\0/run/firec\0--name\0vm-1";
  tap_ok (!firec_console_is_keeper (guard, sizeof guard, "/run/firec/vm-1"), "the guard is not one");
  tap_ok (!firec_console_is_keeper (keeper, 20, "/run/firec/vm-1"), "cut short, it is not one");
}

int
main (void)
{
  test_round_trip ();
  test_older_and_damaged ();
  test_ownership ();
  test_keeper_args ();
  return tap_done ();
}
