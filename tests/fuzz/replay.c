/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a fuzz target over saved inputs without libFuzzer, so that make check
   replays the corpus with any compiler. Arguments are files or directories (whose
   files are replayed in name order); prints TAP. A crash is the failure. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int test_count;
static int failures;

static void
report (int ok, const char *path, const char *why)
{
  printf ("%s %d - %s%s%s\n", ok ? "ok" : "not ok", ++test_count, path, why ? ": " : "", why ? why : "");
  fflush (stdout);
  if (!ok)
    failures++;
}

static int
read_whole_file (const char *path, uint8_t **ret, size_t *ret_len)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  size_t len = 0, cap = 4096;
  uint8_t *data = malloc (cap);
  for (;;)
    {
      if (data == NULL)
        {
          close (fd);
          errno = ENOMEM;
          return -1;
        }
      ssize_t n = read (fd, data + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          free (data);
          close (fd);
          errno = saved;
          return -1;
        }
      if (n == 0)
        break;
      len += (size_t) n;
      if (len == cap)
        {
          cap *= 2;
          uint8_t *bigger = realloc (data, cap);
          if (bigger == NULL)
            free (data);
          data = bigger;
        }
    }
  close (fd);
  *ret = data;
  *ret_len = len;
  return 0;
}

static void
replay_file (const char *path)
{
  uint8_t *data;
  size_t len;
  if (read_whole_file (path, &data, &len) < 0)
    {
      report (0, path, strerror (errno));
      return;
    }
  LLVMFuzzerTestOneInput (data, len);
  free (data);
  report (1, path, NULL);
}

static int
skip_hidden (const struct dirent *entry)
{
  return entry->d_name[0] != '.';
}

static void
replay_path (const char *path)
{
  struct stat st;
  if (stat (path, &st) < 0)
    {
      report (0, path, strerror (errno));
      return;
    }
  if (!S_ISDIR (st.st_mode))
    {
      replay_file (path);
      return;
    }
  struct dirent **entries;
  int n = scandir (path, &entries, skip_hidden, alphasort);
  if (n < 0)
    {
      report (0, path, strerror (errno));
      return;
    }
  if (n == 0)
    report (0, path, "no inputs in this directory");
  for (int i = 0; i < n; i++)
    {
      size_t len = strlen (path) + strlen (entries[i]->d_name) + 2;
      char *child = malloc (len);
      if (child)
        {
          snprintf (child, len, "%s/%s", path, entries[i]->d_name);
          struct stat child_st;
          if (stat (child, &child_st) == 0 && S_ISREG (child_st.st_mode))
            replay_file (child);
          free (child);
        }
      free (entries[i]);
    }
  free (entries);
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s FILE|DIRECTORY...\n", argv[0]);
      return 2;
    }
  for (int i = 1; i < argc; i++)
    replay_path (argv[i]);
  printf ("1..%d\n", test_count);
  return failures ? 1 : 0;
}
