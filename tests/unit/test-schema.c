/* SPDX-License-Identifier: Apache-2.0 */
/* The schema validator: the built-in schema only uses implemented keywords, and
   each keyword reports what a user needs at the right place. */
#include "config.h"

#include "schema.h"
#include "util.h"
#include "yaml-load.h"

#include "tap.h"

/* Validates YAML text against a schema given as JSON; returns the diagnostics
   joined by newlines ("" when valid). */
static char *
validate (const char *schema_json, const char *yaml)
{
  firec_error_t err = NULL;
  struct firec_schema *schema = NULL;
  if (firec_schema_compile (schema_json, &schema, &err) < 0)
    {
      char *msg = firec_xasprintf ("schema error: %s", err->message);
      firec_error_release (&err);
      return msg;
    }
  struct firec_diags diags = { 0 };
  struct firec_doc *doc = NULL;
  if (firec_yaml_load_buffer (yaml, strlen (yaml), "t.yaml", &doc, &diags, &err) < 0)
    {
      firec_error_release (&err);
      firec_schema_free (schema);
      firec_diags_release (&diags);
      return firec_xstrdup ("load error");
    }
  firec_schema_validate (schema, doc, &diags);
  firec_diags_sort (&diags);
  struct firec_buf buf = { 0 };
  for (size_t i = 0; i < diags.count; i++)
    {
      cleanup_free char *line = firec_diag_format (&diags.items[i]);
      firec_buf_printf (&buf, "%s%s", i ? "\n" : "", line);
    }
  firec_diags_release (&diags);
  firec_doc_free (doc);
  firec_schema_free (schema);
  return firec_buf_steal (&buf);
}

#define CHECK(schema, yaml, want, name)                                                                                \
  do                                                                                                                   \
    {                                                                                                                  \
      cleanup_free char *got_ = validate (schema, yaml);                                                               \
      TAP_STR_EQ (got_, want, name);                                                                                   \
    }                                                                                                                  \
  while (0)

static void
test_builtin_schema (void)
{
  firec_error_t err = NULL;
  const struct firec_schema *s = firec_schema_builtin (&err);
  tap_ok (s != NULL, "the built-in schema compiles: every keyword it uses is implemented%s%s", err ? ": " : "",
          err ? err->message : "");
  firec_error_release (&err);
  /* firec_schema_builtin compiles patterns on first use: compile them all here. */
  const char *texts[] = { firec_schema_validation_text (), firec_schema_text (NULL) };
  for (size_t i = 0; i < 2; i++)
    {
      struct firec_schema *strict = NULL;
      tap_ok (firec_schema_compile (texts[i], &strict, &err) == 0,
              "the built-in schema (%s) compiles strictly: every pattern is a valid ERE%s%s",
              i == 0 ? "as validated" : "as printed", err ? ": " : "", err ? err->message : "");
      firec_schema_free (strict);
      firec_error_release (&err);
    }

  struct firec_schema *bad = NULL;
  int rc = firec_schema_compile ("{\"type\":\"object\",\"properties\":{\"a\":{\"contains\":{}}}}", &bad, &err);
  tap_ok (rc < 0 && err && strstr (err->message, "keyword \"contains\" is not implemented"),
          "an unimplemented keyword makes compilation fail, naming it: %s", err ? err->message : "");
  firec_error_release (&err);
  rc = firec_schema_compile ("{\"$ref\":\"#/$defs/nope\"}", &bad, &err);
  tap_ok (rc < 0 && err && strstr (err->message, "unresolved reference"), "an unresolved $ref is rejected");
  firec_error_release (&err);
  rc = firec_schema_compile ("{\"pattern\":\"(\"}", &bad, &err);
  tap_ok (rc < 0 && err && strstr (err->message, "does not compile"), "a broken pattern is rejected");
  firec_error_release (&err);
}

