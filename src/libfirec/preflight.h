/* SPDX-License-Identifier: Apache-2.0 */
/* preflight: everything knowable from the host before the first change —
   capabilities, /dev/kvm, the binaries and their versions, the source files and
   what the jail's uid may do with them, the cgroups, and whether the VM or its
   jail is already there. Every preflight step adds findings; none changes the
   host; at the end all of them are reported at once (exit 3, or 4 when the VM
   is held by another run). */
#ifndef FIREC_PREFLIGHT_H
#define FIREC_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "plan.h"
#include "stage.h"
#include "state.h"
#include "version.h"

struct firec_preflight_finding
{
  const struct firec_step *step;
  char *message;
  bool locked; /* held by another run: exit 4 rather than 3 */
};

/* How the VM uses a file the manifest names. */
enum firec_preflight_use
{
  FIREC_USE_READ,         /* an input the VM reads */
  FIREC_USE_WRITE,        /* the VM writes it in place: a writable drive or pmem, a FIFO output */
  FIREC_USE_OUTPUT_ASIDE, /* an output's earlier file, moved aside for a new one */
  FIREC_USE_DATA,         /* firec-run reads it (an MMDS or cpu-config file, a binary): not the VM */
};

/* A file the manifest names that exists, by identity (a block device by its
   device number, ino 0). */
struct firec_preflight_file
{
  const char *where; /* the field's position, borrowed from the model */
  const char *path;
  dev_t dev;
  ino_t ino;
  enum firec_preflight_use use;
  bool output; /* the field is an output */
};

struct firec_other_vm;

struct firec_preflight
{
  const struct firec_plan *plan;
  struct firec_preflight_finding *findings;
  size_t finding_count;
  enum firec_remedy remedy; /* the first finding's that has one: the failure's */
  char *remedy_arg;

  /* What preflight learned, for the steps after it. */
  char *firecracker_path; /* absolute */
  char *jailer_path;
  char *firecracker_version;
  struct firec_access *access; /* the jail uid's rights on the sources */
  size_t access_count;
  struct firec_preflight_file *files; /* every file that exists, for the record and the other VMs' check */
  int *input_fds;                     /* per model file: an O_PATH fd of the input checked, staged as it is; -1: none */
  size_t file_count;
  int *tap_ifindex; /* per model TAP: the device that exists, 0: the run creates it */

  /* The other VMs' records the check against them parsed, for its recheck. */
  struct firec_other_vm *other_vms;
  size_t other_vm_count;

  /* The version probes run while the later preflight steps do. */
  struct firec_version_probe fc_probe, jailer_probe;
  bool probes_started;
  const struct firec_step *binaries_step;
};

void firec_preflight_init (struct firec_preflight *pf, const struct firec_plan *plan);
void firec_preflight_release (struct firec_preflight *pf);

/* Runs one preflight step (its findings are kept). */
void firec_preflight_step (struct firec_preflight *pf, const struct firec_step *step);
/* A finding a test seam injects. */
void firec_preflight_add (struct firec_preflight *pf, const struct firec_step *step, bool locked, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* The check against the other VMs of the state root again, once this run's
   record names its files: of two runs that passed preflight together, the
   later to write its record sees the other (both may refuse; never both run).
   FIREC_ERR_PRECONDITION naming each file and VM. It parses again only the
   records whose bytes changed since preflight read them (a record is a
   function of its bytes: the verdict is a fresh read's). */
int firec_preflight_recheck_others (struct firec_preflight *pf, firec_error_t *err);
/* Frees what the checks against the other VMs kept, once the run has started
   (no recheck follows). */
void firec_preflight_forget_others (struct firec_preflight *pf);

/* A file a running VM is to use from now on (update drive --path, apply's
   live update of a drive's file). */
struct firec_preflight_new_file
{
  const struct firec_state *state; /* the VM's state root */
  const char *name;                /* the VM */
  bool jailed;                     /* the jail's uid opens it (uid, gid); without the jailer, firec-run */
  uid_t uid;
  gid_t gid;
  const struct firec_file *file; /* as it will be staged */
};

/* The checks a start makes of each of its files (preflight.sources), for
   this one: it is there and of a kind its role reads, the jail's uid may use
   it as it will be staged, and no other running VM of the state root writes
   it (or reads it, when this VM would write it). With claim, the VM's record
   names it in the same step as the other VMs are checked (the state root's
   lock), so that later runs see it. FIREC_ERR_PRECONDITION naming the file's
   field and the other VM; nothing is changed then. */
int firec_preflight_new_file (const struct firec_preflight_new_file *nf, bool claim, firec_error_t *err);

/* After the last preflight step: waits for the version probes, and fails with
   every finding (FIREC_ERR_LOCKED when one says another run holds the VM,
   FIREC_ERR_PRECONDITION otherwise), in plan order. */
int firec_preflight_finish (struct firec_preflight *pf, firec_error_t *err);

#endif
