/* SPDX-License-Identifier: Apache-2.0 */
/* The strict YAML loader: trees, marks and the exact text of every diagnostic. */
#include "config.h"

#include "tap.h"
#include "util.h"
#include "yaml-load.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

struct load_result
{
  int rc;
  struct firec_doc *doc;
  struct firec_diags diags;
  firec_error_t err;
};

static void
load_result_release (struct load_result *r)
{
  firec_doc_free (r->doc);
  firec_diags_release (&r->diags);
  firec_error_release (&r->err);
  memset (r, 0, sizeof *r);
}

static struct load_result
load_n (const char *text, size_t len)
{
  struct load_result r = { 0 };
  r.rc = firec_yaml_load_buffer (text, len, "vm.yaml", &r.doc, &r.diags, &r.err);
  return r;
}

static struct load_result
load (const char *text)
{
  return load_n (text, strlen (text));
}

static char *
diag_text (const struct load_result *r, size_t i)
{
  if (i >= r->diags.count)
    return firec_xstrdup ("(no such diagnostic)");
  return firec_diag_format (&r->diags.items[i]);
}

/* Loads text that must load cleanly; the caller releases the result. */
static struct load_result
load_ok (const char *text, const char *what)
{
  struct load_result r = load (text);
  bool ok = r.rc == 0 && r.doc != NULL && r.diags.count == 0 && r.err == NULL;
  tap_ok (ok, "%s: loads", what);
  if (!ok)
    {
      cleanup_free char *first = diag_text (&r, 0);
      printf ("#   rc=%d diags=%zu first: %s\n", r.rc, r.diags.count, first);
    }
  return r;
}

/* The load must fail with exactly these diagnostics (formatted), in order. */
static void
expect_diags_n (const char *text, size_t len, const char *what, const char *const *want, size_t n_want)
{
  struct load_result r = load_n (text, len);
  tap_ok (r.rc == -1 && r.doc == NULL, "%s: load fails and leaves no document", what);
  tap_ok (r.err != NULL && r.err->kind == FIREC_ERR_INVALID, "%s: error of kind FIREC_ERR_INVALID", what);
  TAP_STR_EQ (r.err ? r.err->message : NULL, "vm.yaml: not a valid manifest", "%s: error message", what);
  tap_ok (r.diags.count == n_want, "%s: %zu diagnostic(s)", what, n_want);
  if (r.diags.count != n_want)
    for (size_t i = 0; i < r.diags.count; i++)
      {
        cleanup_free char *t = diag_text (&r, i);
        printf ("#   diag %zu: %s\n", i, t);
      }
  for (size_t i = 0; i < n_want; i++)
    {
      cleanup_free char *got = diag_text (&r, i);
      TAP_STR_EQ (got, want[i], "%s: diagnostic %zu", what, i + 1);
      if (i < r.diags.count)
        tap_ok (r.diags.items[i].severity == FIREC_SEV_ERROR, "%s: diagnostic %zu is an error", what, i + 1);
    }
  load_result_release (&r);
}

static void
expect_diag (const char *text, const char *what, const char *want)
{
  expect_diags_n (text, strlen (text), what, &want, 1);
}

static void
check_mark (const struct firec_doc *doc, const char *pointer, unsigned vline, unsigned vcol, unsigned kline,
            unsigned kcol)
{
  const cJSON *node = firec_doc_at (doc, pointer);
  struct firec_mark value, key;
  bool found = node && firec_doc_get_mark (doc, node, &value, &key);
  bool ok = found && value.line == vline && value.column == vcol && key.line == kline && key.column == kcol;
  tap_ok (ok, "mark of \"%s\": value %u:%u, key %u:%u", pointer, vline, vcol, kline, kcol);
  if (!ok)
    printf ("#   got: found=%d value %u:%u key %u:%u\n", found, value.line, value.column, key.line, key.column);
}

static void
check_string (const struct firec_doc *doc, const char *pointer, const char *want)
{
  const cJSON *node = firec_doc_at (doc, pointer);
  TAP_STR_EQ (cJSON_IsString (node) ? node->valuestring : NULL, want, "\"%s\" is the string \"%s\"", pointer, want);
}

static void
check_number (const struct firec_doc *doc, const char *pointer, double want)
{
  const cJSON *node = firec_doc_at (doc, pointer);
  bool ok = cJSON_IsNumber (node) && node->valuedouble == want;
  tap_ok (ok, "\"%s\" is the number %.17g", pointer, want);
  if (!ok && node)
    printf ("#   got type %d value %s\n", node->type, cJSON_IsString (node) ? node->valuestring : "");
}

/* ---------------------------------------------------------------- trees and marks */

static const char manifest[] = "apiVersion: firec/v1alpha1\n"                            /* 1 */
                               "kind: MicroVM\n"                                         /* 2 */
                               "metadata:\n"                                             /* 3 */
                               "  name: web-1\n"                                         /* 4 */
                               "  labels: {team: edge}\n"                                /* 5 */
                               "spec:\n"                                                 /* 6 */
                               "  machine-config: {vcpu_count: 2, mem_size_mib: 1024}\n" /* 7 */
                               "  drives:\n"                                             /* 8 */
                               "    - {drive_id: rootfs, is_root_device: true}\n"        /* 9 */
                               "    - drive_id: data\n"                                  /* 10 */
                               "      is_read_only: false\n"                             /* 11 */
                               "      path_on_host: \"./data.ext4\"\n"                   /* 12 */
                               "  boot-source:\n"                                        /* 13 */
                               "    boot_args: >-\n"                                     /* 14 */
                               "      console=ttyS0\n"                                   /* 15 */
                               "      reboot=k\n"                                        /* 16 */
                               "x-empty:\n";                                             /* 17 */