static const char object_schema[]
    = "{\"type\":\"object\",\"additionalProperties\":false,\"patternProperties\":{\"^x-\":{}},"
      "\"required\":[\"kernel_image_path\"],"
      "\"properties\":{\"kernel_image_path\":{\"type\":\"string\"},\"initrd_path\":{\"type\":\"string\"},"
      "\"ro\":{\"type\":\"boolean\"},\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":32},"
      "\"mode\":{\"type\":\"string\",\"enum\":[\"Unsafe\",\"Writeback\"]},"
      "\"mac\":{\"type\":\"string\",\"pattern\":\"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$\"},"
      "\"dev\":{\"type\":\"string\",\"maxLength\":15,\"minLength\":1},"
      "\"list\":{\"type\":\"array\",\"minItems\":1,\"uniqueItems\":true,\"items\":{\"type\":\"string\"}}}}";

static void
test_messages (void)
{
  CHECK (object_schema, "kernel_image_path: a\n", "", "a valid document has no diagnostics");
  CHECK (object_schema, "kernel_image_path: a\nx-note: anything\n", "", "x-* keys are accepted");
  CHECK (object_schema, "kernel_image_path: a\nro: yes\n",
         "t.yaml:2:5: error: /ro: expected boolean, got string \"yes\" (write true or false)",
         "yes for a boolean says how to write it");
  CHECK (object_schema, "kernel_image_path: a\nro: \"true\"\n",
         "t.yaml:2:5: error: /ro: expected boolean, got string \"true\" (write true or false without quotes)",
         "a quoted true says to drop the quotes");
  CHECK (object_schema, "kernel_image_path: a\nn: 0x1F\n",
         "t.yaml:2:4: error: /n: expected integer, got string \"0x1F\" (integers are plain decimal: no leading "
         "zeros, 0x, 0o, _ or :)",
         "a hex integer is explained");
  CHECK (object_schema, "kernel_image_path: a\nn: \"4\"\n",
         "t.yaml:2:4: error: /n: expected integer, got string \"4\" (write the number without quotes)",
         "a quoted number is explained");
  CHECK (object_schema, "kernel_image_path: a\nn: 1.5\n",
         "t.yaml:2:4: error: /n: expected integer, got number 1.5 (a whole number is needed)", "a fraction");
  CHECK (object_schema, "kernel_image_path: a\nn: 33\n", "t.yaml:2:4: error: /n: 33 is greater than the maximum 32",
         "maximum");
  CHECK (object_schema, "kernel_image_path: a\nn: 0\n", "t.yaml:2:4: error: /n: 0 is less than the minimum 1",
         "minimum");
  CHECK (
      object_schema, "kernel_img_path: a\n",
      "t.yaml:1:1: error: /kernel_img_path: unknown field \"kernel_img_path\" (did you mean \"kernel_image_path\"?)\n"
      "t.yaml:1:1: error: missing required field \"kernel_image_path\"",
      "a near-miss key gets a suggestion, at the key");
  CHECK (object_schema, "kernel_image_path: a\nzzz: 1\n",
         "t.yaml:2:1: error: /zzz: unknown field \"zzz\" (expected one of: kernel_image_path, initrd_path, ro, n, "
         "mode, mac, dev, list)",
         "an unknown key far from every name lists the known ones");
  CHECK (object_schema, "kernel_image_path: a\nmode: unsafe\n",
         "t.yaml:2:7: error: /mode: \"unsafe\" is not one of \"Unsafe\", \"Writeback\" (did you mean \"Unsafe\"?)",
         "enum with a case-insensitive suggestion");
  CHECK (object_schema, "kernel_image_path: a\nmac: 06:00:AC:10:00\n",
         "t.yaml:2:6: error: /mac: \"06:00:AC:10:00\" does not match the pattern ^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$",
         "pattern");
  CHECK (object_schema, "kernel_image_path: a\ndev: a-very-long-tap-name\n",
         "t.yaml:2:6: error: /dev: \"a-very-long-tap-name\" is longer than 15 characters", "maxLength");
  CHECK (object_schema, "kernel_image_path: a\ndev: ''\n", "t.yaml:2:6: error: /dev: must not be empty", "minLength 1");
  CHECK (object_schema, "kernel_image_path: a\nlist: []\n", "t.yaml:2:7: error: /list: expected at least 1 item, got 0",
         "minItems");
  CHECK (object_schema, "kernel_image_path: a\nlist: [a, b, a]\n",
         "t.yaml:2:14: error: /list/2: duplicate item (the same as item 0)", "uniqueItems");
  CHECK (object_schema, "kernel_image_path:\n",
         "t.yaml:1:19: error: /kernel_image_path: expected string, got null (an empty value)",
         "an empty value is null");
  CHECK (object_schema, "- a\n", "t.yaml:1:1: error: expected object, got array", "root type");
}

