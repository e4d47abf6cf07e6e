/* SPDX-License-Identifier: Apache-2.0 */
/* A JSON Schema (2020-12) validator for exactly the keywords our schema uses.
   No C JSON Schema library is packaged in Debian, and the subset is small;
   tests/unit/test-schema.c fails when the schema uses a keyword this file does
   not implement. */
#ifndef FIREC_SCHEMA_H
#define FIREC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "diag.h"
#include "doc.h"
#include "error.h"

struct firec_schema;

/* The embedded schemas/firec-vm.v1alpha1.schema.json, NUL-terminated. */
const char *firec_schema_text (size_t *len);
/* The same schema without description, title, examples and $comment, minified
   (tools/validation-schema.py): what firec_schema_builtin compiles. */
const char *firec_schema_validation_text (void);

int firec_schema_compile (const char *json_text, struct firec_schema **ret, firec_error_t *err);
/* The embedded schema, compiled once. */
const struct firec_schema *firec_schema_builtin (firec_error_t *err);
void firec_schema_free (struct firec_schema *schema);
const cJSON *firec_schema_root (const struct firec_schema *schema);

/* Validates doc->root; every violation becomes an error diagnostic at the
   offending node. Returns the number of errors added. */
size_t firec_schema_validate (const struct firec_schema *schema, const struct firec_doc *doc,
                              struct firec_diags *diags);

/* Calls fn for every instance node whose schema carries the annotation keyword
   (e.g. "x-firec-path"), following $ref, properties, items and the branch of a
   oneOf/anyOf that the instance matches. The instance must be valid. */
typedef void (*firec_schema_annotation_fn) (const cJSON *instance, const cJSON *annotation, const char *pointer,
                                            void *data);
void firec_schema_walk_annotation (const struct firec_schema *schema, const cJSON *instance, const char *keyword,
                                   firec_schema_annotation_fn fn, void *data);

/* The schema of the instance at pointer (plain properties and items only). */
const cJSON *firec_schema_at (const struct firec_schema *schema, const char *instance_pointer);

/* Whether a schema that applies at path (through properties, patternProperties,
   additionalProperties, items and every branch of $ref, oneOf, anyOf and allOf)
   admits value by its type, enum or const. A place no schema constrains admits
   nothing. For ${VAR}: does the field want this boolean or number? */
bool firec_schema_accepts (const struct firec_schema *schema, const struct firec_path *path, const cJSON *value);

/* Adds each missing property that has a "default" (recursively into objects) to
   instance, the node at pointer. The schema's defaults are the only copy of them. */
void firec_schema_apply_defaults (const struct firec_schema *schema, const char *pointer, cJSON *instance);

/* Keywords the validator understands (validation and annotation ones). */
bool firec_schema_keyword_known (const char *keyword);

#endif
