/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for stage.c: the jail root, each staging method, sparse copies,
   writable drives, bind mounts, output files, symlink attacks planted in the jail,
   tree removal across bind mounts, access checks, and reflinks on btrfs. Cases
   that need root (other ids, mounts, loop devices) SKIP when not root. */
#include "config.h"

#include "stage.h"
#include "util.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

static char tmpdir[PATH_MAX];
static bool is_root;
static uid_t U;
static gid_t G;
static int jail_counter;

__attribute__ ((format (printf, 1, 2))) static void
skip (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *reason = firec_xvasprintf (fmt, ap);
  va_end (ap);
  tap_ok (1, "# SKIP %s", reason);
}

__attribute__ ((format (printf, 1, 2))) static char *
tpath (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *rel = firec_xvasprintf (fmt, ap);
  va_end (ap);
  return firec_xasprintf ("%s/%s", tmpdir, rel);
}

static long long
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
write_file (const char *path, const char *content, mode_t mode)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || write (fd, content, strlen (content)) != (ssize_t) strlen (content) || fchmod (fd, mode) < 0)
    {
      perror (path);
      exit (99);
    }
  close (fd);
}

static bool
exists_nofollow (const char *path)
{
  struct stat st;
  return lstat (path, &st) == 0;
}

static bool
err_has (firec_error_t err, const char *needle)
{
  bool ok = err && err->message && strstr (err->message, needle);
  if (!ok)
    printf ("#   error %s does not mention \"%s\"\n", err ? err->message : "(none)", needle);
  return ok;
}

static bool
dir_is_empty (const char *path)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return false;
  DIR *d = fdopendir (fd);
  if (d == NULL)
    return false;
  bool empty = true;
  struct dirent *e;
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      {
        printf ("#   %s still holds %s\n", path, e->d_name);
        empty = false;
      }
  closedir (d);
  return empty;
}

/* ------------------------------------------------------------------ source snapshots */

struct snap
{
  struct stat st;
  char *data;
  size_t len;
};

static void
snap_take (struct snap *s, const char *path)
{
  memset (s, 0, sizeof *s);
  if (stat (path, &s->st) < 0)
    {
      perror (path);
      exit (99);
    }
  if (S_ISREG (s->st.st_mode) && s->st.st_size <= (1 << 20))
    firec_read_file (path, 1 << 20, &s->data, &s->len);
}

/* The user's file must keep its owner, mode, mtime and content. */
static bool
snap_same (const struct snap *s, const char *path, bool check_content)
{
  struct snap now;
  snap_take (&now, path);
  bool same = now.st.st_ino == s->st.st_ino && now.st.st_dev == s->st.st_dev && now.st.st_uid == s->st.st_uid
              && now.st.st_gid == s->st.st_gid && now.st.st_mode == s->st.st_mode;
  if (check_content)
    same = same && now.st.st_mtim.tv_sec == s->st.st_mtim.tv_sec && now.st.st_mtim.tv_nsec == s->st.st_mtim.tv_nsec
           && now.st.st_size == s->st.st_size && now.len == s->len
           && (s->len == 0 || memcmp (now.data, s->data, s->len) == 0);
  if (!same)
    printf ("#   %s changed: uid %u->%u gid %u->%u mode %o->%o size %lld->%lld\n", path, (unsigned) s->st.st_uid,
            (unsigned) now.st.st_uid, (unsigned) s->st.st_gid, (unsigned) now.st.st_gid, (unsigned) s->st.st_mode,
            (unsigned) now.st.st_mode, (long long) s->st.st_size, (long long) now.st.st_size);
  free (now.data);
  return same;
}

static void
snap_release (struct snap *s)
{
  free (s->data);
  s->data = NULL;
}

/* ------------------------------------------------------------------ helpers */

struct jail
{
  char *dir;
  char *root;
  int fd;
};

static void
jail_open (struct jail *j, const char *base)
{
  j->dir = firec_xasprintf ("%s/firecracker/vm-%d", base, ++jail_counter);
  j->root = firec_xasprintf ("%s/root", j->dir);
  firec_error_t err = NULL;
  if (firec_stage_make_root (j->dir, j->root, &j->fd, &err) < 0)
    {
      printf ("# make_root %s: %s\n", j->dir, err->message);
      exit (99);
    }
}

static void
jail_close (struct jail *j)
{
  firec_error_t err = NULL;
  if (j->fd >= 0)
    close (j->fd);
  if (firec_stage_remove_tree (j->dir, &err) < 0)
    printf ("# remove_tree %s: %s\n", j->dir, err->message);
  firec_error_release (&err);
  free (j->dir);
  free (j->root);
}

static struct firec_file
file_of (enum firec_file_role role, const char *host, const char *vm, enum firec_staging_mode mode, bool writable,
         bool output)
{
  struct firec_file f = { 0 };
  f.role = role;
  f.host_path = (char *) host;
  f.vm_path = (char *) vm;
  f.mode = mode;
  f.writable = writable;
  f.output = output;
  return f;
}

static char *
jpath (const struct jail *j, const char *vm_path)
{
  return firec_xasprintf ("%s%s", j->root, vm_path);
}

