/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run run: validate, resolve, lower, then interpret the plan; attached,
   supervise the VM until it exits and remove everything it used. */
#include "config.h"

#include "cli.h"
#include "attached.h"
#include "console.h"
#include "curl-dl.h"
#include "interp.h"
#include "lifecycle.h"
#include "model.h"
#include "notify.h"
#include "process.h"
#include "plan.h"
#include "remedy.h"
#include "stage.h"
#include "supervise.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

static void
print_help (void)
{
  printf ("Usage: %s [run] [OPTIONS] FILE\n\n"
          "Starts the microVM that FILE describes: preflight, stage its files into the jail,\n"
          "start the jailer, configure Firecracker over its API, InstanceStart. Attached (the\n"
          "default), the serial console is this terminal (keys, ^C included, go to the guest;\n"
          "Ctrl+] q detaches: the VM runs on as with -d; Ctrl+] s stops it) and firec-run\n"
          "waits for the VM to exit; `firec-run stop NAME`, SIGINT or SIGTERM runs the stop\n"
          "policy (spec.run.stop), a second signal kills. Detached, the console is kept in\n"
          "a log (`firec-run logs NAME`, `firec-run attach NAME`).\n"
          "Any failure rolls back: nothing is left on the host.\n\n"
          "Options:\n"
          "      --base-dir DIR  where relative host paths of a stdin manifest resolve\n"
          "  -d, --detach        start the VM and return once it runs (run.mode: daemon)\n"
          "      --lock-timeout S  wait up to S seconds for another run of this VM to finish\n"
          "                      (default 0: exit 4 at once)\n"
          "  -o, --output FORMAT text or json: one result object (state, pid, api_socket);\n"
          "                      json needs a detached run (-d, run.mode daemon or tmux):\n"
          "                      attached, standard output is the VM's serial console\n"
          "  -q, --quiet         do not print each step\n"
          "  -h, --help          show this help\n\n"
          "Exit status: 0 the VM ran and ended normally; 1 a step failed (rolled back) or the\n"
          "VM ended with an error; 2 invalid manifest or usage; 3 host precondition failed;\n"
          "4 locked by another run; 5 rollback incomplete.\n",
          cli_program_name);
}

struct step_log
{
  bool quiet;
  const struct firec_plan *plan; /* whose steps are logged */
};

static void
log_step (void *data, const struct firec_step *step)
{
  const struct step_log *log = data;
  if (!log->quiet)
    {
      struct firec_step_prose prose;
      firec_step_prose (log->plan, step, &prose);
      fprintf (stderr, "%s: %s: %s\n", cli_program_name, step->id, prose.description);
      firec_step_prose_release (&prose);
    }
  firec_notifyf ("STATUS=%s", step->id);
}

static void
show_progress (void *data, const char *what, unsigned long long done, unsigned long long total)
{
  (void) data;
  fprintf (stderr, "\r%s: copying %s: %llu/%llu MiB (%llu%%)%s", cli_program_name, what, done >> 20, total >> 20,
           total ? done * 100 / total : 100, done >= total ? "\n" : "");
}

/* Starts the VM detached (daemon mode): its console keeper keeps the console
   in the state directory, and firec-run returns once the VM runs and its
   state is recorded. Shared with `apply`. */
int
cli_start_detached (const struct firec_plan *plan, bool quiet, long lock_timeout_ms, const int *held_lock,
                    int signal_fd, pid_t *pid, firec_error_t *err)
{
  struct step_log log = { quiet, plan };
  cleanup_free char *helper = cli_supervisor_path ("the VM's console is not kept (it goes to /dev/null)");
  struct firec_run_opts opts = {
    .console_in = FIREC_SPAWN_FD_DEVNULL,
    .console_out = FIREC_SPAWN_FD_DEVNULL,
    .stderr_copy_fd = -1,
    .detached = true,
    .helper = helper,
    .lock_timeout_ms = lock_timeout_ms,
    .held_lock = held_lock,
    .signal_fd = signal_fd,
    .on_step = log_step,
    .data = &log,
  };
  struct firec_vm *vm = NULL;
  firec_curl_preload (); /* `apply` comes here directly */
  if (firec_interp_run (plan, &opts, &vm, err) < 0)
    return -1;
  *pid = firec_vm_pid (vm);
  firec_notifyf ("READY=1\nMAINPID=%ld\nSTATUS=%s is running", (long) *pid, plan->model->name);
  /* The VM lives on; its undo stack is not needed: `rm` works from the record. */
  firec_vm_free (vm);
  return 0;
}