static const char alternatives_schema[]
    = "{\"type\":\"object\",\"properties\":{"
      "\"cpu\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"object\",\"additionalProperties\":false,"
      "\"properties\":{\"kvm_capabilities\":{\"type\":\"array\"}}}]},"
      "\"mmds\":{\"type\":\"object\",\"oneOf\":[{\"required\":[\"data\"]},{\"required\":[\"data_file\"]}]},"
      "\"drive\":{\"type\":\"object\",\"not\":{\"required\":[\"socket\",\"path_on_host\"]}},"
      "\"dep\":{\"type\":\"object\",\"dependentRequired\":{\"a\":[\"b\"]}},"
      "\"one\":{\"type\":\"object\",\"minProperties\":1,\"maxProperties\":1},"
      "\"names\":{\"type\":\"object\",\"propertyNames\":{\"pattern\":\"^[a-z]+\\\\.[a-z]+$\"}},"
      "\"ver\":{\"enum\":[1,2,\"auto\"]},"
      "\"api\":{\"const\":\"firec/v1alpha1\"},"
      "\"ref\":{\"$ref\":\"#/$defs/bucket\"}},"
      "\"$defs\":{\"bucket\":{\"type\":\"object\",\"required\":[\"size\"]}}}";

static void
test_alternatives (void)
{
  CHECK (alternatives_schema, "cpu: ./t.json\n", "", "oneOf: the string branch");
  CHECK (alternatives_schema, "cpu: {kvm_capabilities: []}\n", "", "oneOf: the object branch");
  CHECK (
      alternatives_schema, "cpu: {kvm_capability: []}\n",
      "t.yaml:1:7: error: /cpu/kvm_capability: unknown field \"kvm_capability\" (did you mean \"kvm_capabilities\"?)",
      "oneOf by type reports the branch of the value's type");
  CHECK (alternatives_schema, "cpu: 5\n", "t.yaml:1:6: error: /cpu: expected string or object, got integer 5",
         "oneOf by type: no branch takes this type");
  CHECK (alternatives_schema, "mmds: {}\n", "t.yaml:1:7: error: /mmds: expected exactly one of \"data\", \"data_file\"",
         "exactly one of: none given");
  CHECK (alternatives_schema, "mmds: {data: 1, data_file: x}\n",
         "t.yaml:1:7: error: /mmds: \"data\", \"data_file\" are mutually exclusive: give exactly one",
         "exactly one of: both given");
  CHECK (alternatives_schema, "drive: {socket: /s, path_on_host: x}\n",
         "t.yaml:1:8: error: /drive: \"socket\" and \"path_on_host\" cannot be used together", "not required");
  CHECK (alternatives_schema, "dep: {a: 1}\n", "t.yaml:1:7: error: /dep/a: \"a\" requires \"b\"", "dependentRequired");
  CHECK (alternatives_schema, "one: {a: 1, b: 2}\n", "t.yaml:1:6: error: /one: expected exactly 1 field, got 2",
         "min = maxProperties");
  CHECK (alternatives_schema, "names: {cpu.max: x, bad: y}\n",
         "t.yaml:1:21: error: /names/bad: invalid field name \"bad\": \"bad\" does not match the pattern "
         "^[a-z]+\\.[a-z]+$",
         "propertyNames at the key");
  CHECK (alternatives_schema, "ver: 3\n", "t.yaml:1:6: error: /ver: 3 is not one of 1, 2, \"auto\"", "mixed enum");
  CHECK (alternatives_schema, "ver: auto\n", "", "mixed enum: a string member");
  CHECK (alternatives_schema, "api: firec/v1\n",
         "t.yaml:1:6: error: /api: expected \"firec/v1alpha1\", got \"firec/v1\"", "const");
  CHECK (alternatives_schema, "ref: {}\n", "t.yaml:1:6: error: /ref: missing required field \"size\"", "$ref");
}

int
main (void)
{
  test_builtin_schema ();
  test_messages ();
  test_alternatives ();
  return tap_done ();
}
