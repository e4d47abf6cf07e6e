/* SPDX-License-Identifier: Apache-2.0 */
/* version: `binary --version`, remembered per file identity (see version.h). */
#include "config.h"

#include "version.h"
#include "process.h"
#include "state.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The entry's file name: a digest of the binary's path (paths may be long and
   hold any byte). */
static void
entry_name (const char *binary, char name[2 * 16 + 1])
{
  struct sha256_ctx ctx;
  uint8_t digest[SHA256_DIGEST_SIZE];
  sha256_init (&ctx);
  sha256_update (&ctx, strlen (binary), (const uint8_t *) binary);
  sha256_digest (&ctx, sizeof digest, digest);
  for (size_t i = 0; i < 16; i++)
    snprintf (name + 2 * i, 3, "%02x", digest[i]);
}

/* The line an entry holds: the path too, so that an entry never answers for
   another binary. */
static char *
entry_text (const char *binary, const struct stat *st, const char *version)
{
  return firec_xasprintf ("%" PRIuMAX " %" PRIuMAX " %" PRIdMAX " %lld.%09ld %lld.%09ld %s %s\n",
                          (uintmax_t) st->st_dev, (uintmax_t) st->st_ino, (intmax_t) st->st_size,
                          (long long) st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long) st->st_ctim.tv_sec,
                          st->st_ctim.tv_nsec, version, binary);
}

/* The cache directory, when it is ours alone: an entry anyone else could write
   would let them choose what version we believe. */
static int
open_cache_dir (const char *cache_dir, bool create)
{
  if (create)
    {
      /* It sits in the state root, made as the state directories are. */
      firec_error_t ignored = NULL;
      firec_state_make_dir (cache_dir, &ignored);
      firec_error_release (&ignored);
    }
  int fd = open (cache_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd >= 0 && (fstat (fd, &st) < 0 || st.st_uid != geteuid () || (st.st_mode & 022) != 0))
    {
      close (fd);
      fd = -1;
    }
  return fd;
}