static void
test_manifest_tree (void)
{
  struct load_result r = load_ok (manifest, "manifest");
  if (r.doc == NULL)
    return;
  const struct firec_doc *doc = r.doc;
  TAP_STR_EQ (doc->filename, "vm.yaml", "document keeps the file name");
  tap_ok (cJSON_IsObject (doc->root) && cJSON_GetArraySize (doc->root) == 5, "root is a mapping of 5 members");
  check_string (doc, "/apiVersion", "firec/v1alpha1");
  check_string (doc, "/metadata/labels/team", "edge");
  check_number (doc, "/spec/machine-config/vcpu_count", 2);
  check_number (doc, "/spec/machine-config/mem_size_mib", 1024);
  tap_ok (cJSON_IsArray (firec_doc_at (doc, "/spec/drives")), "/spec/drives is a sequence");
  tap_ok (cJSON_IsTrue (firec_doc_at (doc, "/spec/drives/0/is_root_device")), "is_root_device is true");
  tap_ok (cJSON_IsFalse (firec_doc_at (doc, "/spec/drives/1/is_read_only")), "is_read_only is false");
  check_string (doc, "/spec/drives/1/path_on_host", "./data.ext4");
  check_string (doc, "/spec/boot-source/boot_args", "console=ttyS0 reboot=k");
  tap_ok (cJSON_IsNull (firec_doc_at (doc, "/x-empty")), "an empty value is null");

  /* Member order is the file's order. */
  const cJSON *first = doc->root->child;
  TAP_STR_EQ (first ? first->string : NULL, "apiVersion", "members keep their order (first)");
  TAP_STR_EQ (first && first->next ? first->next->string : NULL, "kind", "members keep their order (second)");

  check_mark (doc, "", 1, 1, 1, 1);
  check_mark (doc, "/apiVersion", 1, 13, 1, 1);
  check_mark (doc, "/kind", 2, 7, 2, 1);
  check_mark (doc, "/metadata", 4, 3, 3, 1);
  check_mark (doc, "/metadata/name", 4, 9, 4, 3);
  check_mark (doc, "/metadata/labels", 5, 11, 5, 3);
  check_mark (doc, "/metadata/labels/team", 5, 18, 5, 12);
  check_mark (doc, "/spec/machine-config/mem_size_mib", 7, 49, 7, 35);
  check_mark (doc, "/spec/drives", 9, 5, 8, 3);
  check_mark (doc, "/spec/drives/0", 9, 7, 9, 7);
  check_mark (doc, "/spec/drives/0/is_root_device", 9, 42, 9, 26);
  check_mark (doc, "/spec/drives/1", 10, 7, 10, 7);
  check_mark (doc, "/spec/drives/1/is_read_only", 11, 21, 11, 7);
  check_mark (doc, "/spec/drives/1/path_on_host", 12, 21, 12, 7);
  check_mark (doc, "/spec/boot-source/boot_args", 14, 16, 14, 5);
  check_mark (doc, "/x-empty", 17, 9, 17, 1);
  load_result_release (&r);
}

static void
test_marks_count_characters_and_line_breaks (void)
{
  struct load_result r = load_ok ("a: 1\r\nb: 2\r\n\"é\": ключ\r\nc: x\n", "CRLF and UTF-8");
  if (r.doc)
    {
      check_mark (r.doc, "/b", 2, 4, 2, 1);
      check_mark (r.doc, "/é", 3, 6, 3, 1);
      check_mark (r.doc, "/c", 4, 4, 4, 1);
      check_string (r.doc, "/é", "ключ");
    }
  load_result_release (&r);

  r = load_ok ("\xEF\xBB\xBFkey: value\n", "UTF-8 byte order mark");
  if (r.doc)
    {
      check_string (r.doc, "/key", "value");
      check_mark (r.doc, "/key", 1, 6, 1, 1);
    }
  load_result_release (&r);

  /* libyaml counts the mark as a column: the first key would sit deeper than
     the next ones, and the mapping would end after it. */
  r = load_ok ("\xEF\xBB\xBF"
               "a: 1\nb:\n  c: x\n",
               "byte order mark before a mapping of several lines");
  if (r.doc)
    {
      check_mark (r.doc, "/a", 1, 4, 1, 1);
      check_mark (r.doc, "/b/c", 3, 6, 3, 3);
    }
  load_result_release (&r);
  expect_diag ("\xEF\xBB\xBF"
               "a: [\n",
               "byte order mark, then a syntax error",
               "vm.yaml:2:1: error: did not find expected node content (while parsing a flow node)");
}

static void
test_root_kinds (void)
{
  struct load_result r = load_ok ("42\n", "scalar root");
  if (r.doc)
    tap_ok (cJSON_IsNumber (r.doc->root) && r.doc->root->valuedouble == 42, "root is the number 42");
  load_result_release (&r);

  r = load_ok ("---\n", "explicit empty document");
  if (r.doc)
    tap_ok (cJSON_IsNull (r.doc->root), "root is null");
  load_result_release (&r);

  r = load_ok ("# comment\n---\n- a\n- b\n...\n# trailing comment\n", "document with markers and comments");
  if (r.doc)
    {
      tap_ok (cJSON_IsArray (r.doc->root) && cJSON_GetArraySize (r.doc->root) == 2, "root is a sequence of 2");
      check_mark (r.doc, "/1", 4, 3, 4, 3);
    }
  load_result_release (&r);

  /* The buffer need not be NUL-terminated: only len bytes count. */
  r = load_n ("a: 1XYZ", 4);
  tap_ok (r.rc == 0 && r.doc && cJSON_GetArraySize (r.doc->root) == 1, "only len bytes are read");
  if (r.doc)
    check_number (r.doc, "/a", 1);
  load_result_release (&r);

  r = load_ok ("? a\n? b\n: 2\n", "explicit keys");
  if (r.doc)
    {
      tap_ok (cJSON_IsNull (firec_doc_at (r.doc, "/a")), "explicit key without value is null");
      check_number (r.doc, "/b", 2);
      check_mark (r.doc, "/b", 3, 3, 2, 3);
    }
  load_result_release (&r);

  r = load_ok ("a: [1,\n\t2]\nb:\tc\n", "tabs as separators (not indentation)");
  if (r.doc)
    {
      check_number (r.doc, "/a/1", 2);
      check_string (r.doc, "/b", "c");
    }
  load_result_release (&r);
}

/* ---------------------------------------------------------------- scalars */

enum expected_kind
{
  EXPECT_STRING,
  EXPECT_NUMBER,
  EXPECT_TRUE,
  EXPECT_FALSE,
  EXPECT_NULL,
};

struct scalar_case
{
  const char *yaml;
  enum expected_kind kind;
  const char *string;
  double number;
};

