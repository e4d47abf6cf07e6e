/* SPDX-License-Identifier: Apache-2.0 */
/* converge: makes a running VM what its manifest says, in place, from a drift
   (drift.h) whose action is update or resume. One API call per live
   difference — PATCH /drives (a new file staged through update.c),
   PATCH /network-interfaces, PATCH /balloon, PATCH /balloon/statistics,
   PUT /mmds — then PATCH /vm Resumed for a paused VM; then the record takes
   the manifest that is now true (the stored manifest and the record's digest,
   record.h), so that applying the same manifest again changes nothing. The
   VMM stays the same process. The caller holds the VM's lock (or the VM is
   attached, and its lock is its supervisor's). */
#ifndef FIREC_CONVERGE_H
#define FIREC_CONVERGE_H

#include <stdbool.h>

#include "drift.h"
#include "error.h"
#include "lifecycle.h"
#include "plan.h"

/* Whether firec_converge would pass the checks it makes before the first
   change: every new backing file as a start checks its files, against the
   other VMs too (firec_update_drive_check). Changes nothing. */
int firec_converge_check (const struct firec_plan *plan, const struct firec_vm_info *info,
                          const struct firec_drift *drift, firec_error_t *err);

/* *changed: whether anything was changed (also when a later call failed: a
   VM half updated is still changed; the record then stays, so the next apply
   sees what is left to do). */
int firec_converge (const struct firec_plan *plan, const struct firec_vm_info *info, const struct firec_drift *drift,
                    bool *changed, firec_error_t *err);

#endif
