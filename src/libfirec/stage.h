/* SPDX-License-Identifier: Apache-2.0 */
/* Staging: building the jail's directory tree and putting the VM's host files into
   it (hard link, reflink, sparse copy or bind mount), and taking it all down again.
   Everything below the VM root is reached through the walker (jailfs.h), so a
   symlink planted in the jail can never redirect a write or a chown to the host. */
#ifndef FIREC_STAGE_H
#define FIREC_STAGE_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"
#include "model.h"

enum firec_stage_method
{
  FIREC_STAGED_LINK,    /* a hard link to the user's file */
  FIREC_STAGED_REFLINK, /* FICLONE into a new file owned by uid:gid */
  FIREC_STAGED_COPY,    /* a sparse copy owned by uid:gid */
  FIREC_STAGED_BIND,    /* the user's file bind-mounted onto a placeholder */
};

/* What staging did, so that undo removes exactly that. */
struct firec_staged
{
  enum firec_stage_method method;
  char *vm_path;            /* as in the firec_file */
  bool created_host_output; /* an output file that did not exist and that we created on the host */
  char *host_path;          /* the source's host path (for the record) */
};

struct firec_stage_progress
{
  /* Called for copies larger than 256 MiB, at most ~10 times a second, and once
     more with done == total when the copy is complete. */
  void (*fn) (void *data, const char *what, unsigned long long done, unsigned long long total);
  void *data;
};

/* Copies above this size report progress. */
#define FIREC_STAGE_PROGRESS_MIN_SIZE (256ULL << 20)

const char *firec_stage_method_name (enum firec_stage_method method);

/* Creates jail_dir's parents as needed (0755), then jail_dir itself (0755) with
   mkdir: EEXIST is an error (kind FIREC_ERR_PRECONDITION, errno_value EEXIST). Then vm_root (jail_dir itself or a
   path below it) is created inside it, fd-relative, mode 0700. Returns an
   O_PATH|O_DIRECTORY fd of vm_root in *root_fd. */
int firec_stage_make_root (const char *jail_dir, const char *vm_root, int *root_fd, firec_error_t *err);

/* What uid:gid may do with an inode (errno of faccessat for reading, for
   reading and writing, and for writing; 0: allowed), found for several files by one
   firec_stage_check_access. firec_stage_file takes such verdicts (known, may be
   NULL) and checks only files whose inode they do not cover. */
struct firec_access
{
  dev_t dev;
  ino_t ino;
  int read_errno;
  int write_errno;
  int modify_errno; /* W_OK alone: may uid:gid change the inode (a file's bytes, a directory's names) */
};

struct firec_stage_known
{
  const struct firec_access *items;
  size_t count;
};

/* Puts one host file into the VM root at file->vm_path (an absolute path inside
   the root; "." and ".." components are refused), creating its missing parent
   directories (0700, owned by uid:gid). Never changes the owner or mode of the
   user's file.
   - read-only files: link | reflink (0400) | copy (0400, holes kept) | auto
     (link when uid:gid can read it, cannot write it, and it is on the jail's
     filesystem, else reflink, else copy); one uid:gid can write is never
     linked (link: an error), since the VM would write the user's file;
   - writable drives and pmem: link or auto: hard link, else bind mount (uid:gid
     must be able to read and write the file); copy/reflink: a private, ephemeral
     copy (0600) owned by uid:gid;
   - output files (log, metrics, serial): created on the host (0640, owned by
     uid:gid; an existing file must have been moved aside, output.h), or a FIFO
     used as it is; then linked or bind-mounted whatever file->mode says.
   On success *ret describes what was done (release it with firec_staged_release).
   On failure nothing is left at vm_path (directories created for it stay: they go
   with the jail), and a host output file created by this call is removed again. */
int firec_stage_file (int root_fd, const struct firec_file *file, uid_t uid, gid_t gid,
                      const struct firec_stage_known *known, const struct firec_stage_progress *progress,
                      struct firec_staged *ret, firec_error_t *err);

