/* SPDX-License-Identifier: Apache-2.0 */
/* The record's fields for output files and for the files a VM uses (record.h):
   they survive a write and a read, a record of an earlier firec-run (without
   them) still reads, and a damaged one is EBADMSG. */
#include "config.h"

#include "record.h"
#include "util.h"

#include "tap.h"

#include <errno.h>
#include <string.h>

/* A record as firec-run wrote it before these fields (format 2). */
static const char earlier[]
    = "{\"format_version\": 2, \"name\": \"vm\", \"phase\": \"starting\", \"manifest\": \"vm.yaml\", \"digest\": null,"
      " \"mode\": \"daemon\", \"firec_pid\": 1, \"jailer\": false, \"jail_dir\": null, \"chroot_base\": null,"
      " \"exec_name\": \"firecracker\", \"vm_root\": \"/run/firec/vm/root\", \"api_socket\": \"/run/firec/vm/root/s\","
      " \"firecracker_version\": null, \"uid\": 0, \"gid\": 0, \"stop\": [], \"stop_timeout_ms\": 1000,"
      " \"cgroup_dirs\": [], \"cgroup_parents\": [],"
      " \"outputs\": [{\"path\": \"/var/log/vm.log\", \"dev\": 0, \"ino\": 0}],"
      " \"jailer_process\": null, \"vmm\": null, \"started_at\": 0}";

static struct firec_record *
parse (const char *text, firec_error_t *err)
{
  struct firec_record *r = NULL;
  firec_record_from_json (text, strlen (text), "state.json", &r, err);
  return r;
}

static char *
replaced (const char *text, const char *from, const char *to)
{
  const char *at = strstr (text, from);
  if (at == NULL)
    abort ();
  return firec_xasprintf ("%.*s%s%s", (int) (at - text), text, to, at + strlen (from));
}

int
main (void)
{
  firec_error_t err = NULL;
  cleanup_record struct firec_record *r = parse (earlier, &err);
  tap_ok (r && r->output_count == 1 && r->outputs[0].moved == 0 && r->file_count == 0,
          "a record of an earlier firec-run reads: nothing moved aside, no files named%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  if (r == NULL)
    return tap_done ();

  r->outputs[0].dev = 2049;
  r->outputs[0].ino = 77;
  r->outputs[0].moved = 3;
  r->outputs[0].was_dev = 2049;
  r->outputs[0].was_ino = 12;
  firec_record_add_file (r, 2049, 1234, true);
  firec_record_add_file (r, 259 << 8, 0, false); /* a block device */
  cleanup_cjson cJSON *json = firec_record_to_json (r);
  cleanup_free char *text = cJSON_Print (json);
  cleanup_record struct firec_record *back = parse (text, &err);
  tap_ok (back && back->output_count == 1 && back->outputs[0].dev == 2049 && back->outputs[0].ino == 77
              && back->outputs[0].moved == 3 && back->outputs[0].was_dev == 2049 && back->outputs[0].was_ino == 12,
          "an output's rotation (names moved, the file that was there) survives a write and a read");
  tap_ok (back && back->file_count == 2 && back->files[0].dev == 2049 && back->files[0].ino == 1234
              && back->files[0].writable && back->files[1].dev == (dev_t) (259 << 8) && back->files[1].ino == 0
              && !back->files[1].writable,
          "the files the VM uses, and whether it writes them, survive a write and a read");
  firec_error_release (&err);

  struct
  {
    const char *from, *to, *what;
  } damaged[] = {
    { "\"ino\": 0}]", "\"ino\": 0, \"moved\": -1}]", "a negative number of names moved aside" },
    { "\"ino\": 0}]", "\"ino\": 0, \"was_ino\": \"12\"}]", "a was_ino that is not a number" },
    { "\"jailer_process\"", "\"files\": {}, \"jailer_process\"", "files that are not an array" },
    { "\"jailer_process\"", "\"files\": [{\"dev\": 1, \"ino\": 2}], \"jailer_process\"", "a file without writable" },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (damaged); i++)
    {
      cleanup_free char *bad = replaced (earlier, damaged[i].from, damaged[i].to);
      cleanup_record struct firec_record *d = parse (bad, &err);
      tap_ok (d == NULL && err && err->errno_value == EBADMSG, "damaged: %s is EBADMSG", damaged[i].what);
      firec_error_release (&err);
    }
  return tap_done ();
}
