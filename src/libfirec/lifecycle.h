/* supervise, from the outside: what the state record and the live process say
   about a VM, and the operations on it after InstanceStart (status, stop, kill,
   rm, and API calls on a running VM). A recorded pid is trusted only when its
   start time matches, so a reused pid is never taken for the VM. */
#ifndef FIREC_LIFECYCLE_H
#define FIREC_LIFECYCLE_H

#include <stdbool.h>
#include <sys/types.h>
#include <cjson/cJSON.h>

#include "error.h"
#include "fcapi.h"

enum firec_vm_state
{
  FIREC_VM_ABSENT,   /* nothing recorded */
  FIREC_VM_STARTING, /* a firec-run is starting it now */
  FIREC_VM_RUNNING,
  FIREC_VM_PAUSED,
  FIREC_VM_EXITED,   /* recorded, the VM has ended; `rm` removes what is left */
  FIREC_VM_STALE,    /* left by a firec-run that died; `rm` removes it */
};

struct firec_vm_info
{
  char *name;
  char *state_dir;
  enum firec_vm_state state;
  cJSON *record; /* state.json, NULL when there is none */
  pid_t pid;     /* the recorded VMM pid, 0 when none */
  bool alive;    /* that very process (same start time) is still running */
  int pidfd;     /* open while alive, else -1 */
  pid_t holder;  /* the firec-run holding the VM's lock (attached, or mid-operation), 0 if none */
  char *detail;  /* a human explanation of the state */
};

const char *firec_vm_state_name (enum firec_vm_state state);

int firec_vm_inspect (const char *name, struct firec_vm_info *info, firec_error_t *err);
void firec_vm_info_release (struct firec_vm_info *info);

/* The names that have a state directory, sorted. */
int firec_vm_list (char ***names, size_t *count, firec_error_t *err);

/* A string or number field of the record, or NULL / 0. */
const char *firec_vm_record_string (const struct firec_vm_info *info, const char *field);
double firec_vm_record_number (const struct firec_vm_info *info, const char *field);

/* One API call to a live VM (non-2xx is an error naming the request and answer). */
int firec_vm_api (const struct firec_vm_info *info, const char *method, const char *path, const char *body,
                  struct firec_fcapi_response *resp, firec_error_t *err);

/* Runs the recorded stop policy (force: SIGKILL at once). An attached VM is
   stopped through its supervising firec-run, which then removes it. timeout_ms
   > 0 bounds the whole policy (then SIGKILL); 0 uses the recorded one. */
int firec_vm_stop_recorded (struct firec_vm_info *info, bool force, long timeout_ms, firec_error_t *err);

/* Stops the VM if needed (force: SIGKILL), then removes its jail, cgroups and
   state. extra_jail_dir: a jail directory known from the manifest, removed too
   when no record names it (a crash before the record existed). */
int firec_vm_remove (struct firec_vm_info *info, bool force, const char *extra_jail_dir, firec_error_t *err);

#endif
