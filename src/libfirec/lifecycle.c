#include "config.h"

#include "lifecycle.h"
#include "cgroup.h"
#include "interp.h"
#include "model.h"
#include "process.h"
#include "stage.h"
#include "state.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *
firec_vm_state_name (enum firec_vm_state state)
{
  switch (state)
    {
    case FIREC_VM_ABSENT:
      return "absent";
    case FIREC_VM_STARTING:
      return "starting";
    case FIREC_VM_RUNNING:
      return "running";
    case FIREC_VM_PAUSED:
      return "paused";
    case FIREC_VM_EXITED:
      return "exited";
    case FIREC_VM_STALE:
      return "stale";
    }
  return "unknown";
}

const char *
firec_vm_record_string (const struct firec_vm_info *info, const char *field)
{
  return cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (info->record, field));
}

double
firec_vm_record_number (const struct firec_vm_info *info, const char *field)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive (info->record, field);
  return cJSON_IsNumber (v) ? v->valuedouble : 0;
}

void
firec_vm_info_release (struct firec_vm_info *info)
{
  free (info->name);
  free (info->state_dir);
  free (info->detail);
  cJSON_Delete (info->record);
  if (info->pidfd >= 0)
    close (info->pidfd);
  memset (info, 0, sizeof *info);
  info->pidfd = -1;
}

/* A VMM that has exited but was not reaped yet (its parent, the firec-run that
   started it detached, is gone and init has not collected it) is not running. */
static bool
is_zombie (pid_t pid)
{
  char path[64], buf[512];
  snprintf (path, sizeof path, "/proc/%ld/stat", (long) pid);
  FILE *f = fopen (path, "re");
  if (f == NULL)
    return true;
  size_t n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  const char *close = strrchr (buf, ')');
  return close == NULL || close[1] != ' ' || close[2] == 'Z' || close[2] == 'X';
}

/* Opens a pidfd for the recorded pid and keeps it only when the process behind
   it started when the record says: a pid reused by another process is not the VM. */
static void
check_alive (struct firec_vm_info *info)
{
  info->pid = (pid_t) firec_vm_record_number (info, "pid");
  if (info->pid <= 0)
    return;
  cleanup_error firec_error_t err = NULL;
  int pidfd;
  if (firec_pidfd_open (info->pid, &pidfd, &err) < 0)
    return;
  unsigned long long start = 0;
  cleanup_error firec_error_t start_err = NULL;
  if (firec_process_start_time (info->pid, &start, &start_err) == 0
      && (double) start == firec_vm_record_number (info, "pid_start_time") && !is_zombie (info->pid))
    {
      info->alive = true;
      info->pidfd = pidfd;
      return;
    }
  close (pidfd);
}

int
firec_vm_api (const struct firec_vm_info *info, const char *method, const char *path, const char *body,
              struct firec_fcapi_response *resp, firec_error_t *err)
{
  const char *socket = firec_vm_record_string (info, "api_socket");
  if (!info->alive || socket == NULL)
    return firec_error_set (err, 0, "%s is not running", info->name);
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_fcapi_open (socket, &api, err) < 0)
    return -1;
  return firec_fcapi_call (api, method, path, body, 10000, resp, err);
}