static const struct scalar_case scalar_cases[] = {
  { "true", EXPECT_TRUE, NULL, 0 },
  { "false", EXPECT_FALSE, NULL, 0 },
  { "True", EXPECT_TRUE, NULL, 0 },
  { "TRUE", EXPECT_TRUE, NULL, 0 },
  { "False", EXPECT_FALSE, NULL, 0 },
  { "FALSE", EXPECT_FALSE, NULL, 0 },
  { "tRUE", EXPECT_STRING, "tRUE", 0 },
  { "fALSE", EXPECT_STRING, "fALSE", 0 },
  { "'True'", EXPECT_STRING, "True", 0 },
  { "yes", EXPECT_STRING, "yes", 0 },
  { "no", EXPECT_STRING, "no", 0 },
  { "on", EXPECT_STRING, "on", 0 },
  { "off", EXPECT_STRING, "off", 0 },
  { "y", EXPECT_STRING, "y", 0 },
  { "n", EXPECT_STRING, "n", 0 },
  { "Yes", EXPECT_STRING, "Yes", 0 },
  { "null", EXPECT_NULL, NULL, 0 },
  { "~", EXPECT_NULL, NULL, 0 },
  { "", EXPECT_NULL, NULL, 0 },
  { "Null", EXPECT_STRING, "Null", 0 },
  { "NULL", EXPECT_STRING, "NULL", 0 },
  { "0", EXPECT_NUMBER, NULL, 0 },
  { "42", EXPECT_NUMBER, NULL, 42 },
  { "-7", EXPECT_NUMBER, NULL, -7 },
  { "-0", EXPECT_NUMBER, NULL, 0 },
  { "9007199254740992", EXPECT_NUMBER, NULL, 9007199254740992.0 },
  { "-9007199254740992", EXPECT_NUMBER, NULL, -9007199254740992.0 },
  { "1000000", EXPECT_NUMBER, NULL, 1000000 },
  { "0755", EXPECT_STRING, "0755", 0 },
  { "00", EXPECT_STRING, "00", 0 },
  { "-01", EXPECT_STRING, "-01", 0 },
  { "0x1F", EXPECT_STRING, "0x1F", 0 },
  { "0o17", EXPECT_STRING, "0o17", 0 },
  { "0b101", EXPECT_STRING, "0b101", 0 },
  { "1_000", EXPECT_STRING, "1_000", 0 },
  { "1:20", EXPECT_STRING, "1:20", 0 },
  { "+5", EXPECT_STRING, "+5", 0 },
  { "-x", EXPECT_STRING, "-x", 0 },
  { "-.5", EXPECT_STRING, "-.5", 0 },
  { "10s", EXPECT_STRING, "10s", 0 },
  { "1.5", EXPECT_NUMBER, NULL, 1.5 },
  { "-0.25", EXPECT_NUMBER, NULL, -0.25 },
  { "0.0", EXPECT_NUMBER, NULL, 0 },
  { "1e3", EXPECT_NUMBER, NULL, 1000 },
  { "2E-2", EXPECT_NUMBER, NULL, 0.02 },
  { "1.0e+10", EXPECT_NUMBER, NULL, 1e10 },
  { "-1.5E3", EXPECT_NUMBER, NULL, -1500 },
  { ".5", EXPECT_STRING, ".5", 0 },
  { "1.", EXPECT_STRING, "1.", 0 },
  { "01.5", EXPECT_STRING, "01.5", 0 },
  { "+1.5", EXPECT_STRING, "+1.5", 0 },
  { "1e", EXPECT_STRING, "1e", 0 },
  { "1.5e", EXPECT_STRING, "1.5e", 0 },
  { "1.5e+", EXPECT_STRING, "1.5e+", 0 },
  { ".inf", EXPECT_STRING, ".inf", 0 },
  { "-.inf", EXPECT_STRING, "-.inf", 0 },
  { ".nan", EXPECT_STRING, ".nan", 0 },
  { ".NaN", EXPECT_STRING, ".NaN", 0 },
  { "'42'", EXPECT_STRING, "42", 0 },
  { "\"true\"", EXPECT_STRING, "true", 0 },
  { "'null'", EXPECT_STRING, "null", 0 },
  { "''", EXPECT_STRING, "", 0 },
  { "\"\"", EXPECT_STRING, "", 0 },
  { "\"1.5\"", EXPECT_STRING, "1.5", 0 },
  { "|\n  7\n", EXPECT_STRING, "7\n", 0 },
  { ">-\n  false\n", EXPECT_STRING, "false", 0 },
  { "\"tab\\there\"", EXPECT_STRING, "tab\there", 0 },
};

static void
test_scalars (void)
{
  for (size_t i = 0; i < FIREC_N_ELEMENTS (scalar_cases); i++)
    {
      const struct scalar_case *c = &scalar_cases[i];
      if (c->string == NULL && c->kind == EXPECT_STRING)
        continue;
      cleanup_free char *text = firec_xasprintf ("v: %s\n", c->yaml);
      struct load_result r = load (text);
      const cJSON *v = r.doc ? firec_doc_at (r.doc, "/v") : NULL;
      bool ok = r.rc == 0 && v != NULL;
      switch (c->kind)
        {
        case EXPECT_STRING:
          ok = ok && cJSON_IsString (v) && strcmp (v->valuestring, c->string) == 0;
          break;
        case EXPECT_NUMBER:
          ok = ok && cJSON_IsNumber (v) && v->valuedouble == c->number;
          break;
        case EXPECT_TRUE:
          ok = ok && cJSON_IsTrue (v);
          break;
        case EXPECT_FALSE:
          ok = ok && cJSON_IsFalse (v);
          break;
        case EXPECT_NULL:
          ok = ok && cJSON_IsNull (v);
          break;
        }
      static const char *const kind_names[] = { "string", "number", "true", "false", "null" };
      tap_ok (ok, "scalar [%s] is %s", c->yaml, kind_names[c->kind]);
      load_result_release (&r);
    }

  /* Quoted and block scalars are marked as such; plain ones are not, and an
     alias keeps the mark of its anchor. */
  struct load_result q = load_ok ("a: '2'\nb: 2\nc: \"x\"\nd: x\ne: |\n  7\nf: &q 'y'\ng: *q\nh: [&p {k: '1'}, *p]\n",
                                  "quoted and plain scalars");
  if (q.doc)
    {
      static const struct
      {
        const char *pointer;
        bool quoted;
      } marks[] = { { "/a", true }, { "/b", false }, { "/c", true },     { "/d", false },    { "/e", true },
                    { "/f", true }, { "/g", true },  { "/h/0/k", true }, { "/h/1/k", true }, { "/h/1", false } };
      for (size_t i = 0; i < FIREC_N_ELEMENTS (marks); i++)
        {
          unsigned flags = firec_doc_get_flags (q.doc, firec_doc_at (q.doc, marks[i].pointer));
          tap_ok (((flags & FIREC_NODE_QUOTED) != 0) == marks[i].quoted, "%s is %squoted", marks[i].pointer,
                  marks[i].quoted ? "" : "not ");
        }
    }
  load_result_release (&q);

  /* A mapping key is its text, whatever it would be as a value. */
  struct load_result r = load_ok ("true: a\n1: b\nnull: c\n~: d\n'q': e\n", "scalar keys");
  if (r.doc)
    {
      check_string (r.doc, "/true", "a");
      check_string (r.doc, "/1", "b");
      check_string (r.doc, "/null", "c");
      check_string (r.doc, "/~0", "d");
      check_string (r.doc, "/q", "e");
    }
  load_result_release (&r);

  /* Plain scalars are read the same way whatever the locale is. */
  const char *saved = setlocale (LC_NUMERIC, NULL);
  cleanup_free char *saved_copy = saved ? firec_xstrdup (saved) : NULL;
  if (setlocale (LC_NUMERIC, "de_DE.UTF-8") || setlocale (LC_NUMERIC, "fr_FR.UTF-8"))
    {
      r = load_ok ("v: 1.5\n", "number in a comma-decimal locale");
      if (r.doc)
        check_number (r.doc, "/v", 1.5);
      load_result_release (&r);
    }
  else
    tap_ok (1, "# SKIP no comma-decimal locale installed");
  setlocale (LC_NUMERIC, saved_copy ? saved_copy : "C");
}

