/* SPDX-License-Identifier: Apache-2.0 */
/* lower: model -> plan. The plan is data, an ordered array of typed steps; `plan`
   prints it and the interpreter runs exactly these records. */
#ifndef FIREC_PLAN_H
#define FIREC_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "model.h"
#include "util.h"

#define FIREC_PLAN_FORMAT_VERSION 1

enum firec_step_kind
{
  FIREC_STEP_PREFLIGHT_CAPS,     /* effective capabilities the jailer path needs */
  FIREC_STEP_PREFLIGHT_KVM,      /* /dev/kvm read-write */
  FIREC_STEP_PREFLIGHT_BINARIES, /* firecracker (and jailer) present, executable, new enough */
  FIREC_STEP_PREFLIGHT_SOURCES,  /* every input file readable, outputs creatable */
  FIREC_STEP_PREFLIGHT_JAIL,     /* chroot base exists, jail not in use, socket paths usable */
  FIREC_STEP_PREFLIGHT_NETWORK,  /* each existing TAP usable by the VM's uid; CAP_NET_ADMIN to create the others */
  FIREC_STEP_STATE_CREATE,       /* state directory and record, first thing, so a crash is recoverable */
  FIREC_STEP_STAGE_JAIL,         /* create the VM's root directory */
  FIREC_STEP_STAGE_FILE,         /* put one host file into the VM's root */
  FIREC_STEP_NET_TAP,            /* create an interface's TAP device unless it exists */
  FIREC_STEP_SPAWN,              /* exec the jailer or firecracker */
  FIREC_STEP_API_WAIT,           /* the API socket answers GET / */
  FIREC_STEP_API_REQUEST,        /* one configuration call */
  FIREC_STEP_API_CONFIRM,        /* GET / reports the expected state */
  FIREC_STEP_STATE_RECORD,       /* record the running VM (pid, start time) */
};

/* The strings a step points to live in its plan's arena (plan->strings): they
   go with the plan, and are never freed one by one. */
struct firec_step
{
  enum firec_step_kind kind;
  char *id;                   /* stable: "stage.drive.rootfs", "api.put.machine-config" */
  char *source;               /* JSON pointer of the manifest part the step comes from, or NULL */
  char *min_version;          /* oldest Firecracker that accepts this step ("1.14"), NULL for any */
  char **min_version_reasons; /* NULL-terminated: the fields that need min_version */

  char **argv;                   /* SPAWN: NULL-terminated */
  char *method;                  /* API_REQUEST */
  char *path;                    /* API_REQUEST */
  cJSON *body;                   /* API_REQUEST: NULL for none */
  const struct firec_file *file; /* STAGE_FILE: points into the model */
  const struct firec_tap *tap;   /* NET_TAP: points into the model */
  char *expect_state;            /* API_CONFIRM: "Running" or "Paused" */
};

struct firec_plan
{
  const struct firec_model *model; /* borrowed */
  struct firec_step *steps;
  size_t count;
  char *min_firecracker_version; /* the maximum over the steps; "1.5" when nothing newer is needed */
  struct firec_arena strings;    /* every string of the steps: ~100 per plan, one free */
};

/* Lowers a model. Reads the files the manifest names as data (mmds data_file,
   cpu-config file) and nothing else on the host. */
int firec_plan_build (const struct firec_model *model, struct firec_plan **ret, firec_error_t *err);
void firec_plan_free (struct firec_plan *plan);
static inline void
firec_plan_freep (struct firec_plan **p)
{
  firec_plan_free (*p);
}
#define cleanup_plan __attribute__ ((cleanup (firec_plan_freep)))

const char *firec_step_kind_name (enum firec_step_kind kind);

/* A step in words: built from the step and the plan's model when shown (plan's
   output, run's progress lines), not stored in the plan, which the
   interpreter runs without it. */
struct firec_step_prose
{
  char *description;
  char **touches; /* NULL-terminated: host paths or resources the step changes or reads */
  char *undo;     /* what undoing it does; NULL when there is nothing to undo */
};
void firec_step_prose (const struct firec_plan *plan, const struct firec_step *step, struct firec_step_prose *ret);
void firec_step_prose_release (struct firec_step_prose *prose);

/* The step with this id ("api.put.mmds"), or NULL. */
const struct firec_step *firec_plan_find_step (const struct firec_plan *plan, const char *id);

/* {format_version, name, min_firecracker_version, steps: [...]} */
cJSON *firec_plan_to_json (const struct firec_plan *plan);
/* Numbered, one line per step, with what it touches and its undo. */
char *firec_plan_to_text (const struct firec_plan *plan);

/* The equivalent Firecracker --config-file document (paths as Firecracker sees them). */
cJSON *firec_plan_firecracker_config (const struct firec_plan *plan);

/* Compares dotted versions ("1.5.1" vs "1.14"): <0, 0, >0. */
int firec_version_compare (const char *a, const char *b);

#endif