static bool
same_inode (const char *a, const char *b)
{
  struct stat sa, sb;
  return stat (a, &sa) == 0 && stat (b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static bool
same_content (const char *a, const char *b)
{
  cleanup_free char *da = NULL, *db = NULL;
  size_t la = 0, lb = 0;
  if (firec_read_file (a, 64 << 20, &da, &la) < 0 || firec_read_file (b, 64 << 20, &db, &lb) < 0)
    return false;
  return la == lb && memcmp (da, db, la) == 0;
}

static bool
mode_owner_is (const char *path, mode_t mode, uid_t uid, gid_t gid)
{
  struct stat st;
  if (lstat (path, &st) < 0)
    return false;
  bool ok = (st.st_mode & 07777) == mode && st.st_uid == uid && st.st_gid == gid;
  if (!ok)
    printf ("#   %s: mode %o uid %u gid %u, want %o %u %u\n", path, (unsigned) (st.st_mode & 07777),
            (unsigned) st.st_uid, (unsigned) st.st_gid, (unsigned) mode, (unsigned) uid, (unsigned) gid);
  return ok;
}

/* Mount points at or below prefix, from /proc/self/mountinfo. */
static int
mounts_under (const char *prefix)
{
  FILE *f = fopen ("/proc/self/mountinfo", "re");
  if (f == NULL)
    return -1;
  char *line = NULL;
  size_t cap = 0;
  int n = 0;
  size_t len = strlen (prefix);
  while (getline (&line, &cap, f) > 0)
    {
      char mp[PATH_MAX];
      if (sscanf (line, "%*s %*s %*s %*s %4095s", mp) == 1 && strncmp (mp, prefix, len) == 0
          && (mp[len] == '\0' || mp[len] == '/'))
        n++;
    }
  free (line);
  fclose (f);
  return n;
}

static bool
is_mount_point (const char *path)
{
  return mounts_under (path) > 0;
}

static char *
find_program (const char *name)
{
  const char *env = getenv ("PATH");
  cleanup_free char *path = firec_xasprintf ("%s:/usr/sbin:/sbin", env ? env : "/usr/bin:/bin");
  char *save = NULL;
  for (char *dir = strtok_r (path, ":", &save); dir; dir = strtok_r (NULL, ":", &save))
    {
      char *candidate = firec_xasprintf ("%s/%s", dir, name);
      if (access (candidate, X_OK) == 0)
        return candidate;
      free (candidate);
    }
  return NULL;
}

/* Runs argv quietly; returns the exit status (or -1). */
static int
run (char *const argv[])
{
  pid_t pid = fork ();
  if (pid < 0)
    return -1;
  if (pid == 0)
    {
      int null = open ("/dev/null", O_RDWR);
      if (null >= 0)
        {
          dup2 (null, 1);
          dup2 (null, 2);
        }
      execv (argv[0], argv);
      _exit (127);
    }
  int status;
  if (waitpid (pid, &status, 0) < 0)
    return -1;
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
stage (const struct jail *j, const struct firec_file *f, struct firec_staged *ret, firec_error_t *err)
{
  return firec_stage_file (j->fd, f, U, G, NULL, NULL, ret, err);
}

/* ------------------------------------------------------------------ make_root */

static void
test_make_root (void)
{
  cleanup_free char *jail_dir = tpath ("mk/base/firecracker/web-1");
  cleanup_free char *root = tpath ("mk/base/firecracker/web-1/root");
  firec_error_t err = NULL;
  int fd = -1;
  tap_ok (firec_stage_make_root (jail_dir, root, &fd, &err) == 0 && fd >= 0, "make_root creates the jail and its root");
  struct stat st;
  tap_ok (fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode) && (fcntl (fd, F_GETFL) & O_PATH)
              && (fcntl (fd, F_GETFD) & FD_CLOEXEC),
          "the root fd is an O_PATH, CLOEXEC directory");
  tap_ok (mode_owner_is (root, 0700, geteuid (), getegid ()), "the VM root is 0700");
  cleanup_free char *base = tpath ("mk/base/firecracker");
  tap_ok (mode_owner_is (base, 0755, geteuid (), getegid ()), "missing parents are created 0755");
  if (fd >= 0)
    close (fd);
  firec_error_release (&err);

  fd = -1;
  int rc = firec_stage_make_root (jail_dir, root, &fd, &err);
  tap_ok (rc < 0 && fd == -1 && err && err->errno_value == EEXIST && err->kind == FIREC_ERR_PRECONDITION,
          "a second make_root fails with EEXIST");
  tap_ok (err_has (err, "appeared since preflight") && !err_has (err, "firec-run rm"),
          "the EEXIST error says what happened (the remedy is preflight's to give, with the right rm command)");
  firec_error_release (&err);

  cleanup_free char *half = tpath ("mk/base/firecracker/half");
  cleanup_free char *half_root = tpath ("mk/base/firecracker/half/root/../x");
  tap_ok (firec_stage_make_root (half, half_root, &fd, &err) < 0 && fd == -1 && !exists_nofollow (half),
          "a make_root that fails after creating the jail directory removes it again");
  firec_error_release (&err);

  cleanup_free char *other = tpath ("mk/elsewhere/root");
  tap_ok (firec_stage_make_root (jail_dir, other, &fd, &err) < 0 && err && err->errno_value == EINVAL,
          "a VM root outside the jail directory is refused");
  firec_error_release (&err);

  tap_ok (firec_stage_remove_tree (jail_dir, &err) == 0 && !exists_nofollow (jail_dir) && exists_nofollow (base),
          "remove_tree removes the jail but not its parents");
  firec_error_release (&err);
}

/* ------------------------------------------------------------------ read-only files */

static void
test_read_only_modes (void)
{
  cleanup_free char *src = tpath ("vmlinux");
  write_file (src, "kernel image bytes\n", 0644);
  struct snap before;
  snap_take (&before, src);
  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged staged;

  /* link */
  struct firec_file f = file_of (FIREC_FILE_KERNEL, src, "/kernel/vmlinux", FIREC_STAGING_LINK, false, false);
  cleanup_free char *staged_path = jpath (&j, "/kernel/vmlinux");
  cleanup_free char *kernel_dir = jpath (&j, "/kernel");
  int rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_LINK && same_inode (src, staged_path),
          "link: the staged name is the same inode%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (mode_owner_is (kernel_dir, 0700, U, G), "link: the new parent directory is 0700 and owned by uid:gid");
  tap_ok (snap_same (&before, src, true), "link: the source is unchanged");
  tap_ok (rc == 0 && firec_stage_unstage (j.fd, &staged, &err) == 0 && !exists_nofollow (staged_path)
              && exists_nofollow (src),
          "link: unstage removes the staged name only");
  firec_error_release (&err);
  firec_staged_release (&staged);

  /* copy */
  f.mode = FIREC_STAGING_COPY;
  rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_COPY && !same_inode (src, staged_path)
              && same_content (src, staged_path),
          "copy: a different inode with the same bytes%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (mode_owner_is (staged_path, 0400, U, G), "copy: mode 0400, owned by uid:gid (%u:%u)", (unsigned) U,
          (unsigned) G);
  tap_ok (snap_same (&before, src, true), "copy: the source is unchanged");
  tap_ok (exists_nofollow (staged_path), "copy: the staged file is there");
  firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  tap_ok (dir_is_empty (kernel_dir), "copy: no temporary file is left behind after unstage");
  firec_error_release (&err);

  /* reflink: the test directory's filesystem may or may not have reflinks */
  f.mode = FIREC_STAGING_REFLINK;
  rc = stage (&j, &f, &staged, &err);
  if (rc == 0)
    tap_ok (staged.method == FIREC_STAGED_REFLINK && !same_inode (src, staged_path) && same_content (src, staged_path)
                && mode_owner_is (staged_path, 0400, U, G),
            "reflink: works on this filesystem: another inode, same bytes, 0400 uid:gid");
  else
    tap_ok (err_has (err, "reflink") && err_has (err, "staging: copy") && dir_is_empty (kernel_dir),
            "reflink: an unsupported filesystem gives a clear error and leaves nothing behind");
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  tap_ok (snap_same (&before, src, true), "reflink: the source is unchanged");

  /* auto, readable, same filesystem */
  f.mode = FIREC_STAGING_AUTO;
  rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_LINK && same_inode (src, staged_path),
          "auto: picks link for a readable file on the jail's filesystem");
  firec_error_release (&err);
  firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);

  /* the same vm_path twice */
  rc = stage (&j, &f, &staged, &err);
  struct firec_staged again;
  tap_ok (rc == 0 && stage (&j, &f, &again, &err) < 0 && err_has (err, "already exists"),
          "a second file at the same path in the VM root is refused");
  firec_error_release (&err);
  firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);

  /* bad vm paths */
  struct firec_file bad = file_of (FIREC_FILE_KERNEL, src, "/kernel/../../escape", FIREC_STAGING_COPY, false, false);
  tap_ok (stage (&j, &bad, &staged, &err) < 0 && err && err->errno_value == EINVAL && err_has (err, ".."),
          "a VM path with .. is refused");
  firec_error_release (&err);
  bad.vm_path = "relative/vmlinux";
  tap_ok (stage (&j, &bad, &staged, &err) < 0 && err_has (err, "absolute"), "a relative VM path is refused");
  firec_error_release (&err);

  /* a missing source */
  cleanup_free char *missing = tpath ("no-such-kernel");
  struct firec_file m = file_of (FIREC_FILE_KERNEL, missing, "/kernel/missing", FIREC_STAGING_AUTO, false, false);
  tap_ok (stage (&j, &m, &staged, &err) < 0 && err && err->errno_value == ENOENT && err_has (err, missing),
          "a missing source names the file");
  firec_error_release (&err);

  tap_ok (snap_same (&before, src, true), "the source is unchanged after all read-only cases");
  snap_release (&before);
  jail_close (&j);
}

static void
test_read_only_unreadable (void)
{
  if (!is_root)
    {
      skip ("staging a file uid:gid cannot read needs root (other ids)");
      return;
    }
  cleanup_free char *src = tpath ("private-vmlinux");
  write_file (src, "root-only kernel\n", 0600);
  struct snap before;
  snap_take (&before, src);
  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged staged;
  cleanup_free char *staged_path = jpath (&j, "/kernel/vmlinux");
  cleanup_free char *kernel_dir = jpath (&j, "/kernel");

  struct firec_file f = file_of (FIREC_FILE_KERNEL, src, "/kernel/vmlinux", FIREC_STAGING_LINK, false, false);
  int rc = stage (&j, &f, &staged, &err);
  tap_ok (rc < 0 && err && err->kind == FIREC_ERR_PRECONDITION && err_has (err, src)
              && err_has (err, "uid 10001 gid 10002") && err_has (err, "chmod o+r")
              && err_has (err, "setfacl -m u:10001:r") && err_has (err, "staging: copy"),
          "link of a file uid:gid cannot read: the error says why and how to fix it");
  tap_ok (dir_is_empty (kernel_dir), "link of an unreadable file leaves nothing behind");
  firec_error_release (&err);

  f.mode = FIREC_STAGING_AUTO;
  rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && (staged.method == FIREC_STAGED_COPY || staged.method == FIREC_STAGED_REFLINK)
              && !same_inode (src, staged_path) && same_content (src, staged_path)
              && mode_owner_is (staged_path, 0400, U, G),
          "auto: an unreadable file is copied (%s), 0400 and owned by uid:gid",
          rc == 0 ? firec_stage_method_name (staged.method) : err->message);
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);

  cleanup_free char *setfacl = find_program ("setfacl");
  if (setfacl == NULL)
    skip ("setfacl is not installed: ACL case not checked");
  else
    {
      /* The ACL belongs to the test's own copy of a "user" file. */
      cleanup_free char *acl_src = tpath ("acl-vmlinux");
      write_file (acl_src, "acl kernel\n", 0600);
      char *argv[] = { setfacl, (char *) "-m", (char *) "u:10001:r", acl_src, NULL };
      if (run (argv) != 0)
        skip ("setfacl failed (no ACL support on this filesystem?)");
      else
        {
          struct snap acl_before;
          snap_take (&acl_before, acl_src);
          struct firec_file a = file_of (FIREC_FILE_KERNEL, acl_src, "/kernel/acl", FIREC_STAGING_AUTO, false, false);
          cleanup_free char *acl_staged = jpath (&j, "/kernel/acl");
          rc = stage (&j, &a, &staged, &err);
          tap_ok (rc == 0 && staged.method == FIREC_STAGED_LINK && same_inode (acl_src, acl_staged),
                  "auto: an ACL granting uid read access is enough for a link");
          tap_ok (firec_stage_can_access (acl_src, U, G, false, &err) == 1
                      && firec_stage_can_access (acl_src, U, G, true, &err) == 0,
                  "can_access honours the ACL (read yes, write no)");
          tap_ok (snap_same (&acl_before, acl_src, true), "ACL case: the source is unchanged");
          snap_release (&acl_before);
          firec_error_release (&err);
          if (rc == 0)
            firec_stage_unstage (j.fd, &staged, &err);
          firec_staged_release (&staged);
        }
    }

  tap_ok (snap_same (&before, src, true), "unreadable cases: the source is unchanged");
  snap_release (&before);
  jail_close (&j);
}