static void
test_number_limits (void)
{
  expect_diag ("n: 9007199254740993\n", "2^53 + 1",
               "vm.yaml:1:4: error: /n: integer 9007199254740993 is too large to represent exactly");
  expect_diag ("list:\n  - -9007199254740993\n", "-(2^53 + 1)",
               "vm.yaml:2:5: error: /list/0: integer -9007199254740993 is too large to represent exactly");
  expect_diag ("n: 123456789012345678901234567890\n", "30 digits",
               "vm.yaml:1:4: error: /n: integer 123456789012345678901234567890 is too large to represent exactly");
  expect_diag ("x: 1e400\n", "float overflow", "vm.yaml:1:4: error: /x: number 1e400 is too large to represent");
  struct load_result r = load_ok ("n: '9007199254740993'\nm: 1e308\n", "quoted big integer");
  if (r.doc)
    {
      check_string (r.doc, "/n", "9007199254740993");
      check_number (r.doc, "/m", 1e308);
    }
  load_result_release (&r);
}

/* ---------------------------------------------------------------- documents */

static void
test_documents (void)
{
  static const char empty_message[] = "vm.yaml: error: no YAML document: the file is empty or holds only comments";
  expect_diag ("", "empty file", empty_message);
  expect_diag ("# just a comment\n\n   \n# another\n", "only comments", empty_message);
  expect_diag ("\n\n", "only blank lines", empty_message);

  struct load_result r = load ("");
  tap_ok (r.diags.count == 1 && r.diags.items[0].line == 0 && r.diags.items[0].column == 0,
          "empty file: the diagnostic has no position");
  load_result_release (&r);

  expect_diag ("a: 1\n---\nb: 2\n", "second document",
               "vm.yaml:2:1: error: found a second document; a manifest is exactly one YAML document");
  expect_diag ("---\na: 1\n...\n--- \n", "empty second document",
               "vm.yaml:4:1: error: found a second document; a manifest is exactly one YAML document");
  expect_diag ("a: 1\n...\nb: 2\n", "bare document after end marker",
               "vm.yaml:3:1: error: did not find expected <document start>");
}

/* ---------------------------------------------------------------- keys */

static void
test_keys (void)
{
  expect_diag ("a: 1\nb: 2\na: 3\n", "duplicate key",
               "vm.yaml:3:1: error: /a: duplicate key \"a\" (first defined at line 1)");
  expect_diag ("spec:\n  drives: []\n  x: {k: 1,\n      k: 2}\n", "duplicate key in a flow mapping",
               "vm.yaml:4:7: error: /spec/x/k: duplicate key \"k\" (first defined at line 3)");
  expect_diag ("1: a\n\"1\": b\n", "duplicate key with another style",
               "vm.yaml:2:1: error: /1: duplicate key \"1\" (first defined at line 1)");
  expect_diag ("a/b~c: 1\n'a/b~c': 2\n", "duplicate key path is escaped",
               "vm.yaml:2:1: error: /a~1b~0c: duplicate key \"a/b~c\" (first defined at line 1)");
  static const char *const two_duplicates[] = {
    "vm.yaml:3:1: error: /a: duplicate key \"a\" (first defined at line 1)",
    "vm.yaml:4:1: error: /b: duplicate key \"b\" (first defined at line 2)",
  };
  const char *text = "a: 1\nb: 2\na: 3\nb: 4\na: 5\n";
  static const char *const three_duplicates[] = {
    "vm.yaml:3:1: error: /a: duplicate key \"a\" (first defined at line 1)",
    "vm.yaml:4:1: error: /b: duplicate key \"b\" (first defined at line 2)",
    "vm.yaml:5:1: error: /a: duplicate key \"a\" (first defined at line 1)",
  };
  expect_diags_n (text, strlen (text), "three duplicates are all reported", three_duplicates, 3);
  text = "a: 1\nb: 2\na: [x]\nb: {y: 1}\n";
  expect_diags_n (text, strlen (text), "duplicates with collection values", two_duplicates, 2);

  struct load_result r = load_ok ("a: {k: 1}\nb: {k: 2}\nc: [{k: 3}, {k: 4}]\n", "same key in different mappings");
  load_result_release (&r);

  expect_diag ("? [a, b]\n: 1\n", "sequence key",
               "vm.yaml:1:3: error: mapping keys must be plain or quoted scalars, not a sequence");
  expect_diag ("outer:\n  ? {a: 1}\n  : x\n", "mapping key",
               "vm.yaml:2:5: error: /outer: mapping keys must be plain or quoted scalars, not a mapping");
  expect_diag ("a: &x k\n*x : v\n", "alias key",
               "vm.yaml:2:1: error: mapping keys must be plain or quoted scalars, not an alias (*x)");

  r = load_ok ("? |\n  block key\n: v\n", "block scalar key");
  if (r.doc)
    tap_ok (cJSON_GetObjectItemCaseSensitive (r.doc->root, "block key\n") != NULL, "block scalar key is its text");
  load_result_release (&r);
}

static void
test_merge_keys (void)
{
  expect_diag ("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n", "merge key",
               "vm.yaml:3:3: error: /derived/<<: merge keys (<<) are not supported; write the keys out");
  expect_diag ("x: &x {}\na:\n  - <<: [*x]\n", "merge key with a sequence of aliases",
               "vm.yaml:3:5: error: /a/0/<<: merge keys (<<) are not supported; write the keys out");
  struct load_result r = load_ok ("'<<': quoted keys are ordinary\n", "quoted << key");
  if (r.doc)
    check_string (r.doc, "/<<", "quoted keys are ordinary");
  load_result_release (&r);
}

/* ---------------------------------------------------------------- tags */

