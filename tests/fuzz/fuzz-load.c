/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for load + validate: whatever the bytes, loading, ${VAR}
   interpolation, the schema and the semantic checks must not crash, leak or
   hang, and their results must keep their promises (a diagnostic has a
   position inside the file whenever it has a node). */
#include "config.h"

#include "manifest.h"
#include "model.h"
#include "yaml-load.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Every node of a loaded tree has a position (the tree is at most
   FIREC_YAML_MAX_DEPTH deep, so this recursion is bounded). */
static void
check_marks (const struct firec_doc *doc, const cJSON *node)
{
  struct firec_mark value, key;
  if (!firec_doc_get_mark (doc, node, &value, &key) || value.line == 0 || key.line == 0)
    abort ();
  for (const cJSON *child = node->child; child; child = child->next)
    check_marks (doc, child);
}

/* A fixed environment: the fuzzer must not depend on the machine's. */
static const char *
fuzz_env (const char *name)
{
  return name[0] == 'A' ? "value" : NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct firec_doc *doc = NULL;
  struct firec_diags diags = { 0 };
  firec_error_t err = NULL;
  int rc = firec_yaml_load_buffer ((const char *) data, size, "fuzz.yaml", &doc, &diags, &err);
  if (rc == 0)
    {
      if (doc == NULL || doc->root == NULL || err != NULL || diags.count != 0)
        abort ();
      check_marks (doc, doc->root);
      firec_interpolate (doc, fuzz_env, &diags);
      long errors = firec_manifest_validate (doc, &diags, &err);
      if (errors < 0 || (errors > 0) != (firec_diags_count (&diags, FIREC_SEV_ERROR) > 0))
        abort ();
    }
  else if (doc != NULL || err == NULL || err->kind != FIREC_ERR_INVALID || diags.count == 0)
    abort ();
  for (size_t i = 0; i < diags.count; i++)
    free (firec_diag_format (&diags.items[i]));
  firec_doc_free (doc);
  firec_diags_release (&diags);
  firec_error_release (&err);
  return 0;
}
