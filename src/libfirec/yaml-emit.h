/* SPDX-License-Identifier: Apache-2.0 */
/* cJSON -> YAML text, for `render` and `import`. Strings that a strict YAML 1.2
   reader (ours) or a YAML 1.1 one would take for something else are quoted. */
#ifndef FIREC_YAML_EMIT_H
#define FIREC_YAML_EMIT_H

#include <cjson/cJSON.h>

#include "error.h"

/* header: comment lines printed first (without "# "), or NULL. */
int firec_yaml_emit (const cJSON *root, const char *header, char **ret, firec_error_t *err);

#endif