static void
test_tags (void)
{
  expect_diag ("a: !foo x\n", "local tag", "vm.yaml:1:4: error: /a: tags are not supported: !foo");
  expect_diag ("a: !!str 5\n", "core tag", "vm.yaml:1:4: error: /a: tags are not supported: !!str");
  expect_diag ("a: !!int \"5\"\n", "!!int", "vm.yaml:1:4: error: /a: tags are not supported: !!int");
  expect_diag ("a: ! x\n", "non-specific tag", "vm.yaml:1:4: error: /a: tags are not supported: !");
  expect_diag ("a: !<tag:example.com,2024:x> y\n", "verbatim tag",
               "vm.yaml:1:4: error: /a: tags are not supported: tag:example.com,2024:x");
  expect_diag ("a: !!map {b: 1}\n", "tag on a mapping", "vm.yaml:1:4: error: /a: tags are not supported: !!map");
  expect_diag ("a:\n  - !!seq [1]\n", "tag on a sequence", "vm.yaml:2:5: error: /a/0: tags are not supported: !!seq");
  expect_diag ("--- !!map\na: 1\n", "tag on the root", "vm.yaml:1:5: error: tags are not supported: !!map");
  expect_diag ("!!str key: v\n", "tag on a key", "vm.yaml:1:1: error: /key: tags are not supported: !!str");
  expect_diag ("a: !!binary aGVsbG8=\n", "!!binary", "vm.yaml:1:4: error: /a: tags are not supported: !!binary");
  const char *text = "a: !x 1\nb:\n  - !y 2\n  - 3\nc: !z {}\n";
  static const char *const three[] = {
    "vm.yaml:1:4: error: /a: tags are not supported: !x",
    "vm.yaml:3:5: error: /b/0: tags are not supported: !y",
    "vm.yaml:5:4: error: /c: tags are not supported: !z",
  };
  expect_diags_n (text, strlen (text), "several tags are all reported", three, 3);
}

/* ---------------------------------------------------------------- anchors and aliases */

static void
test_aliases (void)
{
  static const char text[] = "defaults: &d\n"                /* 1 */
                             "  cpu: 2\n"                    /* 2 */
                             "  disks: [{id: a}, {id: b}]\n" /* 3 */
                             "vm1: *d\n"                     /* 4 */
                             "vm2:\n"                        /* 5 */
                             "  copy: *d\n"                  /* 6 */
                             "  n: &n 5\n"                   /* 7 */
                             "  m: *n\n"                     /* 8 */
                             "list: [&s hello, *s, *d]\n"    /* 9 */
                             "&k keyname: x\n"               /* 10 */
                             "other: *k\n"                   /* 11 */
                             "re: [&r 1, &r 2, *r]\n";       /* 12 */
  struct load_result r = load_ok (text, "anchors and aliases");
  if (r.doc == NULL)
    return;
  const struct firec_doc *doc = r.doc;
  const cJSON *defaults = firec_doc_at (doc, "/defaults");
  const cJSON *vm1 = firec_doc_at (doc, "/vm1");
  tap_ok (vm1 && cJSON_Compare (defaults, vm1, true), "alias expands to an equal mapping");
  tap_ok (vm1 && vm1 != defaults && vm1->child != defaults->child, "alias expands to a deep copy");
  tap_ok (cJSON_Compare (defaults, firec_doc_at (doc, "/vm2/copy"), true), "nested alias expands");
  tap_ok (cJSON_Compare (defaults, firec_doc_at (doc, "/list/2"), true), "alias in a flow sequence expands");
  check_number (doc, "/vm2/m", 5);
  check_string (doc, "/list/1", "hello");
  check_string (doc, "/other", "keyname");
  check_number (doc, "/re/2", 2);

  /* The copy carries the marks of what it copies; its own key is where the alias is. */
  check_mark (doc, "/defaults", 1, 11, 1, 1);
  check_mark (doc, "/vm1", 1, 11, 4, 1);
  check_mark (doc, "/vm1/cpu", 2, 8, 2, 3);
  check_mark (doc, "/vm1/disks", 3, 10, 3, 3);
  check_mark (doc, "/vm1/disks/1", 3, 20, 3, 20);
  check_mark (doc, "/vm1/disks/1/id", 3, 25, 3, 21);
  check_mark (doc, "/vm2/copy", 1, 11, 6, 3);
  check_mark (doc, "/vm2/copy/disks/0/id", 3, 16, 3, 12);
  check_mark (doc, "/vm2/m", 7, 6, 8, 3);
  check_mark (doc, "/list/1", 9, 8, 9, 8);
  check_mark (doc, "/list/2", 1, 11, 1, 11);
  check_mark (doc, "/other", 10, 1, 11, 1);
  load_result_release (&r);

  /* Aliases of aliases: the copy of a copy keeps the original marks. */
  r = load_ok ("a: &a {x: 1}\nb: &b [*a]\nc: *b\n", "alias of an alias");
  if (r.doc)
    {
      check_number (r.doc, "/c/0/x", 1);
      check_mark (r.doc, "/c/0/x", 1, 11, 1, 8);
      check_mark (r.doc, "/c/0", 1, 4, 1, 4);
    }
  load_result_release (&r);

  expect_diag ("a: *nope\n", "undefined alias", "vm.yaml:1:4: error: /a: found undefined alias *nope");
  expect_diag ("a: *later\nb: &later 1\n", "alias before its anchor",
               "vm.yaml:1:4: error: /a: found undefined alias *later");
  expect_diag ("a: &x [1, *x]\n", "recursive alias",
               "vm.yaml:1:11: error: /a/1: alias *x is inside the node it refers to (recursive aliases are not "
               "supported)");
  expect_diag ("a: &x\n  b:\n    c: *x\n", "recursive alias in a block mapping",
               "vm.yaml:3:8: error: /a/b/c: alias *x is inside the node it refers to (recursive aliases are not "
               "supported)");
}

