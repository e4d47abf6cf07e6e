/* SPDX-License-Identifier: Apache-2.0 */
/* firec-supervise: what an attached firec-run becomes once its VM runs, the
   guard that removes an attached VM whose firec-run died, and every VM's
   console keeper (console.h). It is a separate,
   small program (libc and cJSON) so that a supervisor that waits for hours maps
   little: not libyaml, nettle, libcap nor the validator's schema, and libcurl
   only once a stop policy sends Ctrl+Alt+Del (fcapi loads it then). firec-run
   execs it with the same pid, so the VMM stays its child and the lock stays
   held; its arguments are the handoff (attached.h). */
#include "config.h"

#include "attached.h"
#include "console.h"
#include "error.h"
#include "remedy.h"
#include "supervise.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
guard_main (int argc, char **argv)
{
  /* --guard FD --state-root DIR --name NAME */
  if (argc != 7 || strcmp (argv[3], "--state-root") != 0 || strcmp (argv[5], "--name") != 0)
    return 2;
  /* Stop signals meant for the run are not the guard's. */
  firec_supervise_signal_fd ();
  cleanup_error firec_error_t err = NULL;
  if (firec_guard_run (atoi (argv[2]), argv[4], argv[6], &err) < 0)
    {
      fprintf (stderr, "firec-run: %s: removing the VM after its firec-run died: %s\n", argv[6], err->message);
      return 5;
    }
  return 0;
}

static int
console_main (int argc, char **argv)
{
  int master, listen_fd, dir_fd;
  if (firec_console_keeper_args (argc, argv, &master, &listen_fd, &dir_fd) < 0)
    return 2;
  /* Its own process group already: the terminal's signals are not for it. A
     client that hangs up is an error of a send, never a signal. */
  signal (SIGHUP, SIG_IGN);
  signal (SIGINT, SIG_IGN);
  signal (SIGPIPE, SIG_IGN);
  cleanup_error firec_error_t err = NULL;
  return firec_console_keep (master, listen_fd, dir_fd, &err) < 0 ? 1 : 0;
}

/* Ctrl+] q could not hand the VM over: said on the console, whose terminal
   is raw (hence \r\n). */
static void
say_detach_failed (const firec_error_t reason)
{
  dprintf (STDOUT_FILENO, "\r\n[firec-run: cannot detach: %s]\r\n", reason->message);
}

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "--guard") == 0)
    return guard_main (argc, argv);
  if (argc >= 2 && strcmp (argv[1], "--console") == 0)
    return console_main (argc, argv);
  if (argc < 3)
    {
      fprintf (stderr, "firec-supervise: started by firec-run, not by hand\n");
      return 2;
    }
  /* SIGINT, SIGTERM and SIGHUP were blocked by firec-run and stay so across
     exec; one that arrived meanwhile is still pending and shows up here. A
     standard output that went away (a pipe's reader) must not end the
     supervision: the console just goes nowhere then. */
  int sfd = firec_supervise_signal_fd ();
  signal (SIGPIPE, SIG_IGN);
  cleanup_error firec_error_t err = NULL;
  struct firec_attached *a = NULL;
  if (firec_attached_from_argv (argc, argv, &a, &err) < 0)
    {
      fprintf (stderr, "firec-run: cannot supervise the VM: %s\n", err->message);
      return 1;
    }
  a->detach_failed = say_detach_failed;
  cleanup_free char *name = firec_xstrdup (a->record->name);
  if (firec_attached_console_start (a) && a->has_tty)
    fprintf (stderr, "firec-run: %s's console: %s\r\n", name, FIREC_CONSOLE_ESCAPE_HELP);
  cleanup_free char *how = NULL;
  int rc = firec_attached_run (a, sfd, &how, &err);
  cleanup_free char *remedy = a->detached ? cli_remedy_text (FIREC_REMEDY_ATTACH, name) : NULL;
  fprintf (stderr, "firec-run: %s: %s%s%s\n", name, how, remedy ? ": " : "", remedy ? remedy : "");
  firec_attached_free (a);
  if (rc < 0)
    {
      fprintf (stderr, "firec-run: %s\n", err->message);
      return err->kind == FIREC_ERR_LEFTOVERS ? 5 : 1;
    }
  return rc;
}
