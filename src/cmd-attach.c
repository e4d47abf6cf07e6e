/* SPDX-License-Identifier: Apache-2.0 */
/* firec-run attach NAME|FILE: the VM's serial console on this terminal,
   through its console keeper (console.h), until Ctrl+] q, a signal, or the
   end of the VM. */
#include "config.h"

#include "cli.h"
#include "console.h"
#include "lifecycle.h"
#include "model.h"
#include "process.h"
#include "supervise.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

static void
print_help (void)
{
  printf ("Usage: %s attach NAME|FILE\n\n"
          "Puts the VM's serial console on this terminal (raw mode): what is typed, ^C\n"
          "included, goes to the guest. Ctrl+] q detaches (the VM runs on), Ctrl+] s stops\n"
          "the VM (as `%s stop NAME`), Ctrl+] Ctrl+] sends Ctrl+]. SIGINT, SIGTERM and\n"
          "SIGHUP detach too. One attacher at a time: an attached run of the VM is one.\n"
          "It shows what comes from now on; `%s logs NAME` shows what came before.\n\n"
          "Options:\n"
          "  -h, --help        show this help\n\n"
          "Exit status: 0 detached, or the VM ended (or was stopped); 1 the VM does not run\n"
          "or its console cannot be reached; 4 someone else is attached.\n",
          cli_program_name, cli_program_name, cli_program_name);
}

/* Attaches to the keeper: 0 with *sock, or an exit code after saying why not. */
static int
connect_keeper (struct firec_vm_info *info, int *sock)
{
  const struct firec_record *r = info->record;
  if (info->state == FIREC_VM_ABSENT)
    {
      fprintf (stderr, "%s: no VM named %s\n", cli_program_name, info->name);
      return FIREC_EXIT_RUNTIME;
    }
  if (!firec_vm_alive (info))
    {
      fprintf (stderr, "%s: %s is not running (%s: %s); `%s logs %s` shows its console\n", cli_program_name, info->name,
               firec_vm_state_name (info->state), info->detail, cli_program_name, info->name);
      return FIREC_EXIT_RUNTIME;
    }
  if (r == NULL || r->console.dir == NULL)
    {
      fprintf (stderr,
               "%s: %s was started without a console keeper (no firec-supervise): its console cannot be "
               "reached\n",
               cli_program_name, info->name);
      return FIREC_EXIT_RUNTIME;
    }
  cleanup_close int dir_fd = -1;
  cleanup_error firec_error_t err = NULL;
  if (firec_state_open_vm_dir (&info->state_root, info->name, &dir_fd, &err) < 0)
    return cli_report_error (&err);
  pid_t busy = 0;
  if (dir_fd >= 0 && firec_console_request (dir_fd, info->state_dir, "attach", sock, &busy, &err) == 0)
    return FIREC_EXIT_OK;
  if (busy)
    {
      fprintf (stderr,
               "%s: %s's console is attached by pid %ld already (one at a time); detach there with "
               "Ctrl+] q\n",
               cli_program_name, info->name, (long) busy);
      return FIREC_EXIT_LOCKED;
    }
  fprintf (stderr,
           "%s: %s's console cannot be reached: its console keeper (pid %ld) is not running (%s); the VM "
           "runs on without a console, `%s logs %s` shows what was kept\n",
           cli_program_name, info->name, (long) r->console.keeper.pid, err ? err->message : "no state directory",
           cli_program_name, info->name);
  return FIREC_EXIT_RUNTIME;
}

/* Relays until the attachment ends; a stop signal detaches. */
static enum firec_console_event
relay (struct firec_console_relay *r, int signal_fd)
{
  for (;;)
    {
      struct pollfd fds[3];
      firec_console_relay_fds (r, fds);
      fds[2] = (struct pollfd){ .fd = signal_fd, .events = POLLIN };
      if (poll (fds, 3, -1) < 0 && errno != EINTR)
        return FIREC_CONSOLE_DETACH;
      if (fds[2].revents)
        return FIREC_CONSOLE_DETACH;
      enum firec_console_event event = firec_console_relay_ready (r, fds);
      if (event != FIREC_CONSOLE_GO_ON)
        return event;
    }
}

