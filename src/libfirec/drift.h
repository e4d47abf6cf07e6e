/* SPDX-License-Identifier: Apache-2.0 */
/* drift: how a VM differs from a manifest. The wanted model (and its plan) is
   compared with what the VM runs as — its record and stored manifest (record.h)
   — and with live facts from Firecracker: GET / (paused?), GET /vm/config (the
   drives', interfaces' and balloon's settings now) and GET /mmds, so that a
   change made outside apply (a pause, `mmds put`, `update drive`) is seen too,
   not only a manifest that changed. Each difference says how apply reconciles
   it: a live update through the API, a restart (apply --replace), or a state
   change (start, resume). `diff` reports them; `apply` acts on them
   (converge.h). Reads only: nothing on the host or the VM changes. */
#ifndef FIREC_DRIFT_H
#define FIREC_DRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "lifecycle.h"
#include "plan.h"

enum firec_reconcile
{
  FIREC_RECONCILE_LIVE,    /* changed on the running VM, same VMM */
  FIREC_RECONCILE_RESTART, /* only a new VM can have it: apply --replace */
  FIREC_RECONCILE_STATE,   /* the VM's state: start it, or resume it */
};

/* What a live difference changes on the running VM. */
enum firec_live_kind
{
  FIREC_LIVE_RECORD,              /* nothing on the VM (labels, staging...): the record only */
  FIREC_LIVE_DRIVE_PATH,          /* PATCH /drives/ID path_on_host, the file staged first */
  FIREC_LIVE_DRIVE_RATE_LIMITER,  /* PATCH /drives/ID rate_limiter */
  FIREC_LIVE_IFACE_RATE_LIMITERS, /* PATCH /network-interfaces/ID rx and tx */
  FIREC_LIVE_BALLOON_TARGET,      /* PATCH /balloon */
  FIREC_LIVE_BALLOON_STATISTICS,  /* PATCH /balloon/statistics */
  FIREC_LIVE_MMDS,                /* PUT /mmds */
};

struct firec_drift_item
{
  char *path;    /* JSON pointer into the manifest; "/status/state" for the VM's state */
  cJSON *wanted; /* NULL: absent */
  cJSON *actual; /* NULL: absent */
  enum firec_reconcile how;
  enum firec_live_kind live; /* LIVE only */
  char *id;                  /* the drive or interface a live change is for, else NULL */
  const char *source;        /* where actual was seen: "manifest" (the one the VM runs as), "vm/config", "mmds",
                                "vm" (GET /), "record" */
  char *note;                /* why it is classed so, when that needs saying; NULL */
};

enum firec_drift_action
{
  FIREC_DRIFT_NONE,    /* as wanted */
  FIREC_DRIFT_START,   /* absent, or ended/stale (removed first): start it */
  FIREC_DRIFT_REPLACE, /* something only a restart changes: stop, remove, start (--replace) */
  FIREC_DRIFT_UPDATE,  /* live changes only (and a resume when paused) */
  FIREC_DRIFT_RESUME,  /* only paused */
};

struct firec_drift
{
  struct firec_drift_item *items; /* sorted by path */
  size_t count;
  enum firec_drift_action action;
  bool paused;
};

const char *firec_drift_action_name (enum firec_drift_action action);
const char *firec_reconcile_name (enum firec_reconcile how);

/* Compares plan's model with the VM info describes (inspected, not damaged
   nor being started: those are errors, FIREC_ERR_PRECONDITION and
   FIREC_ERR_LOCKED, since nothing can be decided). A VM that runs is asked
   for its live facts: an API that does not answer is an error. */
int firec_drift_compute (const struct firec_plan *plan, const struct firec_vm_info *info, struct firec_drift *ret,
                         firec_error_t *err);
void firec_drift_release (struct firec_drift *drift);

/* [{path, wanted, actual, reconcile, source, note?}] */
cJSON *firec_drift_to_json (const struct firec_drift *drift);
/* One line per difference: "  /spec/x: OLD -> NEW (live: ...)". */
char *firec_drift_to_text (const struct firec_drift *drift);

#endif
