/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for output.c, the rule for host output files: what is at an
   output path, moving earlier files aside (never replacing a name), moving
   them back after a failed start wherever the rotation stopped, and deleting
   what is no longer kept. */
#include "config.h"

#include "output.h"
#include "util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static char tmpdir[PATH_MAX];

__attribute__ ((format (printf, 1, 2))) static char *
tpath (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *rel = firec_xvasprintf (fmt, ap);
  va_end (ap);
  return firec_xasprintf ("%s/%s", tmpdir, rel);
}

static void
write_text (const char *path, const char *text)
{
  FILE *f = fopen (path, "we");
  if (f == NULL || fputs (text, f) < 0 || fclose (f) != 0)
    exit (99);
}

/* The content of path ("-" when there is nothing, "<dir>" for a directory). */
static char *
content (const char *path)
{
  struct stat st;
  if (lstat (path, &st) < 0)
    return firec_xstrdup ("-");
  if (S_ISDIR (st.st_mode))
    return firec_xstrdup ("<dir>");
  if (S_ISLNK (st.st_mode))
    return firec_xstrdup ("<symlink>");
  char *text = NULL;
  size_t len;
  if (firec_read_file (path, 4096, &text, &len) < 0)
    exit (99);
  return text;
}

/* "path=A .1=B .2=- ..." for the names path, path.1 ... path.n */
static char *
listing (const char *path, unsigned n)
{
  struct firec_buf b = { 0 };
  for (unsigned k = 0; k <= n; k++)
    {
      cleanup_free char *name = firec_output_aside_name (path, k);
      cleanup_free char *c = content (name);
      if (k)
        firec_buf_printf (&b, " .%u=%s", k, c);
      else
        firec_buf_printf (&b, "path=%s", c);
    }
  return firec_buf_steal (&b);
}

static void
clear (const char *path, unsigned n)
{
  for (unsigned k = 0; k <= n; k++)
    {
      cleanup_free char *name = firec_output_aside_name (path, k);
      if (unlink (name) < 0)
        rmdir (name);
    }
}

/* path=A, .1=B, .2=C, (.3 missing), .4=E */
static void
earlier_files (const char *path)
{
  clear (path, 8);
  cleanup_free char *one = firec_output_aside_name (path, 1);
  cleanup_free char *two = firec_output_aside_name (path, 2);
  cleanup_free char *four = firec_output_aside_name (path, 4);
  write_text (path, "A");
  write_text (one, "B");
  write_text (two, "C");
  write_text (four, "E");
}

static void
test_inspect (void)
{
  struct stat st;
  cleanup_free char *p = tpath ("inspect");
  unlink (p);
  tap_ok (firec_output_inspect (p, &st) == FIREC_OUTPUT_ABSENT && st.st_mode == 0, "inspect: nothing there");
  write_text (p, "x");
  tap_ok (firec_output_inspect (p, &st) == FIREC_OUTPUT_ASIDE && S_ISREG (st.st_mode), "inspect: a file moves aside");
  cleanup_free char *link = tpath ("inspect-link");
  unlink (link);
  if (symlink (p, link) < 0)
    exit (99);
  tap_ok (firec_output_inspect (link, &st) == FIREC_OUTPUT_ASIDE, "inspect: a symbolic link to a file moves aside");
  unlink (p);
  tap_ok (firec_output_inspect (link, &st) == FIREC_OUTPUT_ASIDE && S_ISLNK (st.st_mode),
          "inspect: a symbolic link to nothing moves aside");
  if (mkfifo (p, 0600) < 0)
    exit (99);
  tap_ok (firec_output_inspect (p, &st) == FIREC_OUTPUT_FIFO, "inspect: a FIFO is used as it is");
  tap_ok (firec_output_inspect (link, &st) == FIREC_OUTPUT_FIFO, "inspect: a symbolic link to a FIFO too");
  unlink (p);
  if (mkdir (p, 0700) < 0)
    exit (99);
  tap_ok (firec_output_inspect (p, &st) == FIREC_OUTPUT_OTHER && S_ISDIR (st.st_mode),
          "inspect: a directory is refused");
  rmdir (p);
  tap_ok (firec_output_inspect ("/dev/null", &st) == FIREC_OUTPUT_OTHER && S_ISCHR (st.st_mode),
          "inspect: /dev/null is refused");
  unlink (link);
}

static void
test_rotate (void)
{
  cleanup_free char *p = tpath ("fc.log");
  earlier_files (p);
  tap_ok (firec_output_chain (p) == 3, "chain: the path and the earlier files up to the first gap (3)");
  cleanup_free char *free_path = tpath ("free.log");
  unlink (free_path);
  tap_ok (firec_output_chain (free_path) == 0, "chain: 0 for a free path");

  firec_error_t err = NULL;
  struct stat was;
  if (lstat (p, &was) < 0)
    exit (99);
  tap_ok (firec_output_rotate (p, 3, &err) == 0, "rotate: three names move");
  cleanup_free char *after = listing (p, 5);
  TAP_STR_EQ (after, "path=- .1=A .2=B .3=C .4=E .5=-", "rotate: each moved one step, the gap filled, .4 untouched");
  write_text (p, "NEW");
  unlink (p); /* the failed start removes its new file */
  tap_ok (firec_output_restore (p, 3, was.st_dev, was.st_ino, &err) == 0, "restore: succeeds");
  cleanup_free char *back = listing (p, 5);
  TAP_STR_EQ (back, "path=A .1=B .2=C .3=- .4=E .5=-", "restore: everything back where it was");
  firec_error_release (&err);
  clear (p, 5);
}