/* run.mode: tmux. firec-run itself runs attached inside a detached tmux session
   named after the VM (so `tmux attach -t NAME` is the serial console, and the
   VM is supervised and cleaned up as in attached mode); this firec-run returns
   once the VM runs, or shows what the session printed when it did not start. */
static int
run_tmux (const char *const *argv, char **output)
{
  int pipefd[2] = { -1, -1 };
  if (output && pipe2 (pipefd, O_CLOEXEC) < 0)
    return -1;
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  opts.argv = argv;
  opts.envp = (const char *const *) environ;
  opts.stdin_fd = FIREC_SPAWN_FD_DEVNULL;
  opts.stdout_fd = output ? pipefd[1] : FIREC_SPAWN_FD_DEVNULL;
  opts.stderr_fd = output ? pipefd[1] : FIREC_SPAWN_FD_DEVNULL;
  cleanup_error firec_error_t err = NULL;
  pid_t pid;
  int pidfd = -1;
  int rc = firec_spawn (&opts, &pid, &pidfd, &err);
  if (output)
    close (pipefd[1]);
  if (rc < 0)
    {
      if (output)
        close (pipefd[0]);
      return -1;
    }
  size_t len;
  if (output && firec_read_fd (pipefd[0], 1 << 20, output, &len) < 0)
    *output = NULL;
  if (output)
    close (pipefd[0]);
  int status;
  rc = firec_process_wait (pid, pidfd, 10000, &status, &err);
  close (pidfd);
  return rc == FIREC_WAIT_EXITED && WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* tmux new-session for the attached run. A tmux server that runs already
   gives its sessions its own environment, not ours: ours goes with -e (the
   state root, PATH, FIREC_TMUX_REPORT ...). */
static const char **
tmux_new_session (const char *tmux, const char *name, const char *self, const char *manifest, const char *base_dir)
{
  size_t n_env = 0;
  while (environ[n_env])
    n_env++;
  const char **argv = firec_xcalloc (2 * n_env + 16, sizeof *argv);
  size_t n = 0;
  const char *head[] = { tmux, "new-session", "-d", "-s", name, "-x", "200", "-y", "50" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (head); i++)
    argv[n++] = head[i];
  for (size_t i = 0; i < n_env; i++)
    {
      argv[n++] = "-e";
      argv[n++] = environ[i];
    }
  argv[n++] = self;
  argv[n++] = "run";
  argv[n++] = "--in-tmux";
  if (base_dir)
    {
      argv[n++] = "--base-dir";
      argv[n++] = base_dir;
    }
  argv[n++] = manifest;
  return argv;
}

static int
start_in_tmux (const struct firec_model *model, const char *manifest, const char *base_dir, bool quiet)
{
  cleanup_free char *tmux = NULL;
  const char *path = getenv ("PATH");
  cleanup_free char *dirs = firec_xstrdup (path && *path ? path : "/usr/bin:/bin");
  char *save = NULL;
  for (char *d = strtok_r (dirs, ":", &save); d && tmux == NULL; d = strtok_r (NULL, ":", &save))
    {
      char *candidate = firec_xasprintf ("%s/tmux", d);
      if (access (candidate, X_OK) == 0)
        tmux = candidate;
      else
        free (candidate);
    }
  if (tmux == NULL)
    return cli_fail (FIREC_EXIT_PRECONDITION, "run.mode tmux needs tmux (apt-get install tmux)");
  char self[4096];
  ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n < 0)
    return FIREC_EXIT_RUNTIME;
  self[n] = '\0';
  cleanup_free char *target = firec_xasprintf ("=%s", model->name);
  cleanup_free char *root = firec_state_root ();
  cleanup_free char *report = firec_xasprintf ("%s/.%s.tmux-report", root, model->name);
  if (mkdir (root, 0700) < 0 && errno != EEXIST)
    return FIREC_EXIT_RUNTIME;
  cleanup_close int report_fd = open (report, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (report_fd < 0)
    return FIREC_EXIT_RUNTIME;
  firec_curl_settle (); /* setenv must not race the libcurl loader thread's getenv */
  setenv ("FIREC_TMUX_REPORT", report, 1);
  cleanup_free const char **new_session = tmux_new_session (tmux, model->name, self, manifest, base_dir);
  if (run_tmux (new_session, NULL) != 0)
    return cli_fail (FIREC_EXIT_PRECONDITION, "cannot start the tmux session %s (is one of that name running?)",
                     model->name);
  /* Keep the pane after firec-run exits, to show what it said if it failed. */
  const char *keep[] = { tmux, "set-option", "-t", target, "remain-on-exit", "on", NULL };
  run_tmux (keep, NULL);
  for (long waited = 0; waited < model->start_timeout_ms + 5000; waited += 20)
    {
      struct firec_vm_info info;
      cleanup_error firec_error_t err = NULL;
      if (firec_vm_inspect (model->name, &info, &err) == 0 && info.state == FIREC_VM_RUNNING)
        {
          firec_vm_info_release (&info);
          const char *drop[] = { tmux, "set-option", "-t", target, "remain-on-exit", "off", NULL };
          run_tmux (drop, NULL);
          unlink (report);
          if (!quiet)
            fprintf (stderr, "%s: %s is running in tmux session %s: `tmux attach -t %s` is its console\n",
                     cli_program_name, model->name, model->name, model->name);
          return FIREC_EXIT_OK;
        }
      firec_vm_info_release (&info);
      const char *dead[] = { tmux, "display-message", "-p", "-t", target, "#{pane_dead}", NULL };
      cleanup_free char *out = NULL;
      if (run_tmux (dead, &out) != 0 || (out && out[0] == '1'))
        {
          cleanup_free char *pane = NULL;
          const char *capture[] = { tmux, "capture-pane", "-p", "-t", target, NULL };
          run_tmux (capture, &pane);
          const char *kill_session[] = { tmux, "kill-session", "-t", target, NULL };
          run_tmux (kill_session, NULL);
          cleanup_free char *said = NULL;
          size_t len;
          if (lseek (report_fd, 0, SEEK_SET) < 0 || firec_read_fd (report_fd, 1 << 20, &said, &len) < 0)
            said = NULL;
          unlink (report);
          return cli_fail (FIREC_EXIT_RUNTIME, "%s did not start in its tmux session:\n%s", model->name,
                           said && *said ? said
                           : pane        ? pane
                                         : "");
        }
      poll (NULL, 0, 20);
    }
  return cli_fail (FIREC_EXIT_RUNTIME, "%s did not reach Running in its tmux session", model->name);
}

/* Once the VM runs, an attached firec-run becomes firec-supervise (same pid: the
   VMM stays its child, the lock stays held), a program without libyaml, the
   schema or the plan, so that supervising costs little memory. Returns only when
   the exec failed; the caller then supervises in-process. */
static void
exec_supervisor (const struct firec_attached *a, const char *helper)
{
  char **args = firec_attached_to_argv (a, helper);
  fflush (stdout);
  fflush (stderr);
  execv (helper, args);
  for (size_t i = 0; args[i]; i++)
    free (args[i]);
  free (args);
}

/* Attached: supervise the running VM until it ends, then remove it. */
/* Ctrl+] q could not hand the VM over: said on the console, whose terminal
   is raw (hence \r\n). */
static void
say_detach_failed (const firec_error_t reason)
{
  dprintf (STDOUT_FILENO, "\r\n[firec-run: cannot detach: %s]\r\n", reason->message);
}

static int
supervise_attached (struct firec_vm *vm, const char *name, const char *helper, int signal_fd,
                    const struct termios *saved_tty)
{
  struct firec_attached *a = firec_vm_attach (vm);
  a->detach_failed = say_detach_failed;
  if (saved_tty)
    {
      a->has_tty = true;
      a->tty = *saved_tty;
    }
  if (helper)
    exec_supervisor (a, helper);
  /* No helper, or it could not be run: supervise here. Even with -q, a
     terminal in raw mode needs its way out said. */
  if (firec_attached_console_start (a) && a->has_tty)
    fprintf (stderr, "%s: %s's console: %s\r\n", cli_program_name, name, FIREC_CONSOLE_ESCAPE_HELP);
  signal (SIGPIPE, SIG_IGN); /* as firec-supervise: a standard output gone does not end the supervision */
  cleanup_error firec_error_t err = NULL;
  cleanup_free char *how = NULL;
  int rc = firec_attached_run (a, signal_fd, &how, &err);
  cleanup_free char *remedy = a->detached ? cli_remedy_text (FIREC_REMEDY_ATTACH, name) : NULL;
  firec_attached_free (a);
  fprintf (stderr, "%s: %s: %s%s%s\n", cli_program_name, name, how, remedy ? ": " : "", remedy ? remedy : "");
  return rc < 0 ? cli_report_error (&err) : rc;
}

/* The result of a start: {changed: true, action: start, state, pid, api_socket}. */
static void
result_running (const struct firec_model *model, pid_t pid)
{
  cli_result_changed (true);
  cli_result_string ("state", "running");
  cli_result_field ("pid", pid > 0 ? cJSON_CreateNumber (pid) : NULL);
  cli_result_string ("api_socket", model->api_socket_host);
}

static pid_t
tmux_vmm_pid (const char *name)
{
  struct firec_vm_info info;
  cleanup_error firec_error_t err = NULL;
  pid_t pid = firec_vm_inspect (name, &info, &err) == 0 && firec_vm_alive (&info) ? info.vmm.pid : 0;
  firec_vm_info_release (&info);
  return pid;
}

int
cmd_run (int argc, char **argv)
{
  enum
  {
    OPT_BASE_DIR = 256,
    OPT_LOCK_TIMEOUT,
    OPT_IN_TMUX,
  };
  static const struct option options[] = {
    { "base-dir", required_argument, NULL, OPT_BASE_DIR },
    { "detach", no_argument, NULL, 'd' },
    { "lock-timeout", required_argument, NULL, OPT_LOCK_TIMEOUT },
    { "in-tmux", no_argument, NULL, OPT_IN_TMUX }, /* internal: the attached run inside the tmux session */
    { "output", required_argument, NULL, 'o' },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *base_dir = NULL;
  struct step_log log = { false };
  bool detach = false;
  bool in_tmux = false;
  long lock_timeout_ms = 0;
  enum firec_output output = FIREC_OUTPUT_TEXT;
  int c;
  while ((c = getopt_long (argc, argv, "dqo:h", options, NULL)) != -1)
    switch (c)
      {
      case OPT_BASE_DIR:
        base_dir = optarg;
        break;
      case 'd':
        detach = true;
        break;
      case OPT_IN_TMUX:
        in_tmux = true;
        break;
      case OPT_LOCK_TIMEOUT:
        if (cli_parse_lock_timeout ("run", optarg, &lock_timeout_ms) != FIREC_EXIT_OK)
          return FIREC_EXIT_INVALID;
        break;
      case 'o':
        if (cli_parse_output (optarg, false, &output) < 0)
          return cli_usage_error ("run", "--output takes text or json, not \"%s\"", optarg);
        break;
      case 'q':
        log.quiet = true;
        break;
      case 'h':
        cli_result_silence ();
        print_help ();
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("run", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage_error ("run", "expected exactly one manifest");
  /* libcurl loads on a helper thread while the manifest is checked, the host
     prepared and Firecracker starts: the first request finds it ready. */
  firec_curl_preload ();
  if (in_tmux)
    {
      /* The firec-run that made the session shows these if the VM does not start. */
      const char *report = getenv ("FIREC_TMUX_REPORT");
      if (report && report[0] == '/')
        cli_error_copy_fd = open (report, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    }

  cleanup_model struct firec_model *model = NULL;
  cleanup_plan struct firec_plan *plan = NULL;
  int rc = cli_load_plan (argv[optind], base_dir, &model, &plan);
  if (rc != FIREC_EXIT_OK)
    return rc;
  log.plan = plan;
  cleanup_error firec_error_t err = NULL;

  cli_result_action ("start");
  if (model->mode == FIREC_RUN_TMUX && !in_tmux)
    {
      rc = start_in_tmux (model, argv[optind], base_dir, log.quiet);
      if (rc == FIREC_EXIT_OK)
        result_running (model, tmux_vmm_pid (model->name));
      return rc;
    }
  bool detached = detach || model->mode == FIREC_RUN_DAEMON;
  if (!detached && output == FIREC_OUTPUT_JSON)
    return cli_usage_error ("run", "--output json needs a detached run (-d, run.mode daemon or tmux): attached, "
                                   "standard output is the VM's serial console");
  /* One owner of the stop signals: blocked now, read from a signalfd by every
     wait of the start, then by the supervisor. */
  int signal_fd = firec_supervise_signal_fd ();
  if (detached)
    {
      pid_t pid = 0;
      if (cli_start_detached (plan, log.quiet || output == FIREC_OUTPUT_JSON, lock_timeout_ms, NULL, signal_fd, &pid,
                              &err)
          < 0)
        return cli_report_error (&err);
      result_running (model, pid);
      if (output != FIREC_OUTPUT_JSON)
        fprintf (stderr,
                 "%s: %s is running detached (firecracker pid %ld); `%s logs %s` shows its console, `%s attach %s` "
                 "attaches to it, `%s stop %s` stops it\n",
                 cli_program_name, model->name, (long) pid, cli_program_name, model->name, cli_program_name,
                 model->name, cli_program_name, model->name);
      return FIREC_EXIT_OK;
    }

  struct termios saved_tty;
  bool tty
      = isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &saved_tty) == 0 && tcgetpgrp (STDIN_FILENO) == getpgrp ();
  /* (cli_supervisor_path warns when there is none: then nothing stops the VM
     should firec-run be killed) */
  cleanup_free char *helper = cli_supervisor_path (
      "supervising in-process, with more memory and no guard (nothing stops the VM should firec-run be killed), "
      "and the console straight on this terminal");
  struct firec_stage_progress progress = { show_progress, NULL };
  struct firec_run_opts opts = {
    .console_in = STDIN_FILENO,
    .console_out = STDOUT_FILENO,
    .console_is_tty = tty,
    .stderr_copy_fd = STDERR_FILENO,
    .attached = true,
    .helper = helper,
    .signal_fd = signal_fd,
    .progress = isatty (STDERR_FILENO) ? &progress : NULL,
    .lock_timeout_ms = lock_timeout_ms,
    .on_step = log_step,
    .data = &log,
  };
  struct firec_vm *vm = NULL;
  if (firec_interp_run (plan, &opts, &vm, &err) < 0)
    {
      if (tty)
        firec_reclaim_terminal (&saved_tty);
      return cli_report_error (&err);
    }
  firec_notifyf ("READY=1\nSTATUS=%s is running", model->name);
  if (!log.quiet)
    fprintf (stderr, "%s: %s is running (firecracker pid %ld, Firecracker %s)\n", cli_program_name, model->name,
             (long) firec_vm_pid (vm), firec_vm_firecracker_version (vm) ? firec_vm_firecracker_version (vm) : "?");

  return supervise_attached (vm, model->name, helper, signal_fd, tty ? &saved_tty : NULL);
}
