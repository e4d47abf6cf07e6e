/* SPDX-License-Identifier: Apache-2.0 */
/* The manifest: validation (schema, then Firecracker's rules that a schema cannot
   say) of a loaded document. */
#ifndef FIREC_MANIFEST_H
#define FIREC_MANIFEST_H

#include <stddef.h>

#include "diag.h"
#include "doc.h"
#include "error.h"

/* Runs the schema and the semantic checks and adds every problem to diags.
   Returns the number of errors added, or -1 (with *err) when the schema itself
   cannot be used. */
long firec_manifest_validate (const struct firec_doc *doc, struct firec_diags *diags, firec_error_t *err);

/* The checks after the schema: unique ids, one root device, a snapshot load without
   boot-path sections, socket path lengths... Written to tolerate a document that
   failed the schema (fields of the wrong type are skipped). Returns errors added. */
size_t firec_manifest_check_semantics (const struct firec_doc *doc, struct firec_diags *diags);

/* The largest request body Firecracker takes, as JSON bytes, from the
   firecracker section's options (0: not given); for PUT /mmds pass
   mmds_size_limit too, for any other request 0. *which names what sets the
   limit, for messages. */
long long firec_api_body_limit (long long http_api_max_payload_size, long long mmds_size_limit, const char **which);

/* Loads and validates path ("-": stdin). base_dir: where relative host paths of a
   stdin manifest resolve (NULL: the manifest's directory). On success *ret is the
   document; returns the number of errors (0 = valid) or -1 with *err when the file
   could not even be loaded as YAML (the diagnostics say why). */
long firec_manifest_load (const char *path, const char *base_dir, struct firec_doc **ret, struct firec_diags *diags,
                          firec_error_t *err);

#endif
