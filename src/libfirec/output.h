/* SPDX-License-Identifier: Apache-2.0 */
/* Host output files — log_path, metrics_path, serial_out_path — and the one
   rule for them: an output never overwrites data.

   Firecracker opens them without O_APPEND or O_TRUNC (1.5.1, 1.7, 1.13:
   O_RDWR; 1.14: O_RDWR|O_CREAT), so its first line lands on the first bytes of
   whatever the file held. firec-run therefore hands Firecracker only a file it
   has just created, empty (O_EXCL). An existing file at an output path is moved
   aside first: <path> becomes <path>.1, an earlier <path>.1 becomes <path>.2,
   and so on, by rename, never replacing a name; once the VM has started, the
   names beyond <path>.FIREC_OUTPUT_KEEP are deleted. A FIFO keeps no data: it
   is used as it is. Anything else at an output path (a directory, a device, a
   socket) is refused in preflight.

   A start that fails removes the file it created and moves the earlier ones
   back: each is where it was, byte for byte, with its owner, mode and times.
   The record names a rotation before it happens (record.h), so the teardown
   puts it back whatever instant firec-run died at. */
#ifndef FIREC_OUTPUT_H
#define FIREC_OUTPUT_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "error.h"

/* Earlier files kept beside an output path: <path>.1 (the newest) to <path>.5. */
#define FIREC_OUTPUT_KEEP 5

enum firec_output_kind
{
  FIREC_OUTPUT_ABSENT, /* nothing there: firec-run creates the file */
  FIREC_OUTPUT_ASIDE,  /* a file, or a symbolic link that names one or nothing: moved aside */
  FIREC_OUTPUT_FIFO,   /* used as it is (a symbolic link to a FIFO too) */
  FIREC_OUTPUT_OTHER,  /* a directory, a device, a socket: refused */
};

/* What is at path. *st is what it names (the target of a symbolic link; for
   ASIDE, the link itself when it names nothing); st_mode 0 when absent.
   Returns the kind, or -1 with errno when path cannot be inspected. */
int firec_output_inspect (const char *path, struct stat *st);

/* "<path>.k" */
char *firec_output_aside_name (const char *path, unsigned k);

/* How many names a rotation of path moves: path and the earlier files
   <path>.1, <path>.2 ... that follow it without a gap. 0 when path is free;
   -1 with errno (ELOOP: more than a thousand earlier files). */
int firec_output_chain (const char *path);

/* Moves the count names aside by one (<path>.(count-1) first, <path> last),
   never replacing a name. A name that vanished meanwhile is skipped (the one
   below it then fills its place). */
int firec_output_rotate (const char *path, unsigned count, firec_error_t *err);

/* Undoes a rotation of count names, or the part of it that happened: each gap
   is filled from the name above it, and <path> only from <path>.1 while that
   is still the file that was at <path> (was_dev, was_ino). Names in use are
   never replaced. <path> must be free again (the new file removed). */
int firec_output_restore (const char *path, unsigned count, dev_t was_dev, ino_t was_ino, firec_error_t *err);

/* After a start: deletes the files of a rotation of count names that are no
   longer kept (<path>.(FIREC_OUTPUT_KEEP+1) ... <path>.count), files and
   symbolic links only. Best effort: a name left over is rotated again by the
   next run and deleted then. */
void firec_output_trim (const char *path, unsigned count);

#endif
