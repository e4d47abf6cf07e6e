/* SPDX-License-Identifier: Apache-2.0 */
/* The one teardown: what a run made on the host, removed from its record. A
   failed start (rollback), the end of an attached VM (its supervisor, or the
   guard when the supervisor died) and `rm` all come here, so that each kind of
   leftover is removed in one place. */
#ifndef FIREC_TEARDOWN_H
#define FIREC_TEARDOWN_H

#include <stdbool.h>

#include "error.h"
#include "record.h"
#include "state.h"

enum firec_teardown_kind
{
  FIREC_TEARDOWN_ROLLBACK, /* a start failed: output files this run created go too */
  FIREC_TEARDOWN_END,      /* the VM ran: its output files (its logs) stay */
};

/* With the VM's lock held (lock_fd): kills every process of the VM the host
   shows (discover.h: the VMM, the jailer, the console keeper), detaches the
   mounts below its root and removes its jail (or run directory), the outputs
   it created when rolling back, the TAP devices it created (while they are
   still those devices), its cgroups and
   the parents made for them once empty; then, only when nothing is left, its
   state directory and its lock (lock_fd is closed then, and set to -1).
   Otherwise the record stays, so that `rm` can try again, and the error
   (FIREC_ERR_LEFTOVERS) lists each leftover. */
int firec_teardown (const struct firec_state *st, const struct firec_record *r, enum firec_teardown_kind kind,
                    int *lock_fd, firec_error_t *err);

/* The same for a VM whose record was lost, r being what the host showed of
   it (discover.h): unknown ("\n  - ..." lines, or NULL) is what may be the
   VM's but could not be found or told apart; each is a leftover, so that
   the state directory stays and the error says what may be left. */
int firec_teardown_found (const struct firec_state *st, const struct firec_record *r, const char *unknown, int *lock_fd,
                          firec_error_t *err);

#endif
