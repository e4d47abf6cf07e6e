/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for jailfs.c, the walker for trees someone else controls: opening
   and creating directories, files and sockets below a root fd with symlinks, ".."
   and other mounts refused, private directories, and removal while the tree changes under it
   (moved away, renamed, refilled). Deep trees and removal through stage.c are
   in test-stage.c. Cases that need root (other ids, mounts) SKIP when not root. */
#include "config.h"

#include "jailfs.h"
#include "util.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>

static char tmpdir[PATH_MAX];
static bool is_root;
static uid_t U;
static gid_t G;

__attribute__ ((format (printf, 1, 2))) static char *
tpath (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *rel = firec_xvasprintf (fmt, ap);
  va_end (ap);
  return firec_xasprintf ("%s/%s", tmpdir, rel);
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

static void
must (bool ok, const char *what)
{
  if (!ok)
    {
      perror (what);
      exit (99);
    }
}

/* A fresh directory standing for a jail root (owned by the jail ids when root). */
static int
new_root (const char *name, char **path)
{
  *path = tpath ("%s", name);
  must (mkdir (*path, 0755) == 0, *path);
  if (is_root)
    must (chown (*path, U, G) == 0, *path);
  int fd = open (*path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  must (fd >= 0, *path);
  return fd;
}

static bool
owner_mode_is (const char *path, uid_t uid, gid_t gid, mode_t mode)
{
  struct stat st;
  bool ok = lstat (path, &st) == 0 && S_ISDIR (st.st_mode) && st.st_uid == uid && st.st_gid == gid
            && (st.st_mode & 07777) == mode;
  if (!ok)
    printf ("#   %s: uid %u gid %u mode %o\n", path, (unsigned) st.st_uid, (unsigned) st.st_gid,
            (unsigned) (st.st_mode & 07777));
  return ok;
}

/* ------------------------------------------------------------------ open_dir */

static void
test_open_dir (void)
{
  cleanup_free char *root_path = NULL;
  cleanup_close int root = new_root ("open", &root_path);
  cleanup_free char *outside = tpath ("open-outside");
  must (mkdir (outside, 0755) == 0, outside);
  struct stat outside_before, outside_after;
  must (stat (outside, &outside_before) == 0, outside);
  firec_error_t err = NULL;
  const struct firec_jailfs_mkdir mk = { 0700, U, G };

  int fd = -1;
  int rc = firec_jailfs_open_dir (root, "/run/a//b", FIREC_JAILFS_MKDIR, &mk, &fd, &err);
  cleanup_free char *b = tpath ("open/run/a/b");
  cleanup_free char *run = tpath ("open/run");
  struct stat st;
  tap_ok (rc == 0 && fd >= 0 && fstat (fd, &st) == 0 && S_ISDIR (st.st_mode) && (fcntl (fd, F_GETFL) & O_PATH)
              && owner_mode_is (b, U, G, 0700) && owner_mode_is (run, U, G, 0700),
          "mkdir -p below the root: each directory made 0700 and given to the jail ids, an O_PATH fd back");
  if (fd >= 0)
    close (fd);
  firec_error_release (&err);

  fd = -1;
  tap_ok (firec_jailfs_open_dir (root, "/run/a", FIREC_JAILFS_MKDIR, &mk, &fd, &err) == 0 && fd >= 0,
          "an existing directory is opened as it is");
  if (fd >= 0)
    close (fd);
  firec_error_release (&err);

  fd = -1;
  tap_ok (firec_jailfs_open_dir (root, "/", 0, NULL, &fd, &err) == 0 && fd >= 0 && fstat (fd, &st) == 0,
          "\"/\" is the root itself");
  if (fd >= 0)
    close (fd);
  firec_error_release (&err);

  /* the jail uid swaps run/a for a symlink to a host directory */
  cleanup_free char *a = tpath ("open/run/a");
  cleanup_free char *moved = tpath ("open/run/a.moved");
  must (rename (a, moved) == 0 && symlink (outside, a) == 0, a);
  fd = -1;
  rc = firec_jailfs_open_dir (root, "/run/a/new", FIREC_JAILFS_MKDIR, &mk, &fd, &err);
  cleanup_free char *escaped = firec_xasprintf ("%s/new", outside);
  must (stat (outside, &outside_after) == 0, outside);
  tap_ok (rc < 0 && fd == -1 && err && err->errno_value == ELOOP && err_has (err, "/run/a")
              && err_has (err, "symbolic link") && !exists_nofollow (escaped)
              && outside_after.st_uid == outside_before.st_uid && outside_after.st_mode == outside_before.st_mode,
          "a symlinked directory on the way: ELOOP naming it, nothing created or chowned outside");
  firec_error_release (&err);

  /* the same without openat2 */
  firec_jailfs_test_disable_openat2 (true);
  rc = firec_jailfs_open_dir (root, "/run/a/new", FIREC_JAILFS_MKDIR, &mk, &fd, &err);
  tap_ok (rc < 0 && err && err->errno_value == ELOOP && !exists_nofollow (escaped),
          "... and the same with the O_NOFOLLOW walk");
  firec_error_release (&err);
  firec_jailfs_test_disable_openat2 (false);

  /* a symlink as the last component is refused too */
  rc = firec_jailfs_open_dir (root, "/run/a", 0, NULL, &fd, &err);
  tap_ok (rc < 0 && err && err->errno_value == ELOOP, "a symlink as the last component: ELOOP");
  firec_error_release (&err);

  static const char *const dotted[] = { "/run/../..", "/run/./a", "/..", "run/a" };
  bool all_refused = true;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (dotted); i++)
    {
      if (firec_jailfs_open_dir (root, dotted[i], FIREC_JAILFS_MKDIR, &mk, &fd, &err) == 0 || !err
          || err->errno_value != EINVAL)
        all_refused = false;
      firec_error_release (&err);
    }
  cleanup_free char *above = tpath ("run");
  tap_ok (all_refused && !exists_nofollow (above), "\".\", \"..\" and relative paths are refused (EINVAL)");

  /* missing, without MKDIR */
  fd = 7;
  tap_ok (firec_jailfs_open_dir (root, "/nope/deeper", FIREC_JAILFS_MISSING_OK, NULL, &fd, &err) == 0 && fd == -1,
          "MISSING_OK: a missing directory is success with fd -1");
  firec_error_release (&err);
  tap_ok (firec_jailfs_open_dir (root, "/nope", 0, NULL, &fd, &err) < 0 && err && err->errno_value == ENOENT,
          "without it, ENOENT");
  firec_error_release (&err);

  /* a file where a directory should be */
  cleanup_free char *file = tpath ("open/file");
  int ffd = open (file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  must (ffd >= 0, file);
  close (ffd);
  tap_ok (firec_jailfs_open_dir (root, "/file/x", FIREC_JAILFS_MKDIR, &mk, &fd, &err) < 0 && err
              && err->errno_value == ENOTDIR,
          "a file on the way: ENOTDIR");
  firec_error_release (&err);

  /* open_parent */
  cleanup_free char *name = NULL;
  int parent = -1;
  rc = firec_jailfs_open_parent (root, "/logs/fc/fc.log", FIREC_JAILFS_MKDIR, &mk, &parent, &name, &err);
  cleanup_free char *logs = tpath ("open/logs/fc");
  cleanup_free char *log = tpath ("open/logs/fc/fc.log");
  tap_ok (rc == 0 && parent >= 0 && name && strcmp (name, "fc.log") == 0 && owner_mode_is (logs, U, G, 0700)
              && !exists_nofollow (log),
          "open_parent makes the directories and hands back the last name");
  if (parent >= 0)
    close (parent);
  free (name);
  name = NULL;
  tap_ok (firec_jailfs_open_parent (root, "/", 0, NULL, &parent, &name, &err) < 0 && err && err->errno_value == EINVAL,
          "open_parent of \"/\" is refused");
  firec_error_release (&err);

  /* another mount on the way, with NO_XDEV */
  if (is_root)
    {
      cleanup_free char *mnt = tpath ("open/mnt");
      must (mkdir (mnt, 0700) == 0, mnt);
      if (mount ("firec-jailfs", mnt, "tmpfs", 0, "size=1m") == 0)
        {
          tap_ok (firec_jailfs_open_dir (root, "/mnt/x", FIREC_JAILFS_MKDIR | FIREC_JAILFS_NO_XDEV, &mk, &fd, &err) < 0
                      && err && err->errno_value == EXDEV && err_has (err, "another mount"),
                  "NO_XDEV: another mount on the way is refused (EXDEV)");
          firec_error_release (&err);
          umount2 (mnt, MNT_DETACH);
        }
      else
        tap_ok (1, "# SKIP cannot mount a tmpfs");
    }
  else
    tap_ok (1, "# SKIP mounts need root");
}

/* ------------------------------------------------------------------ files and sockets */

static void
test_open_file_and_socket (void)
{
  cleanup_free char *root_path = NULL;
  cleanup_close int root = new_root ("files", &root_path);
  firec_error_t err = NULL;
  cleanup_free char *run = tpath ("files/run");
  cleanup_free char *sock_path = tpath ("files/run/api.sock");
  must (mkdir (run, 0700) == 0, run);
  int listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
  must (listener >= 0 && bind (listener, (struct sockaddr *) &sa, sizeof sa) == 0 && listen (listener, 4) == 0,
        "listen");
  int fd = -1;
  int rc = firec_jailfs_open_socket (root, root_path, sock_path, &fd, &err);
  bool connected = false;
  if (rc == 0)
    {
      cleanup_free char *proc = firec_jailfs_proc_path (fd);
      int c = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      struct sockaddr_un ca = { .sun_family = AF_UNIX };
      snprintf (ca.sun_path, sizeof ca.sun_path, "%s", proc);
      connected = c >= 0 && connect (c, (struct sockaddr *) &ca, sizeof ca) == 0;
      if (c >= 0)
        close (c);
      close (fd);
    }
  tap_ok (rc == 0 && connected, "open_socket: an O_PATH fd whose /proc/self/fd path connects to the socket%s%s",
          err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);

  /* the jail uid swaps the socket for a symlink to another socket */
  cleanup_free char *other = tpath ("other.sock");
  int other_listener = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", other);
  must (other_listener >= 0 && bind (other_listener, (struct sockaddr *) &sa, sizeof sa) == 0, "other");
  cleanup_free char *moved = tpath ("files/run/api.sock.real");
  must (rename (sock_path, moved) == 0 && symlink (other, sock_path) == 0, "swap");
  tap_ok (firec_jailfs_open_socket (root, root_path, sock_path, &fd, &err) < 0 && err && err->errno_value == ELOOP,
          "a socket swapped for a symlink: ELOOP");
  firec_error_release (&err);
  /* and its directory for a symlink to the directory of the other socket */
  must (unlink (sock_path) == 0 && rename (moved, sock_path) == 0, "unswap");
  cleanup_free char *run_moved = tpath ("files/run.real");
  must (rename (run, run_moved) == 0 && symlink (tmpdir, run) == 0, "swap dir");
  cleanup_free char *via_dir = tpath ("files/run/other.sock");
  tap_ok (firec_jailfs_open_socket (root, root_path, via_dir, &fd, &err) < 0 && err && err->errno_value == ELOOP,
          "a socket's directory swapped for a symlink: ELOOP");
  firec_error_release (&err);
  must (unlink (run) == 0 && rename (run_moved, run) == 0, "unswap dir");

  cleanup_free char *regular = tpath ("files/run/plain");
  int f = open (regular, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  must (f >= 0, regular);
  close (f);
  tap_ok (firec_jailfs_open_socket (root, root_path, regular, &fd, &err) < 0 && err && err->errno_value == ENOTSOCK,
          "a file that is not a socket: ENOTSOCK");
  firec_error_release (&err);
  tap_ok (firec_jailfs_open_socket (root, root_path, other, &fd, &err) < 0 && err && err->errno_value == EINVAL,
          "a socket outside the VM root: EINVAL");
  firec_error_release (&err);

  /* firec_jailfs_open: a FIFO opened O_PATH does not block, and says what it is */
  cleanup_free char *fifo = tpath ("files/run/fifo");
  must (mkfifo (fifo, 0600) == 0, fifo);
  struct stat st;
  tap_ok (firec_jailfs_open (root, "/run/fifo", O_PATH, FIREC_JAILFS_NO_XDEV, &st, &fd, &err) == 0
              && S_ISFIFO (st.st_mode),
          "open with O_PATH: a FIFO is opened without blocking, its type in the stat");
  if (fd >= 0)
    close (fd);
  firec_error_release (&err);
  close (listener);
  close (other_listener);
}

/* ------------------------------------------------------------------ private directories */

static void
test_private_dir (void)
{
  cleanup_free char *root_path = NULL;
  cleanup_close int root = new_root ("private", &root_path);
  firec_error_t err = NULL;
  int fd = -1;
  cleanup_free char *name = NULL;
  int rc = firec_jailfs_make_private_dir (root, ".snap-", U, G, &fd, &name, &err);
  cleanup_free char *path = name ? tpath ("private/%s", name) : NULL;
  tap_ok (rc == 0 && fd >= 0 && strncmp (name, ".snap-", 6) == 0 && owner_mode_is (path, U, G, 0700)
              && !(fcntl (fd, F_GETFL) & O_PATH),
          "a private directory: a fresh name, 0700, given to the jail ids, a readable fd back");
  cleanup_free char *name2 = NULL;
  int fd2 = -1;
  tap_ok (firec_jailfs_make_private_dir (root, ".snap-", U, G, &fd2, &name2, &err) == 0 && strcmp (name, name2) != 0,
          "two private directories get different names");
  firec_error_release (&err);

  /* the jail fills it, then renames it: remove_dir still finds it */
  int f = openat (fd, "state", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  must (f >= 0 && mkdirat (fd, "sub", 0700) == 0 && symlinkat ("/etc", fd, "sub/etc") == 0, "fill");
  close (f);
  cleanup_free char *renamed = tpath ("private/renamed");
  must (rename (path, renamed) == 0, "rename");
  rc = firec_jailfs_remove_dir (root, name, fd, &err);
  tap_ok (rc == 0 && !exists_nofollow (renamed) && !exists_nofollow (path) && exists_nofollow ("/etc/passwd"),
          "remove_dir removes it with its contents after the jail renamed it%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);

  /* moved into a subdirectory */
  cleanup_free char *sub = tpath ("private/a");
  cleanup_free char *deeper = name2 ? tpath ("private/a/%s", name2) : NULL;
  cleanup_free char *path2 = name2 ? tpath ("private/%s", name2) : NULL;
  must (mkdir (sub, 0700) == 0 && rename (path2, deeper) == 0, "move");
  rc = firec_jailfs_remove_dir (root, name2, fd2, &err);
  tap_ok (rc == 0 && !exists_nofollow (deeper) && exists_nofollow (sub),
          "... and after it moved it into another directory of the jail");
  firec_error_release (&err);
  close (fd);
  close (fd2);

  /* already gone */
  free (name);
  name = NULL;
  must (firec_jailfs_make_private_dir (root, ".snap-", U, G, &fd, &name, &err) == 0, "make");
  free (path);
  path = tpath ("private/%s", name);
  must (rmdir (path) == 0, "rmdir");
  tap_ok (firec_jailfs_remove_dir (root, name, fd, &err) == 0, "remove_dir of a directory already removed is success");
  firec_error_release (&err);
  close (fd);
}

/* ------------------------------------------------------------------ removal under attack */

struct attack
{
  unsigned long at_depth;
  const char *from; /* renamed to `to` when the walk reaches at_depth */
  const char *to;
  bool done;
};

static void
on_descend (int dirfd, unsigned long depth, void *data)
{
  (void) dirfd;
  struct attack *a = data;
  if (a->done || depth != a->at_depth)
    return;
  a->done = true;
  if (rename (a->from, a->to) < 0)
    perror ("attack rename");
}

/* A chain of depth directories "d" below path, with a file at each level. */
static void
chain (const char *path, unsigned long depth)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  for (unsigned long i = 0; fd >= 0 && i < depth; i++)
    {
      int f = openat (fd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
      if (f >= 0)
        close (f);
      must (mkdirat (fd, "d", 0700) == 0, "mkdirat");
      int next = openat (fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      close (fd);
      fd = next;
    }
  must (fd >= 0, "chain");
  close (fd);
}

static void
test_remove_moved (void)
{
  firec_error_t err = NULL;
  /* An ancestor renamed within the tree while the walk is below it: the way
     up no longer leads through the directories it came through. */
  cleanup_free char *top = tpath ("moved-within");
  must (mkdir (top, 0755) == 0, top);
  cleanup_free char *a = tpath ("moved-within/a");
  must (mkdir (a, 0700) == 0, a);
  chain (a, 3000);
  cleanup_free char *from = tpath ("moved-within/a/d/d");
  cleanup_free char *to = tpath ("moved-within/z");
  struct attack at = { .at_depth = 2500, .from = from, .to = to };
  firec_jailfs_test_on_descend (on_descend, &at);
  int rc = firec_jailfs_remove_tree (top, &err);
  firec_jailfs_test_on_descend (NULL, NULL);
  tap_ok (at.done && rc == 0 && !exists_nofollow (top),
          "a subtree renamed elsewhere in the tree while the removal is 2500 levels below it: all removed%s%s",
          err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);

  /* The subtree the walk is in is moved out of the tree: the walk must not
     climb out after it and remove what is around it there. */
  cleanup_free char *outside = tpath ("moved-outside");
  cleanup_free char *keep = tpath ("moved-outside/keep");
  must (mkdir (outside, 0755) == 0 && mkdir (keep, 0755) == 0, outside);
  cleanup_free char *keep_file = tpath ("moved-outside/keep/file");
  int kf = open (keep_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  must (kf >= 0, "keep");
  close (kf);
  cleanup_free char *top2 = tpath ("moved-out");
  must (mkdir (top2, 0755) == 0, top2);
  cleanup_free char *b = tpath ("moved-out/b");
  must (mkdir (b, 0700) == 0, b);
  chain (b, 50);
  cleanup_free char *from2 = tpath ("moved-out/b/d");
  cleanup_free char *to2 = tpath ("moved-outside/stolen");
  struct attack at2 = { .at_depth = 40, .from = from2, .to = to2 };
  firec_jailfs_test_on_descend (on_descend, &at2);
  rc = firec_jailfs_remove_tree (top2, &err);
  firec_jailfs_test_on_descend (NULL, NULL);
  cleanup_free char *stolen = tpath ("moved-outside/stolen");
  tap_ok (at2.done && rc == 0 && !exists_nofollow (top2) && exists_nofollow (keep_file) && exists_nofollow (stolen),
          "a subtree moved out of the tree under the walk: the tree is removed; the walk never climbs out of the "
          "moved part into the directory it was moved to%s%s",
          err ? ": " : "", err ? err->message : "");
  firec_error_release (&err);
  tap_ok (firec_jailfs_remove_tree (outside, &err) == 0, "(cleanup)");
  firec_error_release (&err);

  /* And a tree with a symlink at the top of every level, a FIFO, a socket-like
     special file: none is followed or opened. */
  cleanup_free char *top4 = tpath ("specials");
  must (mkdir (top4, 0755) == 0, top4);
  cleanup_free char *fifo = tpath ("specials/fifo");
  cleanup_free char *link = tpath ("specials/etc");
  must (mkfifo (fifo, 0600) == 0 && symlink ("/etc", link) == 0, "specials");
  rc = firec_jailfs_remove_tree (top4, &err);
  tap_ok (rc == 0 && !exists_nofollow (top4) && exists_nofollow ("/etc/passwd"),
          "a FIFO and a symlink to /etc: removed as names, never opened or followed");
  firec_error_release (&err);
}

int
main (void)
{
  is_root = geteuid () == 0;
  U = is_root ? 10001 : getuid ();
  G = is_root ? 10002 : getgid ();
  umask (022);
  const char *base = getenv ("TMPDIR");
  snprintf (tmpdir, sizeof tmpdir, "%s/firec-test-jailfs-XXXXXX", base && *base ? base : "/tmp");
  if (mkdtemp (tmpdir) == NULL)
    return 99;
  char real[PATH_MAX];
  if (realpath (tmpdir, real) == NULL)
    return 99;
  snprintf (tmpdir, sizeof tmpdir, "%s", real);
  printf ("# running as %s in %s\n", is_root ? "root" : "an unprivileged user", tmpdir);

  test_open_dir ();
  test_open_file_and_socket ();
  test_private_dir ();
  test_remove_moved ();

  firec_error_t err = NULL;
  int rc = firec_jailfs_remove_tree (tmpdir, &err);
  tap_ok (rc == 0 && !exists_nofollow (tmpdir), "the test directory is removed%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  return tap_done ();
}