int
firec_vm_inspect (const char *name, struct firec_vm_info *info, firec_error_t *err)
{
  memset (info, 0, sizeof *info);
  info->pidfd = -1;
  info->name = firec_xstrdup (name);
  info->state_dir = firec_state_dir_for (name);
  if (firec_state_lock_held (info->state_dir, &info->holder, err) < 0)
    return -1;
  cleanup_error firec_error_t read_err = NULL;
  if (firec_state_read (info->state_dir, &info->record, &read_err) < 0)
    {
      if (read_err->errno_value != EBADMSG)
        {
          if (err && *err == NULL)
            *err = steal_pointer (&read_err);
          return -1;
        }
      info->state = info->holder ? FIREC_VM_STARTING : FIREC_VM_STALE;
      /* Without the record the jail's place is unknown: rm of the manifest file
         finds it from the manifest. */
      info->detail = firec_xasprintf ("%s; `firec-run rm` of its manifest file removes its jail too",
                                      read_err->message);
      return 0;
    }
  if (info->record == NULL)
    {
      info->state = info->holder ? FIREC_VM_STARTING : FIREC_VM_ABSENT;
      info->detail = firec_xstrdup (info->holder ? "a firec-run is creating it" : "no such VM");
      return 0;
    }
  check_alive (info);
  const char *phase = firec_vm_record_string (info, "phase");
  const char *mode = firec_vm_record_string (info, "mode");
  /* attached and tmux VMs have a supervising firec-run, which holds the lock. */
  bool attached = mode && (strcmp (mode, "attached") == 0 || strcmp (mode, "tmux") == 0);
  if (phase && strcmp (phase, "starting") == 0)
    {
      info->state = info->holder ? FIREC_VM_STARTING : FIREC_VM_STALE;
      info->detail = firec_xstrdup (info->holder ? "a firec-run is starting it"
                                                 : "the firec-run that started it died mid-start");
      return 0;
    }
  if (!info->alive)
    {
      info->state = attached && !info->holder ? FIREC_VM_STALE : FIREC_VM_EXITED;
      info->detail = firec_xstrdup (attached && !info->holder ? "its supervising firec-run died"
                                                              : "the VM has ended");
      return 0;
    }
  if (attached && !info->holder)
    {
      info->state = FIREC_VM_STALE;
      info->detail = firec_xstrdup ("running, but its supervising firec-run died");
      return 0;
    }
  cleanup_fcapi_response struct firec_fcapi_response resp = { 0 };
  cleanup_error firec_error_t api_err = NULL;
  info->state = FIREC_VM_RUNNING;
  if (firec_vm_api (info, "GET", "/", NULL, &resp, &api_err) == 0)
    {
      cleanup_cjson cJSON *vm = cJSON_Parse (resp.body);
      const char *state = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (vm, "state"));
      if (state && strcmp (state, "Paused") == 0)
        info->state = FIREC_VM_PAUSED;
      info->detail = firec_xasprintf ("Firecracker says \"%s\"", state ? state : "?");
    }
  else
    info->detail = firec_xasprintf ("the API does not answer: %s", api_err->message);
  return 0;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

int
firec_vm_list (char ***names, size_t *count, firec_error_t *err)
{
  cleanup_free char *root = firec_state_root ();
  *names = NULL;
  *count = 0;
  DIR *d = opendir (root);
  if (d == NULL)
    return errno == ENOENT ? 0 : firec_error_set (err, errno, "cannot read %s", root);
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    {
      if (e->d_name[0] == '.' || e->d_type != DT_DIR)
        continue;
      *names = firec_xrealloc (*names, (*count + 2) * sizeof **names);
      (*names)[(*count)++] = firec_xstrdup (e->d_name);
      (*names)[*count] = NULL;
    }
  closedir (d);
  if (*count)
    qsort (*names, *count, sizeof **names, compare_names);
  return 0;
}

/* Waits until the process behind pidfd is gone; 1 gone, 0 timeout. */
static int
wait_gone (const struct firec_vm_info *info, long timeout_ms, firec_error_t *err)
{
  int status;
  int rc = firec_process_wait (info->pid, info->pidfd, timeout_ms, &status, err);
  if (rc < 0)
    return -1;
  return rc == FIREC_WAIT_TIMEOUT ? 0 : 1;
}

/* An attached VM belongs to its supervising firec-run: ask it (SIGTERM runs its
   stop policy, then it removes everything), and wait until it lets go. */
static int
stop_through_holder (struct firec_vm_info *info, bool force, long timeout_ms, firec_error_t *err)
{
  if (force && info->alive)
    {
      cleanup_error firec_error_t ignored = NULL;
      firec_pidfd_send_signal (info->pidfd, SIGKILL, &ignored);
    }
  else if (kill (info->holder, SIGTERM) < 0 && errno != ESRCH)
    return firec_error_set (err, errno, "cannot signal firec-run (pid %ld)", (long) info->holder);
  long long start = firec_now_ms ();
  for (;;)
    {
      pid_t holder = 0;
      int held = firec_state_lock_held (info->state_dir, &holder, err);
      if (held < 0)
        return -1;
      if (held == 0)
        return 0;
      if ((firec_now_ms () - start) > timeout_ms)
        return firec_error_set_kind (err, FIREC_ERR_LOCKED, 0,
                                     "firec-run (pid %ld) still holds %s after %ld ms", (long) info->holder,
                                     info->name, timeout_ms);
      poll (NULL, 0, 20);
    }
}