static char *
cache_lookup (const struct firec_version_probe *probe)
{
  cleanup_close int dirfd = open_cache_dir (probe->cache_dir, false);
  if (dirfd < 0)
    return NULL;
  char name[2 * 16 + 1];
  entry_name (probe->binary, name);
  cleanup_close int fd = openat (dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  cleanup_free char *text = NULL;
  size_t len;
  if (firec_read_fd (fd, 8192, &text, &len) < 0)
    return NULL;
  /* The version is the field before the path; the rest must match exactly. */
  char *space = text;
  for (int field = 0; field < 5 && space; field++)
    space = strchr (space + 1, ' ');
  if (space == NULL)
    return NULL;
  char *version = space + 1;
  char *end = strchr (version, ' ');
  if (end == NULL || end == version)
    return NULL;
  cleanup_free char *found = firec_xstrndup (version, (size_t) (end - version));
  cleanup_free char *expected = entry_text (probe->binary, &probe->st, found);
  return strcmp (text, expected) == 0 ? steal_pointer (&found) : NULL;
}

/* Best effort: a cache that cannot be written only costs the next run a probe. */
static void
cache_store (const struct firec_version_probe *probe, const char *version)
{
  struct timespec now;
  clock_gettime (CLOCK_REALTIME, &now);
  if (now.tv_sec - probe->st.st_ctim.tv_sec < probe->settle_s || strpbrk (version, " \n") != NULL)
    return;
  /* Still the file that was run: one replaced meanwhile would file the new
     file's version under the old one's identity. */
  struct stat st;
  if (stat (probe->binary, &st) < 0)
    return;
  cleanup_free char *text = entry_text (probe->binary, &probe->st, version);
  cleanup_free char *now_text = entry_text (probe->binary, &st, version);
  if (strcmp (text, now_text) != 0)
    return;
  cleanup_close int dirfd = open_cache_dir (probe->cache_dir, true);
  if (dirfd < 0)
    return;
  char name[2 * 16 + 1];
  entry_name (probe->binary, name);
  char tmp[sizeof name + 32];
  snprintf (tmp, sizeof tmp, ".%s.%ld", name, (long) getpid ());
  cleanup_close int fd = openat (dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return;
  size_t len = strlen (text);
  /* Written whole, then renamed over: a reader sees the old entry or the new one. */
  if (write (fd, text, len) != (ssize_t) len || renameat (dirfd, tmp, dirfd, name) < 0)
    unlinkat (dirfd, tmp, 0);
}

void
firec_version_probe_start (struct firec_version_probe *probe, const char *binary, const char *cache_dir, long settle_s)
{
  *probe = (struct firec_version_probe){ .binary = binary, .settle_s = settle_s, .pidfd = -1, .out_fd = -1 };
  probe->identified = stat (binary, &probe->st) == 0;
  if (cache_dir && probe->identified)
    {
      probe->cache_dir = firec_xstrdup (cache_dir);
      probe->cached = cache_lookup (probe);
      if (probe->cached)
        return;
    }

  int pipefd[2];
  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    {
      firec_error_set (&probe->start_error, errno, "cannot create a pipe");
      return;
    }
  const char *argv[] = { binary, "--version", NULL };
  struct firec_spawn_opts opts = FIREC_SPAWN_OPTS_INIT;
  opts.argv = argv;
  opts.envp = (const char *const *) environ;
  opts.stdin_fd = FIREC_SPAWN_FD_DEVNULL;
  opts.stdout_fd = pipefd[1];
  opts.stderr_fd = FIREC_SPAWN_FD_DEVNULL;
  int rc = firec_spawn (&opts, &probe->pid, &probe->pidfd, &probe->start_error);
  close (pipefd[1]);
  if (rc < 0)
    close (pipefd[0]);
  else
    probe->out_fd = pipefd[0];
}

static int
finish_process (struct firec_version_probe *probe, char **version, firec_error_t *err)
{
  if (probe->start_error)
    {
      int rc = firec_error_set_errno (err, probe->start_error->errno_value, "%s", probe->start_error->message);
      firec_error_release (&probe->start_error);
      return rc;
    }
  cleanup_free char *out = NULL;
  size_t len = 0;
  int read_rc = firec_read_fd (probe->out_fd, 64 * 1024, &out, &len);
  close (probe->out_fd);
  probe->out_fd = -1;
  int status;
  enum firec_wait_result waited = firec_process_wait (probe->pid, probe->pidfd, 10000, &status, err);
  if (probe->pidfd >= 0)
    close (probe->pidfd);
  probe->pidfd = -1;
  const char *binary = probe->binary;
  if (waited != FIREC_WAIT_EXITED)
    return firec_error_set (err, 0, "%s --version did not finish", binary);
  if (read_rc < 0 || !WIFEXITED (status) || WEXITSTATUS (status) != 0)
    {
      cleanup_free char *how = firec_describe_wait_status (status);
      return firec_error_set (err, 0, "%s --version %s", binary, how);
    }
  out[strcspn (out, "\n")] = '\0'; /* the first line: later ones name other versions */
  const char *v = out;
  while ((v = strstr (v, " v")) && !(v[2] >= '0' && v[2] <= '9'))
    v++;
  if (v == NULL)
    return firec_error_set (err, 0, "%s --version printed no version: %.80s", binary, out);
  v += 2;
  *version = firec_xstrndup (v, strcspn (v, " \r\n"));
  return 0;
}

int
firec_version_probe_finish (struct firec_version_probe *probe, char **version, firec_error_t *err)
{
  int rc = 0;
  *version = NULL;
  if (probe->cached)
    *version = steal_pointer (&probe->cached);
  else
    {
      rc = finish_process (probe, version, err);
      if (rc == 0 && probe->cache_dir && probe->identified && **version)
        cache_store (probe, *version);
    }
  free (probe->cache_dir);
  probe->cache_dir = NULL;
  return rc;
}
