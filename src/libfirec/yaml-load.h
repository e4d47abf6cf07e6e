/* Strict YAML loading: one document of YAML 1.2 core-schema scalars into a cJSON
   tree with a position on every node (doc.h). */
#ifndef FIREC_YAML_LOAD_H
#define FIREC_YAML_LOAD_H

#include <stddef.h>

#include "diag.h"
#include "doc.h"
#include "error.h"

#define FIREC_YAML_MAX_BYTES (4u << 20) /* 4 MiB */
#define FIREC_YAML_MAX_DEPTH 64
#define FIREC_YAML_MAX_NODES 100000    /* after alias expansion: stops billion-laughs files */

/* Parses buf[0..len) (need not be NUL-terminated). On success returns 0 and *out.
   A problem with the text itself (syntax, duplicate key, limits, ...) becomes one
   or more error diagnostics naming filename:line:column, and the call returns -1
   with *err of kind FIREC_ERR_INVALID. */
int firec_yaml_load_buffer (const char *buf, size_t len, const char *filename, struct firec_doc **out,
                            struct firec_diags *diags, firec_error_t *err);

/* Reads path ("-" is stdin) and loads it; display_name is what diagnostics show
   (NULL: the path itself). An I/O failure is a FIREC_ERR_INVALID error naming the file. */
int firec_yaml_load_file (const char *path, const char *display_name, struct firec_doc **out,
                          struct firec_diags *diags, firec_error_t *err);

#endif