static int
run_recorded_policy (struct firec_vm_info *info, bool force, long timeout_ms, firec_error_t *err)
{
  const cJSON *policy = cJSON_GetObjectItemCaseSensitive (info->record, "stop");
  long long start = firec_now_ms ();
  for (const cJSON *s = force ? NULL : (policy ? policy->child : NULL); s; s = s->next)
    {
      const char *action = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (s, "action"));
      const cJSON *wait = cJSON_GetObjectItemCaseSensitive (s, "wait_ms");
      long wait_ms = cJSON_IsNumber (wait) ? (long) wait->valuedouble : 5000;
      long left = timeout_ms - (firec_now_ms () - start);
      if (left <= 0)
        break;
      if (wait_ms > left)
        wait_ms = left;
      cleanup_error firec_error_t action_err = NULL;
      if (action && strcmp (action, "ctrl_alt_del") == 0)
        firec_vm_api (info, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", NULL, &action_err);
      else
        firec_pidfd_send_signal (info->pidfd, action && strcmp (action, "sigterm") == 0 ? SIGTERM : SIGKILL,
                                 &action_err);
      if (action_err)
        continue; /* e.g. the API is already gone: on to the next step */
      int gone = wait_gone (info, wait_ms, err);
      if (gone != 0)
        return gone < 0 ? -1 : 0;
    }
  cleanup_error firec_error_t ignored = NULL;
  firec_pidfd_send_signal (info->pidfd, SIGKILL, &ignored);
  int gone = wait_gone (info, 10000, err);
  if (gone < 0)
    return -1;
  return gone ? 0 : firec_error_set (err, 0, "firecracker (pid %ld) did not die after SIGKILL", (long) info->pid);
}

int
firec_vm_stop_recorded (struct firec_vm_info *info, bool force, long timeout_ms, firec_error_t *err)
{
  if (timeout_ms <= 0)
    timeout_ms = (long) firec_vm_record_number (info, "stop_timeout_ms");
  if (timeout_ms <= 0)
    timeout_ms = 30000;
  if (info->holder)
    return stop_through_holder (info, force, timeout_ms + 10000, err);
  if (!info->alive)
    return 0;
  cleanup_close int lock = -1;
  if (firec_state_lock (info->state_dir, 2000, &lock, err) < 0)
    return -1;
  if (run_recorded_policy (info, force, timeout_ms, err) < 0)
    return -1;
  info->alive = false;
  cJSON *phase = cJSON_GetObjectItemCaseSensitive (info->record, "phase");
  if (phase)
    cJSON_SetValuestring (phase, "stopped");
  return firec_state_write (info->state_dir, info->record, err);
}

int
firec_vm_remove (struct firec_vm_info *info, bool force, const char *extra_jail_dir, firec_error_t *err)
{
  if (info->holder)
    {
      if (stop_through_holder (info, force, (long) firec_vm_record_number (info, "stop_timeout_ms") + 15000, err) < 0)
        return -1;
      /* The supervisor has removed everything it could; look at what is left. */
      cleanup_free char *name = firec_xstrdup (info->name);
      firec_vm_info_release (info);
      if (firec_vm_inspect (name, info, err) < 0)
        return -1;
    }
  cleanup_close int lock = -1;
  if (firec_state_lock (info->state_dir, 5000, &lock, err) < 0)
    return -1;
  if (info->alive && run_recorded_policy (info, force, (long) firec_vm_record_number (info, "stop_timeout_ms"), err) < 0)
    return -1;
  info->alive = false;
  int rc = 0;
  struct firec_buf left = { 0 };
  const char *dirs[] = { firec_vm_record_string (info, "jail_dir"), NULL, extra_jail_dir };
  if (dirs[0] == NULL)
    dirs[1] = firec_vm_record_string (info, "vm_root"); /* without the jailer */
  for (size_t i = 0; i < FIREC_N_ELEMENTS (dirs); i++)
    {
      cleanup_error firec_error_t e = NULL;
      if (dirs[i] && firec_stage_remove_tree (dirs[i], &e) < 0)
        firec_buf_printf (&left, "\n  - %s", e->message);
    }
  cleanup_error firec_error_t cg = NULL;
  if (firec_remove_cgroup_dirs (cJSON_GetObjectItemCaseSensitive (info->record, "cgroup_dirs"), &cg) < 0)
    firec_buf_printf (&left, "\n  - %s", cg->message);
  cleanup_error firec_error_t st = NULL;
  if (firec_state_remove (info->state_dir, &st) < 0)
    firec_buf_printf (&left, "\n  - %s", st->message);
  if (left.len)
    rc = firec_error_set_kind (err, FIREC_ERR_LEFTOVERS, 0, "could not remove everything of %s:%s", info->name,
                               left.data);
  firec_buf_release (&left);
  return rc;
}