/* A start that died anywhere in the rotation: restore puts back what moved. */
static void
test_restore_anywhere (void)
{
  cleanup_free char *p = tpath ("crash.log");
  cleanup_free char *one = firec_output_aside_name (p, 1);
  cleanup_free char *two = firec_output_aside_name (p, 2);
  cleanup_free char *three = firec_output_aside_name (p, 3);
  /* The renames of a rotation of three names, in its order. */
  const char *from[] = { two, one, p };
  const char *to[] = { three, two, one };
  for (int done = 0; done <= 3; done++)
    {
      earlier_files (p);
      struct stat was;
      if (lstat (p, &was) < 0)
        exit (99);
      for (int i = 0; i < done; i++)
        if (rename (from[i], to[i]) < 0)
          exit (99);
      firec_error_t err = NULL;
      int rc = firec_output_restore (p, 3, was.st_dev, was.st_ino, &err);
      cleanup_free char *back = listing (p, 5);
      tap_ok (rc == 0 && strcmp (back, "path=A .1=B .2=C .3=- .4=E .5=-") == 0,
              "restore after %d of the 3 renames: everything where it was (%s)", done, back);
      firec_error_release (&err);
    }

  /* Nothing had moved, and the file at the path is gone (not ours to bring
     back from .1: that is an earlier file in its place). */
  earlier_files (p);
  struct stat was;
  if (lstat (p, &was) < 0)
    exit (99);
  unlink (p);
  firec_error_t err = NULL;
  firec_output_restore (p, 3, was.st_dev, was.st_ino, &err);
  cleanup_free char *kept = listing (p, 5);
  TAP_STR_EQ (kept, "path=- .1=B .2=C .3=- .4=E .5=-",
              "restore: .1 stays when it is not the file that was at the path");
  firec_error_release (&err);

  /* The new file could not be removed: nothing is moved onto it. */
  earlier_files (p);
  if (lstat (p, &was) < 0 || firec_output_rotate (p, 3, &err) < 0)
    exit (99);
  write_text (p, "NEW");
  firec_output_restore (p, 3, was.st_dev, was.st_ino, &err);
  cleanup_free char *stays = listing (p, 5);
  TAP_STR_EQ (stays, "path=NEW .1=A .2=B .3=C .4=E .5=-", "restore: never replaces a name in use");
  firec_error_release (&err);
  clear (p, 5);
}

static void
test_never_replaces (void)
{
  cleanup_free char *p = tpath ("race.log");
  earlier_files (p);
  struct stat was;
  if (lstat (p, &was) < 0)
    exit (99);
  /* After the chain was counted, the name at its top appeared. */
  cleanup_free char *three = firec_output_aside_name (p, 3);
  write_text (three, "D");
  firec_error_t err = NULL;
  int rc = firec_output_rotate (p, 3, &err);
  tap_ok (rc < 0 && err && err->errno_value == EEXIST, "rotate: a name that appeared meanwhile is not replaced");
  firec_error_release (&err);
  firec_output_restore (p, 3, was.st_dev, was.st_ino, &err);
  cleanup_free char *back = listing (p, 5);
  TAP_STR_EQ (back, "path=A .1=B .2=C .3=D .4=E .5=-", "restore: nothing lost, nothing moved");
  firec_error_release (&err);
  clear (p, 5);
}

static void
test_trim (void)
{
  cleanup_free char *p = tpath ("trim.log");
  clear (p, 9);
  for (unsigned k = 0; k <= 7; k++)
    {
      cleanup_free char *name = firec_output_aside_name (p, k);
      cleanup_free char *text = firec_xasprintf ("%u", k);
      if (k == 6)
        {
          if (mkdir (name, 0700) < 0)
            exit (99);
        }
      else
        write_text (name, text);
    }
  cleanup_free char *nine = firec_output_aside_name (p, 9);
  write_text (nine, "9");
  firec_output_trim (p, 8);
  cleanup_free char *left = listing (p, 9);
  TAP_STR_EQ (left, "path=0 .1=1 .2=2 .3=3 .4=4 .5=5 .6=<dir> .7=- .8=- .9=9",
              "trim: files beyond .5 of the rotation go; a directory and names beyond it stay");
  clear (p, 9);
}

static void
test_long_chain (void)
{
  cleanup_free char *dir = tpath ("many");
  if (mkdir (dir, 0700) < 0 && errno != EEXIST)
    exit (99);
  cleanup_free char *p = tpath ("many/fc.log");
  for (unsigned k = 0; k <= 1001; k++)
    {
      cleanup_free char *name = firec_output_aside_name (p, k);
      write_text (name, "x");
    }
  errno = 0;
  tap_ok (firec_output_chain (p) < 0 && errno == ELOOP, "chain: more than a thousand earlier files is refused");
  clear (p, 1001);
  rmdir (dir);
}

int
main (void)
{
  snprintf (tmpdir, sizeof tmpdir, "%s/firec-output-XXXXXX", getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
  if (mkdtemp (tmpdir) == NULL)
    return 99;
  test_inspect ();
  test_rotate ();
  test_restore_anywhere ();
  test_never_replaces ();
  test_trim ();
  test_long_chain ();
  tap_ok (rmdir (tmpdir) == 0, "the test directory is empty at the end");
  return tap_done ();
}