/* ------------------------------------------------------------------ sparse copies */

struct progress_log
{
  int calls;
  unsigned long long last_done, last_total;
  bool monotonic;
};

static void
on_progress (void *data, const char *what, unsigned long long done, unsigned long long total)
{
  struct progress_log *p = data;
  (void) what;
  if (done < p->last_done)
    p->monotonic = false;
  p->calls++;
  p->last_done = done;
  p->last_total = total;
}

static void
test_sparse_copy (void)
{
  cleanup_free char *src = tpath ("sparse.img");
  const off_t size = 4LL << 30;
  const off_t extent_a = 1LL << 30, extent_b = 3LL << 30;
  const size_t extent_len = 1 << 20;
  cleanup_free char *pattern = firec_xmalloc (extent_len);
  for (size_t i = 0; i < extent_len; i++)
    pattern[i] = (char) (i * 7 + 3);
  int fd = open (src, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate (fd, size) < 0 || pwrite (fd, pattern, extent_len, extent_a) != (ssize_t) extent_len
      || pwrite (fd, pattern, extent_len, extent_b) != (ssize_t) extent_len || fsync (fd) < 0)
    {
      skip ("cannot create a 4 GiB sparse file here: %s", strerror (errno));
      if (fd >= 0)
        close (fd);
      unlink (src);
      return;
    }
  close (fd);
  struct snap before;
  snap_take (&before, src);

  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged staged;
  struct firec_file f = file_of (FIREC_FILE_DRIVE, src, "/drives/data/sparse.img", FIREC_STAGING_COPY, false, false);
  struct progress_log log = { .monotonic = true };
  struct firec_stage_progress progress = { on_progress, &log };
  long long t0 = now_ms ();
  int rc = firec_stage_file (j.fd, &f, U, G, NULL, &progress, &staged, &err);
  long long elapsed = now_ms () - t0;
  cleanup_free char *staged_path = jpath (&j, "/drives/data/sparse.img");
  struct stat st;
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_COPY && stat (staged_path, &st) == 0 && st.st_size == size,
          "sparse copy: the copy has the full 4 GiB size%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (rc == 0 && (long long) st.st_blocks * 512 <= 16LL << 20, "sparse copy: holes are kept (%lld KiB allocated)",
          rc == 0 ? (long long) st.st_blocks / 2 : -1LL);
  tap_ok (elapsed < 1000, "sparse copy: took %lld ms (well under a second)", elapsed);

  bool data_ok = false, hole_ok = false;
  fd = open (staged_path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    {
      cleanup_free char *buf = firec_xmalloc (extent_len);
      data_ok = pread (fd, buf, extent_len, extent_a) == (ssize_t) extent_len && memcmp (buf, pattern, extent_len) == 0
                && pread (fd, buf, extent_len, extent_b) == (ssize_t) extent_len
                && memcmp (buf, pattern, extent_len) == 0;
      hole_ok = pread (fd, buf, 4096, 2LL << 30) == 4096;
      for (size_t i = 0; hole_ok && i < 4096; i++)
        hole_ok = buf[i] == 0;
      close (fd);
    }
  tap_ok (data_ok && hole_ok, "sparse copy: both data extents are copied and the hole reads as zeros");
  tap_ok (log.calls >= 1 && log.calls <= elapsed / 100 + 2 && log.last_done == (unsigned long long) size
              && log.last_total == (unsigned long long) size && log.monotonic,
          "sparse copy: progress is reported for a copy above 256 MiB, throttled, ending at done == total (%d calls)",
          log.calls);
  tap_ok (mode_owner_is (staged_path, 0400, U, G), "sparse copy: 0400, owned by uid:gid");
  tap_ok (snap_same (&before, src, false), "sparse copy: the source is unchanged");
  struct stat after;
  tap_ok (stat (src, &after) == 0 && after.st_mtim.tv_sec == before.st.st_mtim.tv_sec
              && after.st_mtim.tv_nsec == before.st.st_mtim.tv_nsec && after.st_blocks == before.st.st_blocks,
          "sparse copy: the source's mtime and allocation are unchanged");
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  firec_error_release (&err);

  /* small copies report nothing */
  cleanup_free char *small = tpath ("small.img");
  write_file (small, "tiny", 0644);
  struct progress_log none = { .monotonic = true };
  struct firec_stage_progress p2 = { on_progress, &none };
  struct firec_file s = file_of (FIREC_FILE_DRIVE, small, "/drives/small/small.img", FIREC_STAGING_COPY, false, false);
  rc = firec_stage_file (j.fd, &s, U, G, NULL, &p2, &staged, &err);
  tap_ok (rc == 0 && none.calls == 0, "a copy below 256 MiB reports no progress");
  firec_staged_release (&staged);
  firec_error_release (&err);

  snap_release (&before);
  jail_close (&j);
  unlink (src);
}

/* ------------------------------------------------------------------ writable drives */

static void
write_at (const char *path, const char *text)
{
  int fd = open (path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || pwrite (fd, text, strlen (text), 0) != (ssize_t) strlen (text))
    printf ("#   cannot write to %s: %s\n", path, strerror (errno));
  if (fd >= 0)
    close (fd);
}

static bool
starts_with_file (const char *path, const char *text)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  return firec_read_file (path, 1 << 20, &data, &len) == 0 && len >= strlen (text)
         && memcmp (data, text, strlen (text)) == 0;
}

static void
test_writable (void)
{
  cleanup_free char *src = tpath ("rootfs.ext4");
  write_file (src, "original rootfs contents\n", 0600);
  if (is_root && chown (src, U, G) < 0) /* the user gave it to the VM's ids */
    exit (99);
  struct snap before;
  snap_take (&before, src);
  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged staged;
  cleanup_free char *staged_path = jpath (&j, "/drives/rootfs/rootfs.ext4");

  struct firec_file f = file_of (FIREC_FILE_DRIVE, src, "/drives/rootfs/rootfs.ext4", FIREC_STAGING_AUTO, true, false);
  int rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_LINK && same_inode (src, staged_path),
          "writable drive: linked on the same filesystem%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (snap_same (&before, src, true), "writable drive: staging left the source unchanged");
  write_at (staged_path, "GUEST WROTE");
  tap_ok (starts_with_file (src, "GUEST WROTE"), "writable drive: a write through the staged name lands in the source");
  tap_ok (snap_same (&before, src, false), "writable drive: the source keeps its owner and mode");
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  firec_error_release (&err);
  write_file (src, "original rootfs contents\n", 0600);
  snap_release (&before);
  snap_take (&before, src);

  /* copy: private and ephemeral */
  f.mode = FIREC_STAGING_COPY;
  rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_COPY && !same_inode (src, staged_path)
              && same_content (src, staged_path) && mode_owner_is (staged_path, 0600, U, G),
          "writable drive, copy: a private 0600 copy owned by uid:gid");
  firec_error_release (&err);
  write_at (staged_path, "EPHEMERAL");
  tap_ok (snap_same (&before, src, true), "writable drive, copy: writes to the copy do not reach the source");
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  firec_error_release (&err);

  /* not writable by uid:gid */
  if (!is_root)
    skip ("a writable drive uid:gid cannot write needs root (other ids)");
  else
    {
      cleanup_free char *ro = tpath ("root-owned.ext4");
      write_file (ro, "root's disk\n", 0644);
      struct snap ro_before;
      snap_take (&ro_before, ro);
      struct firec_file w
          = file_of (FIREC_FILE_DRIVE, ro, "/drives/other/root-owned.ext4", FIREC_STAGING_AUTO, true, false);
      cleanup_free char *other_dir = jpath (&j, "/drives/other");
      rc = stage (&j, &w, &staged, &err);
      tap_ok (rc < 0 && err && err->kind == FIREC_ERR_PRECONDITION && err_has (err, ro)
                  && err_has (err, "uid 10001 gid 10002") && err_has (err, "chown 10001:10002")
                  && err_has (err, "setfacl -m u:10001:rw") && err_has (err, "staging: copy")
                  && err_has (err, "ephemeral") && dir_is_empty (other_dir),
              "writable drive uid:gid cannot write: a clear error with the fixes, nothing staged");
      firec_error_release (&err);
      w.mode = FIREC_STAGING_LINK;
      tap_ok (stage (&j, &w, &staged, &err) < 0 && err_has (err, "setfacl -m u:10001:rw"),
              "the same with staging: link");
      firec_error_release (&err);
      tap_ok (snap_same (&ro_before, ro, true), "writable drive uid:gid cannot write: the source is unchanged");
      snap_release (&ro_before);
    }
  snap_release (&before);
  jail_close (&j);
}

