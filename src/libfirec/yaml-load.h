/* SPDX-License-Identifier: Apache-2.0 */
/* Strict YAML loading: one document of YAML 1.2 core-schema scalars into a cJSON
   tree with a position on every node (doc.h). */
#ifndef FIREC_YAML_LOAD_H
#define FIREC_YAML_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "doc.h"
#include "error.h"

#define FIREC_YAML_MAX_BYTES (4u << 20) /* 4 MiB */
#define FIREC_YAML_MAX_DEPTH 64
#define FIREC_YAML_MAX_NODES 100000 /* after alias expansion: stops billion-laughs files */

/* Parses buf[0..len) (need not be NUL-terminated). On success returns 0 and *ret.
   A problem with the text itself (syntax, duplicate key, limits, ...) becomes one
   or more error diagnostics naming filename:line:column, and the call returns -1
   with *err of kind FIREC_ERR_INVALID. */
int firec_yaml_load_buffer (const char *buf, size_t len, const char *filename, struct firec_doc **ret,
                            struct firec_diags *diags, firec_error_t *err);

/* Reads path ("-" is stdin) and loads it; display_name is what diagnostics show
   (NULL: the path itself). An I/O failure is a FIREC_ERR_INVALID error naming the file. */
int firec_yaml_load_file (const char *path, const char *display_name, struct firec_doc **ret, struct firec_diags *diags,
                          firec_error_t *err);

/* The YAML 1.2 core schema's spellings of a plain scalar, as the loader reads
   them: 1 for true/True/TRUE, 0 for false/False/FALSE, -1 for anything else. */
int firec_yaml_core_boolean (const char *s);
/* A plain decimal integer the loader would read as a number (-?(0|[1-9][0-9]*),
   at most 2^53 in magnitude): true with its value in *ret. */
bool firec_yaml_core_integer (const char *s, double *ret);

#endif
