/* SPDX-License-Identifier: Apache-2.0 */
/* Diagnostics about a manifest: every problem found in one run, each with its
   file:line:column and the JSON pointer of the field, printed sorted by position. */
#ifndef FIREC_DIAG_H
#define FIREC_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

enum firec_severity
{
  FIREC_SEV_ERROR,
  FIREC_SEV_WARNING,
};

struct firec_diag
{
  enum firec_severity severity;
  char *file;
  unsigned line;   /* 1-based; 0 when the problem has no position (e.g. an empty file) */
  unsigned column; /* 1-based */
  char *path;      /* JSON pointer ("" for the document itself) */
  char *message;
  size_t seq; /* insertion order, so that sorting is stable */
};

struct firec_diags
{
  struct firec_diag *items;
  size_t count;
  size_t cap;
};

void firec_diags_add (struct firec_diags *diags, enum firec_severity severity, const char *file, unsigned line,
                      unsigned column, const char *path, const char *fmt, ...) __attribute__ ((format (printf, 7, 8)));
void firec_diags_sort (struct firec_diags *diags);
size_t firec_diags_count (const struct firec_diags *diags, enum firec_severity severity);
void firec_diags_release (struct firec_diags *diags);

/* "vm.yaml:14:21: error: /spec/drives/0/is_read_only: expected boolean, ..." */
char *firec_diag_format (const struct firec_diag *d);
/* Text for a terminal: errors then warnings, each sorted, at most max_errors errors
   followed by "... and N more errors". Returns a malloc'ed string. */
char *firec_diags_format_text (const struct firec_diags *diags, size_t max_errors);
/* [{severity, file, path, line, column, message}] */
cJSON *firec_diags_to_json (const struct firec_diags *diags);

/* RFC 6901 escaping of one reference token ("~" -> "~0", "/" -> "~1"). */
char *firec_json_pointer_append (const char *base, const char *token);
char *firec_json_pointer_append_index (const char *base, size_t index);

/* Where a walk over a tree is, as a chain of segments on the walker's stack
   (NULL is the document itself, pointer ""): passing one down costs nothing,
   and the JSON pointer string is only built when a diagnostic needs it. */
struct firec_path
{
  const struct firec_path *parent;
  const char *key; /* member name; NULL for an array element */
  size_t index;
};

char *firec_path_string (const struct firec_path *path);

#endif
