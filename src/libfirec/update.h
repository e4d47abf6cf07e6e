/* SPDX-License-Identifier: Apache-2.0 */
/* update: the host side of changing a running VM: `update drive` and apply's
   live updates. A new backing file is staged into the jail like at start
   (stage.c, through the walker: nothing in the jail is followed, every check
   is fd-relative), at the place a start would have put it, before Firecracker
   is told; when Firecracker refuses the change, it is taken out of the jail
   again. The API socket of a jailed VM is reached through the walker too. */
#ifndef FIREC_UPDATE_H
#define FIREC_UPDATE_H

#include <stdbool.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "fcapi.h"
#include "state.h"

struct firec_drive_update
{
  const char *api_socket; /* the VM's API socket on the host */
  const char *vm_root;    /* the jail root (the socket is reached through it); NULL without the jailer */
  uid_t uid;              /* the jail's ids, who must be able to use the new file */
  gid_t gid;
  const char *drive_id;
  const char *host_path; /* the new backing file, absolute; NULL keeps the current one */
  bool writable;         /* the drive is not read-only */
  /* What names the new file in errors: the manifest's field with its position
     ("vm.yaml:14:21: /spec/drives/0/path_on_host"); NULL: the drive alone (a
     command line has no position). */
  const char *where;
  const cJSON *rate_limiter; /* a new rate limiter object, or NULL */
  /* The VM (its state root and name), whose record names a new file once it
     passes the checks a start makes of its files (preflight.h); NULL: no
     such check (drift's question whether the name in the jail is free). */
  const struct firec_state *state;
  const char *name;
};

/* Checks host_path (if any) as a start checks its files, against the other
   VMs too, and names it in the VM's record (firec_preflight_new_file:
   FIREC_ERR_PRECONDITION, nothing changed); stages it as
   /drives/<drive_id>/<its base name> in the jail, then PATCH
   /drives/<drive_id>. A PATCH refused leaves the file named in the record
   (other runs see it used until the VM goes: they refuse more, never less). A name already taken there by that very
   file (the same device and inode: what a start linked or bind-mounted) is used as it is; by any other file,
   FIREC_ERR_INVALID. A failed PATCH unstages what was staged. */
int firec_update_drive (const struct firec_drive_update *u, firec_error_t *err);

/* Whether firec_update_drive can give the drive host_path: 0, or the error it
   would fail with (the name in the jail taken by another file; with state,
   the checks of the file). Changes nothing. */
int firec_update_drive_check (const struct firec_drive_update *u, firec_error_t *err);

/* The path of host_path as Firecracker sees it once staged for drive_id:
   /drives/<drive_id>/<base name> in the jail, host_path itself without. */
char *firec_update_drive_vm_path (const char *drive_id, const char *host_path, bool jailed);

/* A client of the VM's API: the socket reached through the walker below
   vm_root (NULL without the jailer: api_socket as it is), so that a socket the
   jail's uid swapped for a symlink never sends root's requests elsewhere.
   *sock_fd (-1 without the jailer) holds the socket the client connects
   through: close it after the client. */
int firec_update_open_api (const char *vm_root, const char *api_socket, int *sock_fd, struct firec_fcapi **api,
                           firec_error_t *err);

#endif
