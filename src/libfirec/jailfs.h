/* SPDX-License-Identifier: Apache-2.0 */
/* jailfs: paths inside a tree someone else controls. The jail root belongs to
   the jail uid, which is hostile: it may swap any name there for a symlink, a
   FIFO, a hard link or a tree 100000 directories deep, at any moment. So every
   host operation below a jail goes through here, and here every walk starts at
   a directory fd the caller trusts and goes one component at a time: a symlink
   is never followed (ELOOP), ".." never taken, the walk never leaves that
   directory, and with FIREC_JAILFS_NO_XDEV it never enters another mount
   (EXDEV). What is created is made by fd and chowned by fd; what is removed is
   removed by fd, iteratively, with bounded memory and fds whatever the depth.
   systemd's chaseat (CHASE_PROHIBIT_SYMLINKS, CHASE_MKDIR_0755) and rm-rf.c
   are the models.

   VM paths ("/drives/rootfs/disk.ext4") are absolute inside the starting
   directory; "." and ".." components are refused (EINVAL). */
#ifndef FIREC_JAILFS_H
#define FIREC_JAILFS_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

enum firec_jailfs_flag
{
  FIREC_JAILFS_MKDIR = 1 << 0,      /* create missing directories, as struct firec_jailfs_mkdir says */
  FIREC_JAILFS_NO_XDEV = 1 << 1,    /* refuse to enter another mount (EXDEV) */
  FIREC_JAILFS_MISSING_OK = 1 << 2, /* a missing directory is success, with *fd = -1 */
};

/* How missing directories are made: mkdirat with mode, then chowned by fd to
   uid:gid ((uid_t) -1 and (gid_t) -1 leave them as created). */
struct firec_jailfs_mkdir
{
  mode_t mode;
  uid_t uid;
  gid_t gid;
};

/* Opens one component (no '/', not "." or "..") below dirfd with open(2)
   flags and mode: openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or
   O_NOFOLLOW and an fstat check where openat2 is missing. Returns the fd, or -1
   with errno: ELOOP for a symlink (O_PATH included), EXDEV for another mount
   when no_xdev. *st (may be NULL) gets its fstat. */
int firec_jailfs_open_component (int dirfd, const char *name, int flags, mode_t mode, bool no_xdev, struct stat *st);

/* Opens the directory vm_path below root_fd as O_PATH|O_DIRECTORY ("/" is
   root_fd itself), creating what is missing with FIREC_JAILFS_MKDIR (mk then
   says how; NULL: 0700, ours). A directory this call created is chowned only
   once it is open and proven to be the one it made (ours, empty). */
int firec_jailfs_open_dir (int root_fd, const char *vm_path, unsigned flags, const struct firec_jailfs_mkdir *mk,
                           int *fd, firec_error_t *err);

/* The same for the directory holding vm_path's last component, which goes to
 *name (malloc'ed; set with FIREC_JAILFS_MISSING_OK too). */
int firec_jailfs_open_parent (int root_fd, const char *vm_path, unsigned flags, const struct firec_jailfs_mkdir *mk,
                              int *parent_fd, char **name, firec_error_t *err);

/* Opens the file vm_path below root_fd with open(2) flags (its directories as
   open_dir does with flags; the last component never followed either), like
   systemd's chaseat with CHASE_PROHIBIT_SYMLINKS. *st (may be NULL) gets its
   fstat. Open with O_PATH first what may be a FIFO or a device. */
int firec_jailfs_open (int root_fd, const char *vm_path, int open_flags, unsigned flags, struct stat *st, int *fd,
                       firec_error_t *err);

/* The Unix socket at host_path, a path below root_path (the host path of
   root_fd), opened O_PATH through the walker. Connect to it as
   firec_jailfs_proc_path (fd), so that no name of the jail is followed on the
   way (a socket swapped for a symlink would send root's requests elsewhere). */
int firec_jailfs_open_socket (int root_fd, const char *root_path, const char *host_path, int *fd, firec_error_t *err);

/* Makes a new directory directly below dirfd, named prefix plus an
   unpredictable suffix, mode 0700, proves the one it opens is the one it made
   (ours, empty, on dirfd's mount), then gives it to uid:gid by fd. *fd: an
   O_RDONLY|O_DIRECTORY fd of it; *name: its name. */
int firec_jailfs_make_private_dir (int dirfd, const char *prefix, uid_t uid, gid_t gid, int *fd, char **name,
                                   firec_error_t *err);

/* Creates a new, empty regular file next to others in dirfd under a fresh
   name (".firec-tmp-..."; O_CREAT|O_EXCL, never through a symlink). Returns
   an O_RDWR fd and the name in *name, or -1 with errno. */
int firec_jailfs_create_temp (int dirfd, mode_t mode, char **name);

/* renameat2 with RENAME_NOREPLACE; where the filesystem has no such flag, a
   hard link and an unlink (link(2) never replaces either). -1 with errno
   (EEXIST: the new name is taken). */
int firec_jailfs_rename_noreplace (int old_dirfd, const char *old_name, int new_dirfd, const char *new_name);

/* Removes everything below dirfd (an O_RDONLY|O_DIRECTORY fd), never following
   a symlink and never entering another mount (EXDEV: a mount point is left
   alone, and what is below it). Iterative: memory and open fds are bounded
   whatever the depth (it goes back up through ".." checked against the
   directories it came through, and starts again from dirfd when the tree was
   moved under it). what names dirfd in errors. */
int firec_jailfs_remove_contents (int dirfd, const char *what, firec_error_t *err);

/* Removes the directory dirfd, which was made as name in parent_fd: its
   contents, then the directory itself where it is now (found by name, or by
   its identity when the jail renamed it). */
int firec_jailfs_remove_dir (int parent_fd, const char *name, int dirfd, firec_error_t *err);

/* Removes the host directory path (absolute) and everything below it. Mounts
   found below it in /proc/self/mountinfo are detached first (MNT_DETACH,
   deepest first, each one reached fd-relative); then its contents go as
   firec_jailfs_remove_contents says, then the directory. An absent path is
   success; a path that is a symlink is refused (ELOOP); its parents stay. */
int firec_jailfs_remove_tree (const char *path, firec_error_t *err);

/* fchown by fd (an O_PATH fd is enough). Unprivileged runs (the test doubles)
   own what they create already: EPERM then counts as done. -1 with errno. */
int firec_jailfs_chown (int fd, uid_t uid, gid_t gid);

/* "/proc/self/fd/N": the inode itself, whatever its name is now. */
char *firec_jailfs_proc_path (int fd);

/* The host path an fd has now, for messages only ("<VM root>" if unknown). */
char *firec_jailfs_describe (int fd);

/* Sets an error about vm_path below root_fd that says what errno_value means
   there (ELOOP: a symlink refused; EXDEV: another mount; ENOTDIR), else
   "cannot <what> <root><vm_path> in the VM root". Returns -1. */
int firec_jailfs_error (firec_error_t *err, int errno_value, int root_fd, const char *vm_path, const char *what);

/* For tests: pretend openat2 is missing (ENOSYS), so that the O_NOFOLLOW walk
   is used; and a function called each time the removal enters a directory
   (with its fd and depth below the top), to change the tree under it. */
void firec_jailfs_test_disable_openat2 (bool disable);
void firec_jailfs_test_on_descend (void (*fn) (int dirfd, unsigned long depth, void *data), void *data);

#endif
