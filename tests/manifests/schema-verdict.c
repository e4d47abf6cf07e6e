/* Test helper for the differential test: loads a manifest as firec-run does and
   prints {"loaded", "schema_valid", "instance"} so that python3-jsonschema can
   judge the very same tree. */
#include "config.h"

#include "diag.h"
#include "schema.h"
#include "util.h"
#include "yaml-load.h"

#include <stdio.h>

int
main (int argc, char **argv)
{
  if (argc != 2)
    {
      fprintf (stderr, "usage: %s FILE\n", argv[0]);
      return 2;
    }
  struct firec_diags diags = { 0 };
  cleanup_error firec_error_t err = NULL;
  cleanup_doc struct firec_doc *doc = NULL;
  cleanup_cjson cJSON *out = cJSON_CreateObject ();
  if (firec_yaml_load_file (argv[1], NULL, &doc, &diags, &err) < 0)
    cJSON_AddBoolToObject (out, "loaded", 0);
  else
    {
      const struct firec_schema *schema = firec_schema_builtin (&err);
      if (schema == NULL)
        {
          fprintf (stderr, "%s\n", err->message);
          return 1;
        }
      size_t errors = firec_schema_validate (schema, doc, &diags);
      cJSON_AddBoolToObject (out, "loaded", 1);
      cJSON_AddBoolToObject (out, "schema_valid", errors == 0);
      cJSON_AddItemToObject (out, "instance", cJSON_Duplicate (doc->root, 1));
    }
  firec_diags_release (&diags);
  cleanup_free char *text = cJSON_PrintUnformatted (out);
  puts (text);
  return 0;
}