/* ------------------------------------------------------------------ bind mounts across filesystems */

static void
test_bind_across_filesystems (void)
{
  if (!is_root)
    {
      /* /dev/shm is another filesystem that anyone may write to. */
      struct stat shm, tmp;
      cleanup_free char *src = firec_xasprintf ("/dev/shm/firec-test-stage-%ld", (long) getpid ());
      if (stat ("/dev/shm", &shm) < 0 || stat (tmpdir, &tmp) < 0 || shm.st_dev == tmp.st_dev
          || access ("/dev/shm", W_OK) < 0)
        {
          skip ("no writable /dev/shm on another filesystem: unprivileged bind case not checked");
          return;
        }
      write_file (src, "disk on tmpfs\n", 0600);
      struct jail j;
      jail_open (&j, tmpdir);
      firec_error_t err = NULL;
      struct firec_staged staged;
      struct firec_file f = file_of (FIREC_FILE_DRIVE, src, "/drives/shm/disk", FIREC_STAGING_AUTO, true, false);
      cleanup_free char *dir = jpath (&j, "/drives/shm");
      int rc = stage (&j, &f, &staged, &err);
      tap_ok (rc < 0 && err_has (err, "CAP_SYS_ADMIN") && err_has (err, src) && dir_is_empty (dir),
              "unprivileged: a writable drive on another filesystem fails clearly (bind needs CAP_SYS_ADMIN)");
      firec_error_release (&err);
      if (rc == 0)
        firec_stage_unstage (j.fd, &staged, &err);
      firec_staged_release (&staged);
      f.writable = false;
      rc = stage (&j, &f, &staged, &err);
      tap_ok (rc == 0 && staged.method == FIREC_STAGED_COPY,
              "unprivileged: a read-only file on another filesystem is copied by auto");
      firec_staged_release (&staged);
      firec_error_release (&err);
      jail_close (&j);
      unlink (src);
      return;
    }

  cleanup_free char *mnt = tpath ("tmpfs");
  mkdir (mnt, 0755);
  if (mount ("firec-test", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0755") < 0)
    {
      skip ("cannot mount a tmpfs: %s", strerror (errno));
      return;
    }
  cleanup_free char *src = tpath ("tmpfs/disk.img");
  write_file (src, "disk on another filesystem\n", 0600);
  if (chown (src, U, G) < 0)
    exit (99);
  cleanup_free char *log_src = tpath ("tmpfs/fc.log");
  struct snap before;
  snap_take (&before, src);

  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged staged;
  cleanup_free char *staged_path = jpath (&j, "/drives/disk/disk.img");

  struct firec_file f = file_of (FIREC_FILE_DRIVE, src, "/drives/disk/disk.img", FIREC_STAGING_AUTO, true, false);
  int rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_BIND && is_mount_point (staged_path)
              && same_inode (src, staged_path),
          "writable drive on another filesystem: bind-mounted%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (snap_same (&before, src, true), "bind: staging left the source unchanged");
  write_at (staged_path, "THROUGH BIND");
  tap_ok (starts_with_file (src, "THROUGH BIND"), "bind: a write through the staged name lands in the source");
  tap_ok (rc == 0 && firec_stage_unstage (j.fd, &staged, &err) == 0 && !is_mount_point (staged_path)
              && !exists_nofollow (staged_path),
          "bind: unstage detaches the mount and removes the placeholder");
  tap_ok (snap_same (&before, src, false) && starts_with_file (src, "THROUGH BIND"),
          "bind: the source survives unstage with its owner and mode");
  firec_staged_release (&staged);
  firec_error_release (&err);

  /* read-only across filesystems */
  struct firec_file r = file_of (FIREC_FILE_DRIVE, src, "/drives/ro/disk.img", FIREC_STAGING_AUTO, false, false);
  cleanup_free char *ro_path = jpath (&j, "/drives/ro/disk.img");
  rc = stage (&j, &r, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_COPY && !is_mount_point (ro_path) && same_content (src, ro_path),
          "auto: a read-only file on another filesystem is copied");
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  r.mode = FIREC_STAGING_LINK;
  rc = stage (&j, &r, &staged, &err);
  tap_ok (rc < 0 && err && err_has (err, "writable by the VM's uid") && !exists_nofollow (ro_path),
          "link: a read-only file the VM's uid can write is refused (the VM would write it)");
  firec_error_release (&err);
  /* One the VM's uid cannot write, for the filesystem error; then the VM's again. */
  if (chown (src, 0, 0) < 0 || chmod (src, 0644) < 0)
    exit (99);
  rc = stage (&j, &r, &staged, &err);
  tap_ok (rc < 0 && err && err->errno_value == EXDEV && err_has (err, "another filesystem")
              && err_has (err, "staging: auto"),
          "link: a read-only file on another filesystem is a clear error");
  firec_error_release (&err);
  if (chown (src, U, G) < 0 || chmod (src, 0600) < 0)
    exit (99);

  /* an output file on another filesystem: created there, then bind-mounted */
  struct firec_file lf = file_of (FIREC_FILE_LOG, log_src, "/logs/fc.log", FIREC_STAGING_LINK, true, true);
  cleanup_free char *log_staged = jpath (&j, "/logs/fc.log");
  rc = stage (&j, &lf, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_BIND && staged.created_host_output && is_mount_point (log_staged)
              && mode_owner_is (log_src, 0640, U, G),
          "an output file on another filesystem is created 0640 uid:gid and bind-mounted");
  firec_error_release (&err);
  tap_ok (rc == 0 && firec_stage_unstage (j.fd, &staged, &err) == 0 && !exists_nofollow (log_staged)
              && exists_nofollow (log_src),
          "unstage of a bind-mounted output keeps the host file");
  firec_staged_release (&staged);
  firec_error_release (&err);

  /* a FIFO output on another filesystem */
  cleanup_free char *fifo = tpath ("tmpfs/serial.fifo");
  if (mkfifo (fifo, 0600) < 0 || chown (fifo, U, G) < 0)
    exit (99);
  struct firec_file sf = file_of (FIREC_FILE_SERIAL, fifo, "/serial/out", FIREC_STAGING_LINK, true, true);
  cleanup_free char *fifo_staged = jpath (&j, "/serial/out");
  struct stat fst;
  rc = stage (&j, &sf, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_BIND && lstat (fifo_staged, &fst) == 0 && S_ISFIFO (fst.st_mode),
          "a FIFO output on another filesystem is bind-mounted over the placeholder%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);

  /* remove_tree with a bind mount still inside */
  rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_BIND, "bind again, for remove_tree");
  firec_staged_release (&staged);
  firec_error_release (&err);
  close (j.fd);
  j.fd = -1;
  tap_ok (firec_stage_remove_tree (j.dir, &err) == 0 && !exists_nofollow (j.dir) && mounts_under (j.dir) == 0,
          "remove_tree detaches the bind mount and removes the jail%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (snap_same (&before, src, false) && starts_with_file (src, "THROUGH BIND"),
          "remove_tree leaves the bind source untouched");
  jail_close (&j);
  snap_release (&before);
  if (umount2 (mnt, MNT_DETACH) < 0)
    printf ("# umount %s: %s\n", mnt, strerror (errno));
  rmdir (mnt);
}

static void
test_block_device (void)
{
  if (!is_root)
    {
      skip ("a block device drive needs root (mknod)");
      return;
    }
  cleanup_free char *node = tpath ("blockdev");
  if (mknod (node, S_IFBLK | 0660, makedev (7, 250)) < 0 || chown (node, U, G) < 0)
    {
      skip ("mknod failed: %s", strerror (errno));
      return;
    }
  struct snap before;
  snap_take (&before, node);
  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged staged;
  struct firec_file f = file_of (FIREC_FILE_DRIVE, node, "/drives/blk/dev", FIREC_STAGING_AUTO, true, false);
  cleanup_free char *staged_path = jpath (&j, "/drives/blk/dev");
  struct stat st;
  int rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_LINK && lstat (staged_path, &st) == 0 && S_ISBLK (st.st_mode),
          "a block device drive is linked%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  f.mode = FIREC_STAGING_COPY;
  tap_ok (stage (&j, &f, &staged, &err) < 0 && err_has (err, "not a regular file"),
          "a block device cannot be copied: clear error");
  firec_error_release (&err);
  struct firec_file k = file_of (FIREC_FILE_KERNEL, node, "/kernel/vmlinux", FIREC_STAGING_AUTO, false, false);
  tap_ok (stage (&j, &k, &staged, &err) < 0 && err_has (err, "not a regular file"),
          "a block device is refused as a kernel");
  firec_error_release (&err);
  tap_ok (snap_same (&before, node, false), "the device node is unchanged");
  snap_release (&before);
  jail_close (&j);
  unlink (node);
}

/* ------------------------------------------------------------------ output files */

static void
test_outputs (void)
{
  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged staged;

  cleanup_free char *log = tpath ("firecracker.log");
  unlink (log);
  struct firec_file f = file_of (FIREC_FILE_LOG, log, "/logs/firecracker.log", FIREC_STAGING_LINK, true, true);
  cleanup_free char *staged_path = jpath (&j, "/logs/firecracker.log");
  int rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.created_host_output && staged.method == FIREC_STAGED_LINK && same_inode (log, staged_path),
          "a missing output file is created on the host and linked into the jail%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  tap_ok (mode_owner_is (log, 0640, U, G), "the created output file is 0640 and owned by uid:gid");
  tap_ok (rc == 0 && strcmp (staged.host_path, log) == 0 && strcmp (staged.vm_path, f.vm_path) == 0,
          "the record names the host and VM paths");
  write_at (staged_path, "log line\n");
  tap_ok (rc == 0 && firec_stage_unstage (j.fd, &staged, &err) == 0 && !exists_nofollow (staged_path)
              && starts_with_file (log, "log line"),
          "unstage removes the jail's name and keeps the host log");
  firec_staged_release (&staged);
  firec_error_release (&err);

  /* it exists now (and uid:gid may write it): Firecracker would write over it
     from its first byte, so it is never given to it (output.h moves it aside) */
  struct snap before;
  snap_take (&before, log);
  rc = stage (&j, &f, &staged, &err);
  tap_ok (rc < 0 && err_has (err, "exists") && !exists_nofollow (staged_path),
          "an existing output file is refused, not linked into the jail");
  tap_ok (snap_same (&before, log, true), "the existing output file is unchanged");
  snap_release (&before);
  firec_staged_release (&staged);
  firec_error_release (&err);

  /* a FIFO */
  cleanup_free char *fifo = tpath ("serial.fifo");
  unlink (fifo);
  if (mkfifo (fifo, 0600) < 0 || (is_root && chown (fifo, U, G) < 0))
    exit (99);
  struct firec_file s = file_of (FIREC_FILE_SERIAL, fifo, "/serial/serial.out", FIREC_STAGING_LINK, true, true);
  cleanup_free char *fifo_staged = jpath (&j, "/serial/serial.out");
  struct stat st;
  long long t0 = now_ms ();
  rc = stage (&j, &s, &staged, &err);
  tap_ok (rc == 0 && !staged.created_host_output && lstat (fifo_staged, &st) == 0 && S_ISFIFO (st.st_mode)
              && same_inode (fifo, fifo_staged) && now_ms () - t0 < 1000,
          "an existing FIFO is staged without blocking%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);
  firec_error_release (&err);

  /* firec_stage_prepare_output, for running without the jailer */
  cleanup_free char *metrics = tpath ("metrics.json");
  unlink (metrics);
  bool created = false;
  tap_ok (firec_stage_prepare_output (metrics, U, G, &created, &err) == 0 && created
              && mode_owner_is (metrics, 0640, U, G),
          "prepare_output creates a missing file 0640 uid:gid");
  created = true;
  snap_take (&before, metrics);
  tap_ok (firec_stage_prepare_output (metrics, U, G, &created, &err) < 0 && !created && err_has (err, "exists")
              && snap_same (&before, metrics, true),
          "prepare_output refuses an existing file, and leaves it as it was");
  snap_release (&before);
  firec_error_release (&err);
  cleanup_free char *dir_out = tpath ("outdir");
  mkdir (dir_out, 0755);
  tap_ok (firec_stage_prepare_output (dir_out, U, G, &created, &err) < 0 && err_has (err, "exists"),
          "prepare_output refuses a directory");
  firec_error_release (&err);

  if (!is_root)
    skip ("a FIFO uid:gid cannot write needs root (other ids)");
  else
    {
      cleanup_free char *foreign = tpath ("root.fifo");
      unlink (foreign);
      if (mkfifo (foreign, 0600) < 0)
        exit (99);
      struct firec_file r = file_of (FIREC_FILE_METRICS, foreign, "/metrics/m.json", FIREC_STAGING_LINK, true, true);
      tap_ok (stage (&j, &r, &staged, &err) < 0 && err_has (err, "setfacl -m u:10001:rw") && err_has (err, foreign),
              "a FIFO output uid:gid cannot write is a clear error");
      firec_error_release (&err);
    }

  /* a created output is removed again when staging fails */
  cleanup_free char *log2 = tpath ("second.log");
  unlink (log2);
  struct firec_file clash = file_of (FIREC_FILE_LOG, log2, "/serial/serial.out", FIREC_STAGING_LINK, true, true);
  rc = stage (&j, &s, &staged, &err); /* occupies /serial/serial.out */
  firec_staged_release (&staged);
  tap_ok (stage (&j, &clash, &staged, &err) < 0 && !exists_nofollow (log2),
          "a failed staging does not leave a created output file behind");
  firec_error_release (&err);
  jail_close (&j);
}

/* ------------------------------------------------------------------ symlink attacks */

static void
test_symlink_attacks (bool with_openat2)
{
  const char *how = with_openat2 ? "openat2" : "O_NOFOLLOW walk";
  firec_stage_test_disable_openat2 (!with_openat2);
  cleanup_free char *src = tpath ("attack-src");
  write_file (src, "the VM's file\n", 0644);
  cleanup_free char *outside = tpath ("outside-%d", with_openat2);
  mkdir (outside, 0755);
  cleanup_free char *sentinel = firec_xasprintf ("%s/passwd", outside);
  write_file (sentinel, "root:x:0:0:root:/root:/bin/sh\n", 0644);
  struct snap src_before, sentinel_before, outside_before;
  snap_take (&src_before, src);
  snap_take (&sentinel_before, sentinel);
  snap_take (&outside_before, outside);
  firec_error_t err = NULL;
  struct firec_staged staged;

  /* root/kernel -> a host directory */
  {
    struct jail j;
    jail_open (&j, tmpdir);
    cleanup_free char *planted = jpath (&j, "/kernel");
    if (symlink (outside, planted) < 0)
      exit (99);
    static const enum firec_staging_mode modes[]
        = { FIREC_STAGING_LINK, FIREC_STAGING_COPY, FIREC_STAGING_AUTO, FIREC_STAGING_REFLINK };
    bool all_refused = true;
    for (size_t i = 0; i < FIREC_N_ELEMENTS (modes); i++)
      {
        struct firec_file f = file_of (FIREC_FILE_KERNEL, src, "/kernel/vmlinux", modes[i], false, false);
        if (stage (&j, &f, &staged, &err) == 0 || !err || err->errno_value != ELOOP || !err_has (err, "/kernel")
            || !err_has (err, "symbolic link"))
          all_refused = false;
        firec_error_release (&err);
      }
    cleanup_free char *escaped = firec_xasprintf ("%s/vmlinux", outside);
    tap_ok (all_refused && !exists_nofollow (escaped),
            "%s: root/kernel -> host dir: every mode fails with ELOOP naming /kernel, nothing written outside", how);
    tap_ok (snap_same (&outside_before, outside, false), "%s: the host dir keeps its owner and mode", how);

    /* root/kernel -> /etc */
    unlink (planted);
    if (symlink ("/etc", planted) < 0)
      exit (99);
    cleanup_free char *vm = firec_xasprintf ("/kernel/firec-test-stage-%ld", (long) getpid ());
    cleanup_free char *in_etc = firec_xasprintf ("/etc/firec-test-stage-%ld", (long) getpid ());
    struct stat etc_before, etc_after;
    stat ("/etc", &etc_before);
    struct firec_file f = file_of (FIREC_FILE_KERNEL, src, vm, FIREC_STAGING_COPY, false, false);
    int rc = stage (&j, &f, &staged, &err);
    stat ("/etc", &etc_after);
    tap_ok (rc < 0 && err && err->errno_value == ELOOP && !exists_nofollow (in_etc)
                && etc_before.st_uid == etc_after.st_uid && etc_before.st_mode == etc_after.st_mode,
            "%s: root/kernel -> /etc: refused, nothing created or chowned in /etc", how);
    firec_error_release (&err);
    if (exists_nofollow (in_etc))
      unlink (in_etc);
    jail_close (&j);
  }

  /* root/drives/rootfs/rootfs.ext4 -> a host file, for every kind of staging */
  {
    struct jail j;
    jail_open (&j, tmpdir);
    cleanup_free char *dir = jpath (&j, "/drives");
    cleanup_free char *dir2 = jpath (&j, "/drives/rootfs");
    cleanup_free char *planted = jpath (&j, "/drives/rootfs/rootfs.ext4");
    if (mkdir (dir, 0700) < 0 || mkdir (dir2, 0700) < 0 || symlink (sentinel, planted) < 0)
      exit (99);
    struct
    {
      enum firec_staging_mode mode;
      bool writable, output;
      const char *what;
    } cases[] = {
      { FIREC_STAGING_LINK, false, false, "read-only link" },
      { FIREC_STAGING_COPY, false, false, "read-only copy" },
      { FIREC_STAGING_REFLINK, false, false, "read-only reflink" },
      { FIREC_STAGING_AUTO, false, false, "read-only auto" },
      { FIREC_STAGING_AUTO, true, false, "writable auto" },
      { FIREC_STAGING_COPY, true, false, "writable copy" },
      { FIREC_STAGING_LINK, true, true, "output" },
    };
    cleanup_free char *out_host = tpath ("attack-output-%d.log", with_openat2);
    unlink (out_host);
    for (size_t i = 0; i < FIREC_N_ELEMENTS (cases); i++)
      {
        struct firec_file f
            = file_of (cases[i].output ? FIREC_FILE_LOG : FIREC_FILE_DRIVE, cases[i].output ? out_host : src,
                       "/drives/rootfs/rootfs.ext4", cases[i].mode, cases[i].writable, cases[i].output);
        int rc = stage (&j, &f, &staged, &err);
        struct stat lst;
        tap_ok (rc < 0 && err && err->errno_value == ELOOP && err_has (err, "/drives/rootfs/rootfs.ext4")
                    && lstat (planted, &lst) == 0 && S_ISLNK (lst.st_mode),
                "%s: planted rootfs.ext4 -> host file: %s refused with ELOOP naming the path", how, cases[i].what);
        firec_error_release (&err);
        if (rc == 0)
          firec_staged_release (&staged);
      }
    tap_ok (snap_same (&sentinel_before, sentinel, true) && !exists_nofollow (out_host),
            "%s: the symlink's target keeps its content, owner, mode and mtime; no output created", how);
    jail_close (&j);
  }

  /* root/drives -> a host dir: no directory may be created or chowned there */
  {
    struct jail j;
    jail_open (&j, tmpdir);
    cleanup_free char *planted = jpath (&j, "/drives");
    if (symlink (outside, planted) < 0)
      exit (99);
    struct firec_file f
        = file_of (FIREC_FILE_DRIVE, src, "/drives/rootfs/rootfs.ext4", FIREC_STAGING_AUTO, false, false);
    cleanup_free char *escaped = firec_xasprintf ("%s/rootfs", outside);
    tap_ok (stage (&j, &f, &staged, &err) < 0 && err && err->errno_value == ELOOP && err_has (err, "/drives")
                && !exists_nofollow (escaped) && snap_same (&outside_before, outside, false),
            "%s: root/drives -> host dir: refused, no directory created or chowned outside", how);
    firec_error_release (&err);
    jail_close (&j);
  }

  /* a dangling symlink where an output goes */
  {
    struct jail j;
    jail_open (&j, tmpdir);
    cleanup_free char *logs = jpath (&j, "/logs");
    cleanup_free char *planted = jpath (&j, "/logs/fc.log");
    cleanup_free char *target = firec_xasprintf ("%s/created-through-link", outside);
    cleanup_free char *host_log = tpath ("dangling-%d.log", with_openat2);
    unlink (host_log);
    if (mkdir (logs, 0700) < 0 || symlink (target, planted) < 0)
      exit (99);
    struct firec_file f = file_of (FIREC_FILE_LOG, host_log, "/logs/fc.log", FIREC_STAGING_LINK, true, true);
    tap_ok (stage (&j, &f, &staged, &err) < 0 && err && err->errno_value == ELOOP && !exists_nofollow (target)
                && !exists_nofollow (host_log),
            "%s: a dangling symlink at an output's place: refused, nothing created", how);
    firec_error_release (&err);
    jail_close (&j);
  }

  /* unstage through a directory swapped for a symlink */
  {
    struct jail j;
    jail_open (&j, tmpdir);
    struct firec_file f = file_of (FIREC_FILE_KERNEL, src, "/kernel/vmlinux", FIREC_STAGING_COPY, false, false);
    int rc = stage (&j, &f, &staged, &err);
    cleanup_free char *kdir = jpath (&j, "/kernel");
    cleanup_free char *moved = jpath (&j, "/kernel.moved");
    cleanup_free char *victim = firec_xasprintf ("%s/vmlinux", outside);
    write_file (victim, "host file named like the staged one\n", 0644);
    if (rc < 0 || rename (kdir, moved) < 0 || symlink (outside, kdir) < 0)
      exit (99);
    tap_ok (firec_stage_unstage (j.fd, &staged, &err) < 0 && err && err->errno_value == ELOOP
                && exists_nofollow (victim),
            "%s: unstage through a planted symlink is refused and removes nothing outside", how);
    firec_error_release (&err);
    firec_staged_release (&staged);
    unlink (victim);
    jail_close (&j);
  }

  tap_ok (snap_same (&src_before, src, true), "%s: the staged source is unchanged after the attacks", how);
  snap_release (&src_before);
  snap_release (&sentinel_before);
  snap_release (&outside_before);
  firec_stage_test_disable_openat2 (false);
}

static void
test_fallback_walk (void)
{
  /* The O_NOFOLLOW walk stages as well as openat2 does. */
  firec_stage_test_disable_openat2 (true);
  cleanup_free char *src = tpath ("fallback-src");
  write_file (src, "fallback\n", 0644);
  struct jail j;
  jail_open (&j, tmpdir);
  firec_error_t err = NULL;
  struct firec_staged a, b;
  struct firec_file f = file_of (FIREC_FILE_KERNEL, src, "/deep/er/path/vmlinux", FIREC_STAGING_LINK, false, false);
  struct firec_file g = file_of (FIREC_FILE_INITRD, src, "/deep/er/initrd", FIREC_STAGING_COPY, false, false);
  cleanup_free char *pa = jpath (&j, "/deep/er/path/vmlinux");
  cleanup_free char *pb = jpath (&j, "/deep/er/initrd");
  int ra = stage (&j, &f, &a, &err);
  int rb = stage (&j, &g, &b, &err);
  tap_ok (ra == 0 && rb == 0 && same_inode (src, pa) && same_content (src, pb) && !same_inode (src, pb),
          "without openat2: nested directories, a link and a copy%s%s", err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (firec_stage_unstage (j.fd, &a, &err) == 0 && firec_stage_unstage (j.fd, &b, &err) == 0
              && !exists_nofollow (pa) && !exists_nofollow (pb),
          "without openat2: unstage");
  firec_error_release (&err);
  tap_ok (firec_stage_unstage (j.fd, &a, &err) == 0, "unstage of something already gone is success");
  firec_staged_release (&a);
  firec_staged_release (&b);
  firec_error_release (&err);
  jail_close (&j);
  firec_stage_test_disable_openat2 (false);
}

/* ------------------------------------------------------------------ remove_tree */

static void
test_remove_tree (void)
{
  firec_error_t err = NULL;
  cleanup_free char *outside = tpath ("keep");
  cleanup_free char *keep_file = tpath ("keep/important");
  mkdir (outside, 0755);
  write_file (keep_file, "do not delete\n", 0644);
  struct snap keep_before;
  snap_take (&keep_before, keep_file);

  struct jail j;
  jail_open (&j, tmpdir);
  cleanup_free char *d1 = jpath (&j, "/a");
  cleanup_free char *d2 = jpath (&j, "/a/b");
  cleanup_free char *f1 = jpath (&j, "/a/b/file");
  cleanup_free char *l1 = jpath (&j, "/a/to-outside");
  cleanup_free char *l2 = jpath (&j, "/a/to-file");
  cleanup_free char *fifo = jpath (&j, "/a/fifo");
  if (mkdir (d1, 0700) < 0 || mkdir (d2, 0) < 0 || symlink (outside, l1) < 0 || symlink (keep_file, l2) < 0
      || mkfifo (fifo, 0600) < 0)
    exit (99);
  chmod (d2, 0700);
  write_file (f1, "jail file", 0400);
  chmod (d2, 0500); /* a directory Firecracker made read-only */
  cleanup_free char *d3 = jpath (&j, "/a/closed");
  cleanup_free char *f3 = jpath (&j, "/a/closed/file");
  if (mkdir (d3, 0700) < 0)
    exit (99);
  write_file (f3, "x", 0600);
  chmod (d3, 0); /* and one it closed completely */

  int bound = 0;
  cleanup_free char *bind_dir = jpath (&j, "/a/bound-dir");
  cleanup_free char *bind_file = jpath (&j, "/a/bound-file");
  cleanup_free char *nested = jpath (&j, "/a/bound-dir/inner");
  if (is_root)
    {
      /* Same-filesystem bind mounts: only detaching them protects their sources,
         since st_dev does not tell them apart. */
      mkdir (bind_dir, 0700);
      write_file (bind_file, "", 0600);
      if (mount (outside, bind_dir, NULL, MS_BIND, NULL) == 0)
        bound++;
      if (mount (keep_file, bind_file, NULL, MS_BIND, NULL) == 0)
        bound++;
      cleanup_free char *inner_target = tpath ("keep/inner");
      mkdir (inner_target, 0755);
      if (mount ("firec-inner", nested, "tmpfs", 0, "size=1m") == 0)
        bound++;
    }

  close (j.fd);
  j.fd = -1;
  int rc = firec_stage_remove_tree (j.dir, &err);
  tap_ok (rc == 0 && !exists_nofollow (j.dir), "remove_tree removes the jail%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  if (is_root)
    tap_ok (bound == 3 && mounts_under (j.dir) == 0,
            "remove_tree detached the directory, file and nested bind mounts inside it");
  else
    skip ("bind mounts inside the jail need root");
  tap_ok (snap_same (&keep_before, keep_file, true) && exists_nofollow (outside),
          "remove_tree followed neither the symlinks nor the bind mounts: their targets are intact");
  cleanup_free char *inner_target = tpath ("keep/inner");
  tap_ok (!is_root || exists_nofollow (inner_target), "the directory bound into the jail keeps its contents");
  cleanup_free char *parent = firec_xasprintf ("%s/firecracker", tmpdir);
  tap_ok (exists_nofollow (parent), "remove_tree leaves the jail's parents");
  tap_ok (firec_stage_remove_tree (j.dir, &err) == 0, "remove_tree of an absent jail is success");
  firec_error_release (&err);

  /* a jail directory that is a symlink */
  cleanup_free char *link_jail = tpath ("firecracker/symlinked");
  if (symlink (outside, link_jail) < 0)
    exit (99);
  tap_ok (firec_stage_remove_tree (link_jail, &err) < 0 && err && err->errno_value == ELOOP
              && snap_same (&keep_before, keep_file, true),
          "remove_tree refuses a jail directory that is a symlink");
  firec_error_release (&err);
  unlink (link_jail);
  snap_release (&keep_before);
  j.fd = -1;
  free (j.dir);
  free (j.root);
}

/* Nests depth directories "d" below dir as the jail uid would (owned by U),
   fd-relative since no path can name the bottom, with symlinks to canary every
   100 levels and a file and a symlink to canary_file at the bottom. */
static int
nest (const char *dir, unsigned long depth, const char *canary, const char *canary_file)
{
  int fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (unsigned long i = 0; fd >= 0 && i < depth; i++)
    {
      int next = -1;
      if (mkdirat (fd, "d", 0700) == 0 && (i % 100 != 0 || symlinkat (canary, fd, "to-canary") == 0))
        next = openat (fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next >= 0 && is_root && fchown (next, U, G) < 0)
        {
          close (next);
          next = -1;
        }
      close (fd);
      fd = next;
    }
  if (fd < 0)
    return -1;
  int file = openat (fd, "bottom-file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int rc = file >= 0 && symlinkat (canary_file, fd, "to-canary-file") == 0 ? 0 : -1;
  if (file >= 0)
    close (file);
  close (fd);
  return rc;
}

/* The jail uid can nest directories as deep as its disk quota allows: removal
   has no depth limit, and needs a bounded number of fds whatever the depth. */
static void
test_remove_deep (void)
{
  cleanup_free char *canary = tpath ("deep-canary");
  cleanup_free char *canary_file = tpath ("deep-canary/file");
  mkdir (canary, 0755);
  write_file (canary_file, "keep me\n", 0644);
  struct snap canary_before, canary_file_before;
  snap_take (&canary_before, canary);
  snap_take (&canary_file_before, canary_file);
  static const unsigned long depths[] = { 1100, 20000 };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (depths); i++)
    {
      struct jail j;
      jail_open (&j, tmpdir);
      if (nest (j.root, depths[i], canary, canary_file) < 0)
        {
          perror ("nest");
          exit (99);
        }
      close (j.fd);
      j.fd = -1;
      /* A handful of fds is all the walk may use, at any depth. */
      struct rlimit saved, tight;
      getrlimit (RLIMIT_NOFILE, &saved);
      tight = saved;
      tight.rlim_cur = 24;
      setrlimit (RLIMIT_NOFILE, &tight);
      firec_error_t err = NULL;
      long long t0 = now_ms ();
      int rc = firec_stage_remove_tree (j.dir, &err);
      long long ms = now_ms () - t0;
      setrlimit (RLIMIT_NOFILE, &saved);
      tap_ok (rc == 0 && !exists_nofollow (j.dir),
              "remove_tree removes %lu nested directories within 24 fds (%lld ms)%s%.200s", depths[i], ms,
              err ? ": " : "", err ? err->message : "");
      firec_error_release (&err);
      tap_ok (snap_same (&canary_before, canary, false) && snap_same (&canary_file_before, canary_file, true)
                  && exists_nofollow (canary_file),
              "... without following the symlinks at every 100th level to a host directory and file");
      free (j.dir);
      free (j.root);
    }
  snap_release (&canary_before);
  snap_release (&canary_file_before);
}

/* ------------------------------------------------------------------ can_access */

static void
test_can_access (void)
{
  firec_error_t err = NULL;
  cleanup_free char *mine = tpath ("access-mine");
  write_file (mine, "x", 0600);
  if (is_root && chown (mine, U, G) < 0)
    exit (99);
  tap_ok (firec_stage_can_access (mine, U, G, true, &err) == 1, "can_access: uid:gid's own 0600 file: read+write");
  /* The check's child becomes uid:gid on our memory; we stay root and dumpable. */
  tap_ok (geteuid () == (is_root ? 0 : geteuid ()) && prctl (PR_GET_DUMPABLE) == 1,
          "can_access: this process keeps its ids and stays dumpable");
  cleanup_free char *ro = tpath ("access-ro");
  write_file (ro, "x", 0444);
  if (is_root && chown (ro, U, G) < 0)
    exit (99);
  tap_ok (firec_stage_can_access (ro, U, G, false, &err) == 1 && firec_stage_can_access (ro, U, G, true, &err) == 0,
          "can_access: a 0444 file: read yes, write no");
  cleanup_free char *missing = tpath ("access-missing");
  tap_ok (firec_stage_can_access (missing, U, G, false, &err) < 0 && err && err->errno_value == ENOENT,
          "can_access: a missing file is an error");
  firec_error_release (&err);
  if (!is_root)
    {
      skip ("can_access for other ids needs root");
      return;
    }
  cleanup_free char *secret = tpath ("access-secret");
  write_file (secret, "x", 0600);
  tap_ok (firec_stage_can_access (secret, U, G, false, &err) == 0, "can_access: root's 0600 file: no for uid 10001");
  cleanup_free char *group_file = tpath ("access-group");
  write_file (group_file, "x", 0640);
  if (chown (group_file, 0, G) < 0)
    exit (99);
  tap_ok (firec_stage_can_access (group_file, U, G, false, &err) == 1
              && firec_stage_can_access (group_file, U, G + 1, false, &err) == 0,
          "can_access: the group bit counts for gid, and supplementary groups are dropped");
  cleanup_free char *closed_dir = tpath ("closed");
  cleanup_free char *inside = tpath ("closed/open-file");
  mkdir (closed_dir, 0700);
  write_file (inside, "x", 0644);
  tap_ok (firec_stage_can_access (inside, U, G, false, &err) == 0,
          "can_access: a parent directory without search permission counts");
  int fd = open (inside, O_PATH | O_CLOEXEC);
  tap_ok (fd >= 0 && firec_stage_can_access_fd (fd, inside, U, G, false, &err) == 1
              && firec_stage_can_access_fd (fd, inside, U, G, true, &err) == 0,
          "can_access_fd: only the inode counts (what a hard link in the jail sees)");
  if (fd >= 0)
    close (fd);
  firec_error_release (&err);

  /* Several files in one check give what one check each gives. */
  const char *files[] = { mine, ro, secret, group_file, inside };
  int fds[5];
  struct firec_access verdicts[5];
  for (size_t i = 0; i < 5; i++)
    fds[i] = open (files[i], O_PATH | O_CLOEXEC);
  int rc = firec_stage_check_access (fds, 5, U, G, verdicts, &err);
  bool same = rc == 0;
  for (size_t i = 0; same && i < 5; i++)
    for (int w = 0; w < 2; w++)
      {
        firec_error_t e1 = NULL, e2 = NULL;
        int one = firec_stage_can_access_fd (fds[i], files[i], U, G, w, &e1);
        int batch = firec_stage_access_verdict (&verdicts[i], files[i], U, G, w, &e2);
        if (one != batch)
          {
            printf ("#   %s (%s): alone %d, batched %d\n", files[i], w ? "rw" : "r", one, batch);
            same = false;
          }
        firec_error_release (&e1);
        firec_error_release (&e2);
      }
  tap_ok (same, "check_access: five files in one check, the same verdicts as one check each");
  for (size_t i = 0; i < 5; i++)
    close (fds[i]);
  tap_ok (prctl (PR_GET_DUMPABLE) == 1, "check_access: this process stays dumpable");
  firec_error_release (&err);
}

/* ------------------------------------------------------------------ btrfs reflinks */

static int
loop_attach (const char *image, char *dev, size_t dev_size)
{
  int ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (ctl < 0)
    return -1;
  int n = ioctl (ctl, LOOP_CTL_GET_FREE);
  close (ctl);
  if (n < 0)
    return -1;
  snprintf (dev, dev_size, "/dev/loop%d", n);
  int loop = open (dev, O_RDWR | O_CLOEXEC);
  int img = open (image, O_RDWR | O_CLOEXEC);
  if (loop < 0 || img < 0 || ioctl (loop, LOOP_SET_FD, img) < 0)
    {
      int e = errno;
      if (loop >= 0)
        close (loop);
      if (img >= 0)
        close (img);
      errno = e;
      return -1;
    }
  close (img);
  /* Autoclear: the device detaches itself at the last umount even if we die. */
  struct loop_info64 info = { .lo_flags = LO_FLAGS_AUTOCLEAR };
  ioctl (loop, LOOP_SET_STATUS64, &info);
  return loop;
}

static void
test_btrfs_reflink (void)
{
  if (!is_root)
    {
      skip ("btrfs reflink test needs root (loop device, mount)");
      return;
    }
  cleanup_free char *mkfs = find_program ("mkfs.btrfs");
  cleanup_free char *losetup = find_program ("losetup");
  if (mkfs == NULL || losetup == NULL)
    {
      skip ("btrfs reflink test needs mkfs.btrfs and losetup (apt-get install btrfs-progs)");
      return;
    }
  cleanup_free char *image = tpath ("btrfs.img");
  cleanup_free char *mnt = tpath ("btrfs");
  int fd = open (image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ftruncate (fd, 200LL << 20) < 0)
    {
      skip ("cannot create the btrfs image: %s", strerror (errno));
      if (fd >= 0)
        close (fd);
      return;
    }
  close (fd);
  char *argv[] = { mkfs, (char *) "-q", (char *) "-f", image, NULL };
  if (run (argv) != 0)
    {
      skip ("mkfs.btrfs failed");
      unlink (image);
      return;
    }
  char dev[64];
  int loop = loop_attach (image, dev, sizeof dev);
  if (loop < 0)
    {
      skip ("cannot attach a loop device: %s", strerror (errno));
      unlink (image);
      return;
    }
  mkdir (mnt, 0755);
  if (mount (dev, mnt, "btrfs", 0, NULL) < 0)
    {
      skip ("cannot mount btrfs (%s): %s", dev, strerror (errno));
      ioctl (loop, LOOP_CLR_FD, 0);
      close (loop);
      rmdir (mnt);
      unlink (image);
      return;
    }

  cleanup_free char *src = firec_xasprintf ("%s/rootfs.ext4", mnt);
  cleanup_free char *secret = firec_xasprintf ("%s/secret-kernel", mnt);
  write_file (src, "btrfs-resident rootfs\n", 0644);
  write_file (secret, "root-only kernel on btrfs\n", 0600);
  struct snap before, secret_before;
  snap_take (&before, src);
  snap_take (&secret_before, secret);
  struct jail j;
  jail_open (&j, mnt);
  firec_error_t err = NULL;
  struct firec_staged staged;
  cleanup_free char *staged_path = jpath (&j, "/drives/rootfs/rootfs.ext4");

  struct firec_file f
      = file_of (FIREC_FILE_DRIVE, src, "/drives/rootfs/rootfs.ext4", FIREC_STAGING_REFLINK, false, false);
  int rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_REFLINK && !same_inode (src, staged_path)
              && same_content (src, staged_path) && mode_owner_is (staged_path, 0400, U, G),
          "btrfs: reflink works: another inode, same bytes, 0400 uid:gid%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);

  f.mode = FIREC_STAGING_AUTO;
  rc = stage (&j, &f, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_LINK && same_inode (src, staged_path),
          "btrfs: auto picks link for a readable file");
  firec_error_release (&err);
  if (rc == 0)
    firec_stage_unstage (j.fd, &staged, &err);
  firec_staged_release (&staged);

  struct firec_file k = file_of (FIREC_FILE_KERNEL, secret, "/kernel/vmlinux", FIREC_STAGING_AUTO, false, false);
  cleanup_free char *kernel_path = jpath (&j, "/kernel/vmlinux");
  rc = stage (&j, &k, &staged, &err);
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_REFLINK && same_content (secret, kernel_path)
              && mode_owner_is (kernel_path, 0400, U, G),
          "btrfs: auto picks reflink for a file uid:gid cannot read");
  firec_error_release (&err);
  firec_staged_release (&staged);

  struct firec_file w
      = file_of (FIREC_FILE_DRIVE, src, "/drives/scratch/rootfs.ext4", FIREC_STAGING_REFLINK, true, false);
  cleanup_free char *scratch = jpath (&j, "/drives/scratch/rootfs.ext4");
  rc = stage (&j, &w, &staged, &err);
  if (rc == 0)
    write_at (scratch, "EPHEMERAL WRITE");
  tap_ok (rc == 0 && staged.method == FIREC_STAGED_REFLINK && mode_owner_is (scratch, 0600, U, G)
              && starts_with_file (scratch, "EPHEMERAL WRITE") && snap_same (&before, src, true),
          "btrfs: a writable drive with staging: reflink is a private 0600 clone");
  firec_error_release (&err);
  firec_staged_release (&staged);

  tap_ok (snap_same (&before, src, true) && snap_same (&secret_before, secret, true),
          "btrfs: the sources are unchanged");
  snap_release (&before);
  snap_release (&secret_before);
  jail_close (&j);

  bool clean = umount2 (mnt, 0) == 0;
  if (!clean)
    umount2 (mnt, MNT_DETACH);
  ioctl (loop, LOOP_CLR_FD, 0);
  close (loop);
  rmdir (mnt);
  unlink (image);
  tap_ok (clean && !is_mount_point (mnt), "btrfs: unmounted and detached");
}

/* ------------------------------------------------------------------ main */

int
main (void)
{
  is_root = geteuid () == 0;
  U = is_root ? 10001 : getuid ();
  G = is_root ? 10002 : getgid ();
  umask (022);
  const char *base = getenv ("TMPDIR");
  snprintf (tmpdir, sizeof tmpdir, "%s/firec-test-stage-XXXXXX", base && *base ? base : "/tmp");
  if (mkdtemp (tmpdir) == NULL)
    {
      perror ("mkdtemp");
      return 99;
    }
  /* realpath: mountinfo and the messages use canonical paths */
  char real[PATH_MAX];
  if (realpath (tmpdir, real) == NULL)
    return 99;
  snprintf (tmpdir, sizeof tmpdir, "%s", real);
  /* mkdtemp makes it 0700; the path-based access checks for uid 10001 need to
     walk through it, like a chroot_base_dir. */
  if (chmod (tmpdir, 0755) < 0)
    return 99;
  printf ("# running as %s in %s, jail ids %u:%u\n", is_root ? "root" : "an unprivileged user", tmpdir, (unsigned) U,
          (unsigned) G);

  test_make_root ();
  test_read_only_modes ();
  test_read_only_unreadable ();
  test_sparse_copy ();
  test_writable ();
  test_bind_across_filesystems ();
  test_block_device ();
  test_outputs ();
  test_symlink_attacks (true);
  test_symlink_attacks (false);
  test_fallback_walk ();
  test_remove_tree ();
  test_remove_deep ();
  test_can_access ();
  test_btrfs_reflink ();

  tap_ok (mounts_under (tmpdir) == 0, "nothing is left mounted under the test directory");
  /* The test directory goes the same way a jail does. */
  firec_error_t err = NULL;
  int rc = firec_stage_remove_tree (tmpdir, &err);
  tap_ok (rc == 0 && !exists_nofollow (tmpdir), "the test directory is removed%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  return tap_done ();
}
