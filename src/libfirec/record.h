/* SPDX-License-Identifier: Apache-2.0 */
/* The VM record: one typed struct for what a run created on the host and how
   to stop it, one reader, one writer (crun's libcrun_container_status_t is the
   model). It lives in <state root>/<name>/state.json and is written atomically
   *before* each side effect it describes — the jail, the cgroups and the output
   files are named before they are made, a process as soon as it exists — so
   that whatever instant firec-run dies at, `rm` finds everything from it and
   from the host. A record that does not parse is an error (EBADMSG), never
   "not running".

   Named before it is made is not yet made: a resource is the run's only once
   its own creation succeeded (a mkdir, a TAP made with IFF_TUN_EXCL, an
   output file made with O_EXCL). One that was there when the run went to make
   it is another's — another run of the name (another state root), another
   tool — and the record says so before the run fails, so that no teardown
   removes it or kills what runs in it. */
#ifndef FIREC_RECORD_H
#define FIREC_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "model.h"

#define FIREC_RECORD_FORMAT_VERSION 2

enum firec_record_phase
{
  FIREC_PHASE_CREATING, /* state made; staging the jail; nothing runs yet */
  FIREC_PHASE_STARTING, /* the jailer or firecracker was started */
  FIREC_PHASE_RUNNING,  /* InstanceStart confirmed */
  FIREC_PHASE_STOPPED,  /* the stop policy ran; what is left waits for `rm` */
};

/* A process the record names: trusted only while it still started at
   start_time (a reused pid is never taken for the VM). */
struct firec_record_process
{
  pid_t pid; /* 0: none */
  unsigned long long start_time;
};

/* An output file a run created on the host (output.h): rollback removes
   exactly these, only while they are still that file, and moves back what was
   moved aside for them. */
struct firec_record_output
{
  char *path;
  dev_t dev; /* 0 until made (the record names it before it exists) */
  ino_t ino;
  unsigned moved; /* names moved aside for it (<path>, <path>.1 ...), 0: the path was free */
  dev_t was_dev;  /* with moved: the file that was at <path> (now <path>.1) */
  ino_t was_ino;
  bool not_ours; /* a file took the path as the run went to make it: never removed */
};

/* The jail (with the jailer): named before the run's mkdir makes it. */
enum firec_record_jail
{
  FIREC_JAIL_MADE,     /* made by this run: removed with the VM, its processes are the VM's */
  FIREC_JAIL_INTENDED, /* not made yet: one there is ours only if it is what that mkdir left (empty) */
  FIREC_JAIL_NOT_OURS, /* the mkdir found one there: another run's, never touched */
};

/* A host file the VM uses in place (an input, or a FIFO output), by identity:
   another run's preflight compares its files with these, so that no file one
   VM writes is used by another. A block device is (st_rdev, 0). Written before
   the jail is staged. */
struct firec_record_file
{
  dev_t dev;
  ino_t ino;
  bool writable; /* the VM writes it */
};

/* The TAP device of a network interface. One the run created (owned) is
   named before it exists (ifindex 0), and by its ifindex once it does: the
   teardown removes it, and only while it is still that device. One that
   existed before is listed (for status) and never touched. */
struct firec_record_tap
{
  char *iface_id;
  char *name;
  char *netns;                  /* jailer.netns, or NULL: the host's namespace */
  unsigned long long netns_ino; /* that namespace's identity (nsfs inode), 0 for the host's */
  bool owned;                   /* created by this run */
  int ifindex;                  /* 0 until made */
};

/* The console keeper of a run that started one (console.h): named before it
   is started (dir set, keeper pid 0: the host shows it by its arguments), then
   its process. */
struct firec_record_console
{
  char *dir; /* the VM's state directory, where the keeper keeps the log and its socket; NULL: no keeper */
  struct firec_record_process keeper;
};

struct firec_record
{
  char *name;
  enum firec_record_phase phase;
  char *manifest;                      /* the file given to firec-run */
  char *digest;                        /* firec_model_digest; NULL when unknown */
  enum firec_run_mode mode;            /* as this run goes: `run -d` makes it daemon */
  pid_t firec_pid;                     /* the firec-run that started it (and supervises it, attached) */
  unsigned long long firec_start_time; /* ...and its start time (0: unknown, an earlier firec-run's record) */

  bool jailer;
  char *jail_dir; /* NULL without the jailer */
  enum firec_record_jail jail;
  char *chroot_base;         /* the jailer's --chroot-base-dir (NULL without it) */
  char *exec_name;           /* what the jailer names the jail and the pid file after */
  char *vm_root;             /* the VM's "/" on the host */
  char *api_socket;          /* its host path */
  char *firecracker_version; /* NULL until known */
  uid_t uid;
  gid_t gid;

