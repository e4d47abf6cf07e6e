/* firec-supervise: what an attached firec-run becomes once its VM runs. It is a
   separate, small program (libc and cJSON) so that a supervisor that waits for
   hours maps little: not libyaml, nettle, libcap nor the validator's schema, and
   libcurl only once a stop policy sends Ctrl+Alt+Del (fcapi loads it then).
   firec-run execs it with the same pid, so the VMM stays its child and the lock
   stays held; its one argument is the handoff from firec_vm_handoff (interp.h). */
#include "config.h"

#include "cgroup.h"
#include "error.h"
#include "fcapi.h"
#include "model.h"
#include "notify.h"
#include "process.h"
#include "stage.h"
#include "state.h"
#include "supervise.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

struct helper
{
  const char *name;
  const char *api_socket;
  int stderr_fd;
};

static int
int_field (const cJSON *h, const char *name)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive (h, name);
  return cJSON_IsNumber (v) ? (int) v->valuedouble : -1;
}

/* The one request this program sends: libcurl is loaded here, on demand. */
static int
ctrl_alt_del (void *data, firec_error_t *err)
{
  const struct helper *h = data;
  cleanup_fcapi struct firec_fcapi *api = NULL;
  if (firec_fcapi_open (h->api_socket, &api, err) < 0)
    return -1;
  return firec_fcapi_call (api, "PUT", "/actions", "{\"action_type\":\"SendCtrlAltDel\"}", 5000, NULL, err);
}

/* Firecracker's stderr keeps reaching ours. */
static void
copy_stderr (void *data)
{
  struct helper *h = data;
  char buf[4096];
  ssize_t n;
  while (h->stderr_fd >= 0 && (n = read (h->stderr_fd, buf, sizeof buf)) != 0)
    {
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }
      if (write (STDERR_FILENO, buf, (size_t) n) < 0)
        break;
    }
}

static void
restore_terminal (const cJSON *handoff)
{
  const char *hex = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (handoff, "termios"));
  struct termios t;
  if (hex == NULL || strlen (hex) != 2 * sizeof t)
    return;
  unsigned char *bytes = (unsigned char *) &t;
  for (size_t i = 0; i < sizeof t; i++)
    sscanf (hex + 2 * i, "%2hhx", &bytes[i]);
  firec_reclaim_terminal (&t);
}

/* Everything the run left, as its undo stack would have removed it. */
static int
teardown (const cJSON *handoff, struct firec_buf *left)
{
  static const char *const lists[] = { "trees", "outputs" };
  for (size_t l = 0; l < FIREC_N_ELEMENTS (lists); l++)
    for (const cJSON *p = cJSON_GetObjectItemCaseSensitive (handoff, lists[l])->child; p; p = p->next)
      {
        cleanup_error firec_error_t err = NULL;
        struct stat st;
        if (l == 0 && firec_stage_remove_tree (p->valuestring, &err) < 0)
          firec_buf_printf (left, "\n  - %s", err->message);
        if (l == 1 && lstat (p->valuestring, &st) == 0 && S_ISREG (st.st_mode) && st.st_size == 0)
          unlink (p->valuestring);
      }
  cleanup_error firec_error_t cg = NULL;
  if (firec_remove_cgroup_dirs (cJSON_GetObjectItemCaseSensitive (handoff, "cgroup_dirs"), &cg) < 0)
    firec_buf_printf (left, "\n  - %s", cg->message);
  const char *state_dir = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (handoff, "state_dir"));
  cleanup_error firec_error_t st = NULL;
  if (state_dir && firec_state_remove (state_dir, &st) < 0)
    firec_buf_printf (left, "\n  - %s", st->message);
  return left->len ? -1 : 0;
}

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "firec-supervise: started by firec-run, not by hand\n");
      return 2;
    }
  cleanup_cjson cJSON *handoff = cJSON_Parse (argv[1]);
  if (handoff == NULL)
    return 2;
  struct helper h = {
    .name = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (handoff, "name")),
    .api_socket = cJSON_GetStringValue (cJSON_GetObjectItemCaseSensitive (handoff, "api_socket")),
    .stderr_fd = int_field (handoff, "stderr_fd"),
  };
  struct firec_stop_step stop[16];
  size_t stop_count = 0;
  for (const cJSON *s = cJSON_GetObjectItemCaseSensitive (handoff, "stop")->child; s && stop_count < 16; s = s->next)
    {
      stop[stop_count].action = (enum firec_stop_action) int_field (s, "action");
      stop[stop_count++].wait_ms = int_field (s, "wait_ms");
    }
  /* SIGINT, SIGTERM and SIGHUP were blocked by firec-run and stay so across exec. */
  int sfd = firec_supervise_signal_fd ();
  if (h.stderr_fd >= 0)
    fcntl (h.stderr_fd, F_SETFL, fcntl (h.stderr_fd, F_GETFL) | O_NONBLOCK);
  struct firec_supervision s = {
    .pid = int_field (handoff, "pid"),
    .pidfd = int_field (handoff, "pidfd"),
    .signal_fd = sfd,
    .stderr_fd = h.stderr_fd,
    .stop = stop,
    .stop_count = stop_count,
    .stop_timeout_ms = int_field (handoff, "stop_timeout_ms"),
    .ctrl_alt_del = ctrl_alt_del,
    .drain_stderr = copy_stderr,
    .data = &h,
  };
  int status = -1;
  bool stopped = false;
  cleanup_error firec_error_t err = NULL;
  int exit_code = 0;
  if (firec_supervise (&s, &status, &stopped, &err) < 0)
    {
      fprintf (stderr, "firec-run: %s\n", err->message);
      kill (s.pid, SIGKILL);
      exit_code = 1;
    }
  restore_terminal (handoff);
  /* The jailer, when it forked Firecracker off (--new-pid-ns), is ours to reap. */
  int spawned_pidfd = int_field (handoff, "spawned_pidfd");
  if (spawned_pidfd >= 0 && int_field (handoff, "spawned_pid") != s.pid)
    {
      int ignored_status;
      cleanup_error firec_error_t ignored = NULL;
      firec_process_wait (int_field (handoff, "spawned_pid"), spawned_pidfd, 1000, &ignored_status, &ignored);
    }
  cleanup_free char *how = NULL;
  int end = firec_vm_end_result (status, stopped, &how);
  fprintf (stderr, "firec-run: %s: %s\n", h.name, how);
  if (exit_code == 0)
    exit_code = end;
  firec_notify ("STOPPING=1");
  struct firec_buf left = { 0 };
  if (teardown (handoff, &left) < 0)
    {
      fprintf (stderr, "firec-run: cleanup of %s incomplete, leftovers:%s\n", h.name, left.data);
      exit_code = 5;
    }
  firec_buf_release (&left);
  return exit_code;
}