/* Ctrl+] s: the stop policy, as `firec-run stop NAME`. */
static int
stop_vm (const char *name, int signal_fd)
{
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_error firec_error_t err = NULL;
  int rc = FIREC_EXIT_OK;
  /* The stop command's default wait for the lock. */
  const struct firec_vm_lock lock = { .held_fd = -1, .timeout_ms = 2000 };
  bool stopped;
  if (firec_vm_inspect (name, &info, &err) < 0 || firec_vm_stop (&info, false, 0, signal_fd, &lock, &stopped, &err) < 0)
    rc = cli_report_error (&err);
  else
    fprintf (stderr, "%s: %s stopped; `%s rm %s` removes it\n", cli_program_name, name, cli_program_name, name);
  firec_vm_info_release (&info);
  return rc;
}

/* How the attachment ended, said once the terminal is itself again. */
static int
ended (struct firec_vm_info *info, enum firec_console_event event, int signal_fd)
{
  switch (event)
    {
    case FIREC_CONSOLE_DETACH:
    case FIREC_CONSOLE_GO_ON:
      fprintf (stderr, "%s: detached from %s (it runs on)\n", cli_program_name, info->name);
      return FIREC_EXIT_OK;
    case FIREC_CONSOLE_STOP:
      return stop_vm (info->name, signal_fd);
    case FIREC_CONSOLE_ENDED:
      break;
    }
  /* The keeper closed the console: the VM ended, or the keeper died. */
  cleanup_error firec_error_t ignored = NULL;
  int status;
  if (firec_pidref_wait (&info->vmm, 2000, &status, &ignored) == FIREC_WAIT_TIMEOUT)
    {
      fprintf (stderr, "%s: %s's console keeper has gone; the VM runs on without a console\n", cli_program_name,
               info->name);
      return FIREC_EXIT_RUNTIME;
    }
  fprintf (stderr, "%s: %s has ended; `%s logs %s` shows its console\n", cli_program_name, info->name, cli_program_name,
           info->name);
  return FIREC_EXIT_OK;
}

static int
attach (struct firec_vm_info *info)
{
  int sock = -1;
  int rc = connect_keeper (info, &sock);
  if (rc != FIREC_EXIT_OK)
    return rc;
  /* Raw mode only on our foreground terminal; a terminal we are in the
     background of is not read at all. */
  struct termios saved;
  bool tty = isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &saved) == 0 && tcgetpgrp (STDIN_FILENO) == getpgrp ();
  struct firec_console_relay r = {
    .sock = sock,
    .in_fd = tty || !isatty (STDIN_FILENO) ? STDIN_FILENO : -1,
    .out_fd = STDOUT_FILENO,
  };
  int signal_fd = firec_supervise_signal_fd ();
  /* A standard output that went away is no reason to die with the terminal
     in raw mode: the console then goes nowhere until Ctrl+] q. */
  signal (SIGPIPE, SIG_IGN);
  /* Raw mode first: once this is said, what is typed goes to the guest. */
  if (tty)
    firec_console_raw (STDIN_FILENO, &saved);
  fprintf (stderr, "%s: attached to %s's console: %s\r\n", cli_program_name, info->name, FIREC_CONSOLE_ESCAPE_HELP);
  enum firec_console_event event = relay (&r, signal_fd);
  if (tty)
    tcsetattr (STDIN_FILENO, TCSADRAIN, &saved);
  if (r.sock >= 0)
    close (r.sock);
  rc = ended (info, event, signal_fd);
  close (signal_fd);
  return rc;
}

int
cmd_attach (int argc, char **argv)
{
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1)
    switch (c)
      {
      case 'h':
        print_help ();
        return FIREC_EXIT_OK;
      default:
        return cli_usage_error ("attach", "unknown option");
      }
  if (optind + 1 != argc)
    return cli_usage_error ("attach", "usage: %s attach NAME|FILE", cli_program_name);
  cleanup_free char *name = NULL;
  cleanup_model struct firec_model *model = NULL;
  int rc = cli_target (argv[optind], &name, &model);
  if (rc != FIREC_EXIT_OK)
    return rc;
  struct firec_vm_info info = FIREC_VM_INFO_INIT;
  cleanup_error firec_error_t err = NULL;
  if (firec_vm_inspect (name, &info, &err) < 0)
    return cli_report_error (&err);
  rc = attach (&info);
  firec_vm_info_release (&info);
  return rc;
}