/* firec_stage_file, with the input src (an fd of it, O_PATH is enough; -1:
   host_path opened now): the very file preflight checked, not what
   host_path names by the time the jail is staged. src is not closed; it is
   ignored for an output. */
int firec_stage_input (int root_fd, const struct firec_file *file, int src, uid_t uid, gid_t gid,
                       const struct firec_stage_known *known, const struct firec_stage_progress *progress,
                       struct firec_staged *ret, firec_error_t *err);

/* Undoes one firec_stage_file: detaches a bind mount (MNT_DETACH) and unlinks the
   staged name. A host output file we created is kept (it holds the VM's log). A
   staged name that is already gone is success. */
int firec_stage_unstage (int root_fd, const struct firec_staged *staged, firec_error_t *err);
void firec_staged_release (struct firec_staged *s);

/* Removes jail_dir and everything below it: firec_jailfs_remove_tree (mounts
   detached first, then removed by fd, iteratively, never following a symlink
   nor entering another filesystem, whatever the depth). An absent jail_dir is
   success; its parents are left alone (other VMs use them). */
int firec_stage_remove_tree (const char *jail_dir, firec_error_t *err);

/* Whether uid:gid may open host_path for reading (and writing when write is true),
   checked for real: a child (vfork-style) drops to uid:gid with no supplementary groups
   and calls faccessat, so ACLs and every parent directory's search bit count.
   When not root the current ids are checked instead. Returns 1 yes, 0 no, < 0
   error (ENOENT, EROFS for write, ...). */
int firec_stage_can_access (const char *host_path, uid_t uid, gid_t gid, bool write, firec_error_t *err);

/* The same for an open file (an O_PATH fd is enough): only the inode's mode and
   ACL count, not the directories above host_path. This is what matters for a
   hard link or a bind mount in the jail, where Firecracker never walks the host's
   directories. what names the file in errors. */
int firec_stage_can_access_fd (int fd, const char *what, uid_t uid, gid_t gid, bool write, firec_error_t *err);

/* firec_stage_can_access_fd for count open files at once: ret[i] for fds[i]. */
int firec_stage_check_access (const int *fds, size_t count, uid_t uid, gid_t gid, struct firec_access *ret,
                              firec_error_t *err);
/* Whether uid:gid may change the bytes of the file fd holds (st: its fstat):
   its owner, or allowed to write it (a verdict of known for its inode, else
   the kernel asked). Then a hard link or bind mount of a read-only input
   would let the VM write the user's file. 1 yes, 0 no, < 0 error. */
int firec_stage_vm_may_modify (const struct firec_stage_known *known, int fd, const struct stat *st, uid_t uid,
                               gid_t gid, firec_error_t *err);

/* What firec_stage_can_access_fd would have returned, from a verdict. */
int firec_stage_access_verdict (const struct firec_access *a, const char *what, uid_t uid, gid_t gid, bool write,
                                firec_error_t *err);

/* Creates an output file on the host (O_CREAT|O_EXCL, 0640, owned by uid:gid)
   and sets *created; an existing one must be a FIFO that uid:gid can read and
   write (a file there is an error: it must have been moved aside, output.h).
   For running without the jailer, where output files are used in place. */
int firec_stage_prepare_output (const char *host_path, uid_t uid, gid_t gid, bool *created, firec_error_t *err);

/* A sparse copy of the first size bytes of src into dst (an empty regular
   file): holes stay holes. what names src for progress reports (progress may
   be NULL). Returns 0, or -1 with errno. */
int firec_stage_copy_sparse (int src, int dst, off_t size, const char *what,
                             const struct firec_stage_progress *progress);

/* A new inode of src's content in dst (an empty regular file): FICLONE when
   the filesystem can share the extents, else firec_stage_copy_sparse. Either
   way dst shares nothing writable with src: later writes through an fd of
   src never reach it. Returns 0, or -1 with errno. */
int firec_stage_clone (int src, int dst, off_t size, const char *what, const struct firec_stage_progress *progress);

/* For tests: pretend openat2 is missing (ENOSYS) so that the O_NOFOLLOW
   component walk is used. */
void firec_stage_test_disable_openat2 (bool disable);

#endif