  struct firec_stop_step *stop;
  size_t stop_count;
  long stop_timeout_ms;

  char **cgroup_dirs;    /* NULL-terminated: the ones the jailer makes for this VM */
  char **cgroup_parents; /* NULL-terminated: parents that did not exist; removed when empty */
  struct firec_record_output *outputs;
  size_t output_count;
  struct firec_record_tap *taps;
  size_t tap_count;
  struct firec_record_file *files; /* absent in records of an earlier firec-run: none */
  size_t file_count;

  struct firec_record_process jailer_process; /* what we spawned (the jailer, or firecracker) */
  struct firec_record_process vmm;            /* firecracker */
  /* Optional in state.json (records of firec-run before console keepers
     have none): read as no keeper. */
  struct firec_record_console console;
  long long started_at; /* Unix time of InstanceStart, 0 before */
};

const char *firec_record_phase_name (enum firec_record_phase phase);
const char *firec_record_jail_name (enum firec_record_jail jail);

/* Whether the VM's root is this run's: without the jailer it is in the
   state directory; a jail only once the run's mkdir made it. Only then is a
   process in it the VM's. */
bool firec_record_owns_root (const struct firec_record *r);

/* The record a run of model starts with (phase creating; no processes yet;
   no digest: the run adds it). */
struct firec_record *firec_record_new (const struct firec_model *model, enum firec_run_mode mode);
void firec_record_free (struct firec_record *r);
static inline void
firec_record_freep (struct firec_record **r)
{
  firec_record_free (*r);
}
#define cleanup_record __attribute__ ((cleanup (firec_record_freep)))

/* Adds an output the run is about to create (dev/ino 0) and returns its index. */
size_t firec_record_add_output (struct firec_record *r, const char *path);
/* Adds an interface's TAP (ifindex 0 until known) and returns its index. */
size_t firec_record_add_tap (struct firec_record *r, const char *iface_id, const char *name, const char *netns,
                             unsigned long long netns_ino, bool owned);
void firec_record_drop_tap (struct firec_record *r, size_t index);
void firec_record_add_file (struct firec_record *r, dev_t dev, ino_t ino, bool writable);

cJSON *firec_record_to_json (const struct firec_record *r);
/* Parses and checks every field: anything missing or of the wrong type is
   EBADMSG, with what is wrong in the message (file names it). */
int firec_record_from_json (const char *text, size_t len, const char *file, struct firec_record **ret,
                            firec_error_t *err);

/* state.json in the VM's state directory (dir_fd; shown_dir for messages).
   Reading an absent record gives *ret NULL and 0. The writer writes it twice:
   state.json, then the same record as identity.json, the copy that `rm` and
   other runs' preflight go by when state.json is damaged (by a disk, a hand);
   so that copy too knows every host resource the run made. */
int firec_record_read (int dir_fd, const char *shown_dir, struct firec_record **ret, firec_error_t *err);
int firec_record_write (int dir_fd, const char *shown_dir, const struct firec_record *r, firec_error_t *err);
/* identity.json, read as firec_record_read reads state.json. */
int firec_record_read_copy (int dir_fd, const char *shown_dir, struct firec_record **ret, firec_error_t *err);

/* firec_record_read for a reader that keeps the bytes it parsed (*text, *len;
   NULL: none yet): when state.json holds those very bytes, 1 and *ret NULL
   without parsing them again (a record is ~1 KB to read, ~0.1M instructions to
   parse); else as firec_record_read, and on success *text and *len become the
   bytes just parsed (the old ones freed). */
int firec_record_read_changed (int dir_fd, const char *shown_dir, char **text, size_t *len, struct firec_record **ret,
                               firec_error_t *err);

/* manifest.json beside the record: the resolved manifest the VM runs as, in
   the form `render` writes (firec_model_to_manifest, which the caller makes:
   firec-supervise links this without the model), so that it reads back as a
   manifest. Written when a run begins, and again when apply changes the VM
   in place (with the record's digest): it is always the manifest that is true
   of the VM. Reading an absent one gives *ret NULL and 0; one that is not a
   JSON object is EBADMSG. */
int firec_record_write_manifest (int dir_fd, const char *shown_dir, const cJSON *manifest, firec_error_t *err);
int firec_record_read_manifest (int dir_fd, const char *shown_dir, cJSON **ret, firec_error_t *err);

#endif