static double
now_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
test_billion_laughs (void)
{
  struct firec_buf buf = { 0 };
  firec_buf_puts (&buf, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
  for (char c = 'b'; c <= 'i'; c++)
    {
      char p = (char) (c - 1);
      firec_buf_printf (&buf, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, p, p, p, p, p, p, p, p, p);
    }
  double start = now_seconds ();
  struct load_result r = load_n (buf.data, buf.len);
  double elapsed = now_seconds () - start;
  tap_ok (r.rc == -1 && r.doc == NULL, "billion laughs: refused");
  tap_ok (elapsed < 1.0, "billion laughs: refused in %.3f s (under a second)", elapsed);
  /* a..e hold 10, 91, 820, 7381 and 66430 nodes: with the root, 74733. f's first
     alias of e would pass 100000, and is refused before anything is copied. */
  cleanup_free char *got = diag_text (&r, 0);
  tap_ok (r.diags.count == 1
              && strstr (got, "document expands to more than 100000 nodes through aliases "
                              "(billion-laughs protection)")
                     != NULL,
          "billion laughs: node-count message");
  TAP_STR_EQ (got,
              "vm.yaml:6:8: error: /f/0: document expands to more than 100000 nodes through aliases "
              "(billion-laughs protection)",
              "billion laughs: at the alias that crosses the limit");
  load_result_release (&r);
  firec_buf_release (&buf);
}

/* A root sequence of one anchored list of k scalars and m aliases of it holds
   1 + (m + 1) * (k + 1) nodes: k = 368, m = 270 makes exactly 100000. */
static char *
sized_document (size_t extra_scalars, size_t extra_aliases)
{
  struct firec_buf buf = { 0 };
  firec_buf_puts (&buf, "- &a [");
  for (size_t i = 0; i < 368; i++)
    firec_buf_puts (&buf, i ? ",x" : "x");
  firec_buf_puts (&buf, "]\n");
  for (size_t i = 0; i < 270 + extra_aliases; i++)
    firec_buf_puts (&buf, "- *a\n");
  for (size_t i = 0; i < extra_scalars; i++)
    firec_buf_puts (&buf, "- y\n");
  return firec_buf_steal (&buf);
}

static void
test_node_limit (void)
{
  cleanup_free char *exact = sized_document (0, 0);
  struct load_result r = load_ok (exact, "exactly FIREC_YAML_MAX_NODES nodes");
  if (r.doc)
    tap_ok (cJSON_GetArraySize (r.doc->root) == 271, "all 271 items are there");
  load_result_release (&r);

  cleanup_free char *one_scalar_more = sized_document (1, 0);
  expect_diag (one_scalar_more, "one scalar past the limit",
               "vm.yaml:272:3: error: /271: document has more than 100000 nodes");
  cleanup_free char *one_alias_more = sized_document (0, 1);
  expect_diag (one_alias_more, "one alias past the limit",
               "vm.yaml:272:3: error: /271: document expands to more than 100000 nodes through aliases "
               "(billion-laughs protection)");

  struct firec_buf buf = { 0 };
  for (size_t i = 0; i < 100001; i++)
    firec_buf_puts (&buf, "- 1\n");
  expect_diag (buf.data, "flat document past the limit",
               "vm.yaml:100000:3: error: /99999: document has more than 100000 nodes");
  firec_buf_release (&buf);
}

/* ---------------------------------------------------------------- nesting */

static char *
nested_flow (size_t depth)
{
  struct firec_buf buf = { 0 };
  for (size_t i = 0; i < depth; i++)
    firec_buf_puts (&buf, "[");
  for (size_t i = 0; i < depth; i++)
    firec_buf_puts (&buf, "]");
  firec_buf_puts (&buf, "\n");
  return firec_buf_steal (&buf);
}

static void
test_depth (void)
{
  cleanup_free char *ok64 = nested_flow (FIREC_YAML_MAX_DEPTH);
  struct load_result r = load_ok (ok64, "64 nested sequences");
  load_result_release (&r);

  cleanup_free char *too_deep = nested_flow (FIREC_YAML_MAX_DEPTH + 1);
  struct firec_buf want = { 0 };
  firec_buf_puts (&want, "vm.yaml:1:65: error: ");
  for (int i = 0; i < FIREC_YAML_MAX_DEPTH; i++)
    firec_buf_puts (&want, "/0");
  firec_buf_puts (&want, ": nesting deeper than 64 levels");
  expect_diag (too_deep, "65 nested sequences", want.data);
  firec_buf_release (&want);

  /* Block mappings: the 65th starts on line 65. */
  struct firec_buf buf = { 0 };
  for (int i = 0; i < FIREC_YAML_MAX_DEPTH + 1; i++)
    firec_buf_printf (&buf, "%*sk:\n", 2 * i, "");
  firec_buf_printf (&buf, "%*sk: v\n", 2 * (FIREC_YAML_MAX_DEPTH + 1), "");
  firec_buf_puts (&want, "vm.yaml:65:129: error: ");
  for (int i = 0; i < FIREC_YAML_MAX_DEPTH; i++)
    firec_buf_puts (&want, "/k");
  firec_buf_puts (&want, ": nesting deeper than 64 levels");
  expect_diag (buf.data, "65 nested block mappings", want.data);
  firec_buf_release (&want);
  firec_buf_release (&buf);

  /* Aliases cannot build what the text could not. */
  cleanup_free char *deep60 = nested_flow (60);
  cleanup_free char *text = firec_xasprintf ("a: &x %sb: [[[[*x]]]]\n", deep60);
  expect_diag (text, "alias nested too deep",
               "vm.yaml:2:8: error: /b/0/0/0/0: nesting deeper than 64 levels through aliases");
  cleanup_free char *fits = firec_xasprintf ("a: &x %sb: [[*x]]\n", deep60);
  r = load_ok (fits, "alias nested to exactly 64 levels");
  load_result_release (&r);

  /* A huge opening run is refused at level 65, not after reading 4 MiB. */
  size_t n = FIREC_YAML_MAX_BYTES;
  cleanup_free char *brackets = firec_xmalloc (n);
  memset (brackets, '[', n);
  double start = now_seconds ();
  r = load_n (brackets, n);
  double elapsed = now_seconds () - start;
  cleanup_free char *first = diag_text (&r, 0);
  tap_ok (r.rc == -1 && strstr (first, "nesting deeper than 64 levels") != NULL && elapsed < 1.0,
          "4 MiB of [ is refused by the depth limit (%.3f s)", elapsed);
  load_result_release (&r);
}

/* ---------------------------------------------------------------- syntax errors */

static void
test_tabs (void)
{
  static const char tab_message[] = "tab character in indentation; indent with spaces";
  cleanup_free char *w1 = firec_xasprintf ("vm.yaml:2:1: error: %s", tab_message);
  expect_diag ("a:\n\tb: 1\n", "tab indentation", w1);
  cleanup_free char *w2 = firec_xasprintf ("vm.yaml:3:2: error: %s", tab_message);
  expect_diag ("a:\n  b: 1\n \tc: 2\n", "space then tab", w2);
  cleanup_free char *w3 = firec_xasprintf ("vm.yaml:1:3: error: %s", tab_message);
  expect_diag ("- \ta: 1\n", "tab after a sequence indicator", w3);
  cleanup_free char *w4 = firec_xasprintf ("vm.yaml:3:1: error: %s", tab_message);
  expect_diag ("a: 1\nb:\n\t- x\n", "tab before a sequence entry", w4);
  cleanup_free char *w5 = firec_xasprintf ("vm.yaml:2:1: error: %s", tab_message);
  expect_diag ("k: |\n\tfoo\n", "tab in a block scalar's indentation", w5);
  cleanup_free char *w6 = firec_xasprintf ("vm.yaml:2:3: error: %s", tab_message);
  expect_diag ("a: 1\n  \tb: 2\n", "tab in a continuation line", w6);
  cleanup_free char *w7 = firec_xasprintf ("vm.yaml:3:1: error: %s", tab_message);
  expect_diag ("a:\n  - 1\n\t- 2\n", "tab between sequence entries", w7);
}

static void
test_syntax_errors (void)
{
  expect_diag ("a: b: c\n", "mapping value in a plain scalar",
               "vm.yaml:1:5: error: mapping values are not allowed in this context");
  expect_diag ("a: [1, 2\n", "unclosed flow sequence",
               "vm.yaml:2:1: error: did not find expected ',' or ']' (while parsing a flow sequence)");
  expect_diag ("{a: 1\n", "unclosed flow mapping",
               "vm.yaml:2:1: error: did not find expected ',' or '}' (while parsing a flow mapping)");
  expect_diag ("a: \"abc\n", "unterminated quote",
               "vm.yaml:2:1: error: found unexpected end of stream (while scanning a quoted scalar)");
  expect_diag ("@x\n", "reserved indicator",
               "vm.yaml:1:1: error: found character that cannot start any token (while scanning for the next "
               "token)");
  expect_diag ("a: 1\n b: 2\n", "bad indentation",
               "vm.yaml:2:3: error: mapping values are not allowed in this context");
  expect_diag ("a: \"\\q\"\n", "bad escape",
               "vm.yaml:1:5: error: found unknown escape character (while parsing a quoted scalar)");

  /* Errors that do not stop the parser are collected, then a syntax error ends it. */
  const char *text = "a: !x 1\na: 2\nb: [1\n";
  static const char *const want[] = {
    "vm.yaml:1:4: error: /a: tags are not supported: !x",
    "vm.yaml:2:1: error: /a: duplicate key \"a\" (first defined at line 1)",
    "vm.yaml:4:1: error: did not find expected ',' or ']' (while parsing a flow sequence)",
  };
  expect_diags_n (text, strlen (text), "collected errors, then a syntax error", want, 3);

  /* ...but not without end. */
  struct firec_buf buf = { 0 };
  for (int i = 0; i < 150; i++)
    firec_buf_printf (&buf, "k%d: !t %d\n", i, i);
  struct load_result r = load (buf.data);
  tap_ok (r.rc == -1 && r.diags.count == 100, "collected errors stop at 100 (got %zu)", r.diags.count);
  load_result_release (&r);
  firec_buf_release (&buf);
}

static void
test_encoding (void)
{
  expect_diag ("a: \xff\n", "invalid UTF-8", "vm.yaml:1:4: error: invalid leading UTF-8 octet: #FF");
  expect_diag ("a: 1\nbb: caf\xc3(\n", "invalid trailing octet",
               "vm.yaml:2:9: error: invalid trailing UTF-8 octet: #28");
  expect_diag ("a: \"é\x01\"\n", "control character", "vm.yaml:1:6: error: control characters are not allowed: #1");
  expect_diag ("\xff\xfe"
               "a\0:\0 \0"
               "1\0",
               "UTF-16 is not UTF-8", "vm.yaml:1:1: error: invalid leading UTF-8 octet: #FF");
  expect_diag ("a: \"x\\0y\"\n", "NUL in a string",
               "vm.yaml:1:4: error: /a: NUL characters (\\0) are not supported in keys or strings");
  expect_diag ("\"k\\x00\": 1\n", "NUL in a key",
               "vm.yaml:1:1: error: /k: NUL characters (\\0) are not supported in keys or strings");
}

/* ---------------------------------------------------------------- size and files */

static void
test_size_limit (void)
{
  size_t n = FIREC_YAML_MAX_BYTES;
  char *text = firec_xmalloc (n + 1);
  memcpy (text, "a: ", 3);
  memset (text + 3, 'x', n - 4);
  text[n - 1] = '\n';
  text[n] = '\n';
  struct load_result r = load_n (text, n);
  tap_ok (r.rc == 0 && r.doc && strlen (firec_doc_at (r.doc, "/a")->valuestring) == n - 4,
          "a document of exactly 4 MiB loads");
  load_result_release (&r);
  static const char *const want[] = { "vm.yaml: error: file is larger than 4 MiB" };
  expect_diags_n (text, n + 1, "4 MiB + 1 byte", want, 1);
  free (text);
}

static char *
write_temp_file (const char *contents, size_t len)
{
  char *path = firec_xstrdup ("/tmp/test-yaml-load-XXXXXX");
  int fd = mkostemp (path, O_CLOEXEC);
  if (fd < 0)
    {
      free (path);
      return NULL;
    }
  size_t done = 0;
  while (done < len)
    {
      ssize_t w = write (fd, contents + done, len - done);
      if (w <= 0)
        break;
      done += (size_t) w;
    }
  close (fd);
  return path;
}

static void
test_load_file (void)
{
  struct load_result r = { 0 };
  r.rc = firec_yaml_load_file ("/nonexistent/vm.yaml", NULL, &r.doc, &r.diags, &r.err);
  tap_ok (r.rc == -1 && r.doc == NULL && r.err && r.err->kind == FIREC_ERR_INVALID && r.err->errno_value == ENOENT,
          "missing file: FIREC_ERR_INVALID with ENOENT");
  TAP_STR_EQ (r.err ? r.err->message : NULL, "cannot read /nonexistent/vm.yaml: No such file or directory",
              "missing file: error message");
  cleanup_free char *d1 = diag_text (&r, 0);
  TAP_STR_EQ (d1, "/nonexistent/vm.yaml: error: cannot read file: No such file or directory",
              "missing file: diagnostic");
  tap_ok (r.diags.count == 1 && r.diags.items[0].line == 0, "missing file: diagnostic without position");
  load_result_release (&r);

  r.rc = firec_yaml_load_file ("/tmp", "shown.yaml", &r.doc, &r.diags, &r.err);
  TAP_STR_EQ (r.err ? r.err->message : NULL, "cannot read shown.yaml: Is a directory",
              "directory: error message uses the display name");
  cleanup_free char *d2 = diag_text (&r, 0);
  TAP_STR_EQ (d2, "shown.yaml: error: cannot read file: Is a directory", "directory: diagnostic");
  load_result_release (&r);

  static const char good[] = "a: 1\nb:\n  - x\n";
  cleanup_free char *path = write_temp_file (good, sizeof good - 1);
  tap_ok (path != NULL, "temporary file written");
  if (path == NULL)
    return;
  r.rc = firec_yaml_load_file (path, "vm.yaml", &r.doc, &r.diags, &r.err);
  tap_ok (r.rc == 0 && r.doc && r.diags.count == 0, "file loads");
  if (r.doc)
    {
      TAP_STR_EQ (r.doc->filename, "vm.yaml", "file: document named by the display name");
      check_string (r.doc, "/b/0", "x");
      check_mark (r.doc, "/b/0", 3, 5, 3, 5);
    }
  load_result_release (&r);

  /* stdin */
  int saved_stdin = fcntl (STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (saved_stdin >= 0 && fd >= 0 && dup2 (fd, STDIN_FILENO) == STDIN_FILENO)
    {
      r.rc = firec_yaml_load_file ("-", NULL, &r.doc, &r.diags, &r.err);
      tap_ok (r.rc == 0 && r.doc && cJSON_IsNumber (firec_doc_at (r.doc, "/a")), "\"-\" reads stdin");
      TAP_STR_EQ (r.doc ? r.doc->filename : NULL, "-", "stdin document is named \"-\"");
      load_result_release (&r);
      dup2 (saved_stdin, STDIN_FILENO);
    }
  else
    tap_ok (0, "could not redirect stdin");
  if (fd >= 0)
    close (fd);
  if (saved_stdin >= 0)
    close (saved_stdin);

  /* A broken file names its display name in the diagnostics. */
  static const char broken[] = "a: 1\na: 2\n";
  cleanup_free char *broken_path = write_temp_file (broken, sizeof broken - 1);
  if (broken_path)
    {
      r.rc = firec_yaml_load_file (broken_path, "shown.yaml", &r.doc, &r.diags, &r.err);
      cleanup_free char *d3 = diag_text (&r, 0);
      TAP_STR_EQ (d3, "shown.yaml:2:1: error: /a: duplicate key \"a\" (first defined at line 1)",
                  "file: diagnostic names the display name");
      TAP_STR_EQ (r.err ? r.err->message : NULL, "shown.yaml: not a valid manifest", "file: error message");
      load_result_release (&r);
      unlink (broken_path);
    }

  /* Too large: refused while reading, from a file and from a pipe-like stream. */
  size_t n = FIREC_YAML_MAX_BYTES + 1;
  char *big = firec_xmalloc (n);
  memset (big, '#', n);
  cleanup_free char *big_path = write_temp_file (big, n);
  free (big);
  if (big_path)
    {
      r.rc = firec_yaml_load_file (big_path, "big.yaml", &r.doc, &r.diags, &r.err);
      cleanup_free char *d4 = diag_text (&r, 0);
      TAP_STR_EQ (d4, "big.yaml: error: file is larger than 4 MiB", "big file: diagnostic");
      TAP_STR_EQ (r.err ? r.err->message : NULL, "big.yaml: not a valid manifest", "big file: error message");
      load_result_release (&r);

      saved_stdin = fcntl (STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
      fd = open (big_path, O_RDONLY | O_CLOEXEC);
      if (saved_stdin >= 0 && fd >= 0 && dup2 (fd, STDIN_FILENO) == STDIN_FILENO)
        {
          r.rc = firec_yaml_load_file ("-", NULL, &r.doc, &r.diags, &r.err);
          cleanup_free char *d5 = diag_text (&r, 0);
          TAP_STR_EQ (d5, "-: error: file is larger than 4 MiB", "big stdin: diagnostic");
          load_result_release (&r);
          dup2 (saved_stdin, STDIN_FILENO);
        }
      if (fd >= 0)
        close (fd);
      if (saved_stdin >= 0)
        close (saved_stdin);
      unlink (big_path);
    }
  unlink (path);
}

/* Keys are interned for the life of the process (yaml-load.c): they must
   outlive every document that used them, be shared by copies, and past the
   table's bound still load as copies. */
static void
test_interned_keys (void)
{
  struct load_result first = load ("shared_key: 1\nnested: {shared_key: 2}\n");
  const cJSON *first_root = first.doc ? first.doc->root : NULL;
  const cJSON *first_key = cJSON_GetObjectItemCaseSensitive (first_root, "shared_key");
  const char *first_string = first_key ? first_key->string : NULL;
  cJSON *copy = cJSON_Duplicate (first_root, 1);
  load_result_release (&first);
  struct load_result second = load ("other: x\nshared_key: y\n");
  const cJSON *key = cJSON_GetObjectItemCaseSensitive (second.doc ? second.doc->root : NULL, "shared_key");
  tap_ok (key && cJSON_IsString (key) && strcmp (key->valuestring, "y") == 0,
          "a key of a freed document loads again in the next");
  tap_ok (key && key->string == first_string, "and is the same interned copy");
  const cJSON *copied
      = cJSON_GetObjectItemCaseSensitive (cJSON_GetObjectItemCaseSensitive (copy, "nested"), "shared_key");
  tap_ok (copied && cJSON_IsNumber (copied) && copied->valuedouble == 2, "a copy of a freed document keeps its keys");
  cJSON_Delete (copy);
  load_result_release (&second);

  /* More distinct keys than the table holds, and keys too long for it. */
  static const char long_suffix[] = "_a_key_longer_than_the_interned_ones_are_allowed_to_be_at_all";
  struct firec_buf text = { 0 };
  for (int i = 0; i < 3000; i++)
    firec_buf_printf (&text, "k%d%s: %d\n", i, i % 2 ? long_suffix : "", i);
  struct load_result many = load (text.data);
  bool all = many.rc == 0;
  for (int i = 0; i < 3000 && all; i++)
    {
      char name[128];
      snprintf (name, sizeof name, "k%d%s", i, i % 2 ? long_suffix : "");
      const cJSON *v = cJSON_GetObjectItemCaseSensitive (many.doc->root, name);
      all = v && cJSON_IsNumber (v) && v->valuedouble == i;
    }
  tap_ok (all, "3000 distinct keys, half of them long, all load (past the interned ones: copies)");
  load_result_release (&many);
  firec_buf_release (&text);
  struct load_result after = load ("a_key_never_seen_before: 1\n");
  tap_ok (after.rc == 0 && cJSON_GetObjectItemCaseSensitive (after.doc->root, "a_key_never_seen_before"),
          "with the table full, a new key still loads");
  load_result_release (&after);
}

static void
test_null_diags_and_existing_error (void)
{
  struct firec_doc *doc = NULL;
  firec_error_t err = NULL;
  int rc = firec_yaml_load_buffer ("a: [", 4, "vm.yaml", &doc, NULL, &err);
  tap_ok (rc == -1 && doc == NULL && err != NULL, "diags may be NULL");
  firec_error_release (&err);
}

int
main (void)
{
  test_manifest_tree ();
  test_marks_count_characters_and_line_breaks ();
  test_root_kinds ();
  test_scalars ();
  test_number_limits ();
  test_documents ();
  test_keys ();
  test_merge_keys ();
  test_tags ();
  test_aliases ();
  test_billion_laughs ();
  test_node_limit ();
  test_depth ();
  test_tabs ();
  test_syntax_errors ();
  test_encoding ();
  test_size_limit ();
  test_load_file ();
  test_null_diags_and_existing_error ();
  test_interned_keys ();
  return tap_done ();
}
