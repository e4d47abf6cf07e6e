/* update: the host side of `update drive` on a running VM. A new backing file
   is staged into the jail like at start (stage.c, through the walker: nothing
   in the jail is followed, every check is fd-relative), at the place a start
   would have put it, before Firecracker is told; when Firecracker refuses the
   change, it is taken out of the jail again. */
#ifndef FIREC_UPDATE_H
#define FIREC_UPDATE_H

#include <stdbool.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "error.h"

struct firec_drive_update
{
  const char *api_socket;     /* the VM's API socket on the host */
  const char *vm_root;        /* the jail root (the socket is reached through it); NULL without the jailer */
  uid_t uid;                  /* the jail's ids, who must be able to use the new file */
  gid_t gid;
  const char *drive_id;
  const char *host_path;      /* the new backing file, absolute; NULL keeps the current one */
  bool writable;              /* the drive is not read-only */
  const cJSON *rate_limiter;  /* a new rate limiter object, or NULL */
};

/* Stages host_path (if any) as /drives/<drive_id>/<its base name> in the jail,
   then PATCH /drives/<drive_id>. A name already taken there is
   FIREC_ERR_INVALID; a failed PATCH unstages the new file. */
int firec_update_drive (const struct firec_drive_update *u, firec_error_t *err);

#endif
