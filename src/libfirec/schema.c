/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Schema 2020-12 validation for the keyword subset of our own schema.
   Written by hand because Debian packages no C JSON Schema library; the subset is
   listed in known_keywords[] and firec_schema_compile() rejects any other keyword,
   so the schema cannot silently use something this file ignores.

   Messages are written for people editing YAML: they name the expected and the
   actual value, and add a hint where a YAML habit is the likely cause (yes/no for
   booleans, 0755 for integers, a near-miss field name). */
#include "config.h"

#include "schema.h"
#include "util.h"
#include "yaml-load.h"

#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* One distinct pattern, compiled when first needed (see firec_schema_builtin). */
struct shared_regex
{
  regex_t re;
  int state; /* 0: not compiled yet, 1: compiled, -1: does not compile */
};

struct compiled_regex
{
  const char *source; /* points into the schema tree: looked up by address */
  /* NULL for "^" and ordinary characters only ("^x-", "^/", most of the
     schema's patterns), which strncmp matches on literal_prefix bytes; else
     shared by every occurrence of the same pattern text. */
  struct shared_regex *shared;
  size_t literal_prefix;
  bool owns_shared;
};

/* Every keyword a validation looks up, resolved once per schema node at compile
   time: the validator then indexes an array instead of scanning the schema
   object's members with strcmp for each keyword of each node it visits. */
enum keyword
{
  KW_REF,
  KW_TYPE,
  KW_ENUM,
  KW_CONST,
  KW_PROPERTIES,
  KW_PATTERN_PROPERTIES,
  KW_ADDITIONAL_PROPERTIES,
  KW_REQUIRED,
  KW_MIN_PROPERTIES,
  KW_MAX_PROPERTIES,
  KW_PROPERTY_NAMES,
  KW_DEPENDENT_REQUIRED,
  KW_ITEMS,
  KW_MIN_ITEMS,
  KW_MAX_ITEMS,
  KW_UNIQUE_ITEMS,
  KW_MINIMUM,
  KW_EXCLUSIVE_MINIMUM,
  KW_MAXIMUM,
  KW_EXCLUSIVE_MAXIMUM,
  KW_MIN_LENGTH,
  KW_MAX_LENGTH,
  KW_PATTERN,
  KW_ONE_OF,
  KW_ANY_OF,
  KW_ALL_OF,
  KW_NOT,
  KW_DEFAULT,
  KW_X_MESSAGE,
  KW_X_PATH,
  KW_X_SINCE,
  KW_COUNT
};

static const char *const keyword_names[KW_COUNT] = {
  [KW_REF] = "$ref",
  [KW_TYPE] = "type",
  [KW_ENUM] = "enum",
  [KW_CONST] = "const",
  [KW_PROPERTIES] = "properties",
  [KW_PATTERN_PROPERTIES] = "patternProperties",
  [KW_ADDITIONAL_PROPERTIES] = "additionalProperties",
  [KW_REQUIRED] = "required",
  [KW_MIN_PROPERTIES] = "minProperties",
  [KW_MAX_PROPERTIES] = "maxProperties",
  [KW_PROPERTY_NAMES] = "propertyNames",
  [KW_DEPENDENT_REQUIRED] = "dependentRequired",
  [KW_ITEMS] = "items",
  [KW_MIN_ITEMS] = "minItems",
  [KW_MAX_ITEMS] = "maxItems",
  [KW_UNIQUE_ITEMS] = "uniqueItems",
  [KW_MINIMUM] = "minimum",
  [KW_EXCLUSIVE_MINIMUM] = "exclusiveMinimum",
  [KW_MAXIMUM] = "maximum",
  [KW_EXCLUSIVE_MAXIMUM] = "exclusiveMaximum",
  [KW_MIN_LENGTH] = "minLength",
  [KW_MAX_LENGTH] = "maxLength",
  [KW_PATTERN] = "pattern",
  [KW_ONE_OF] = "oneOf",
  [KW_ANY_OF] = "anyOf",
  [KW_ALL_OF] = "allOf",
  [KW_NOT] = "not",
  [KW_DEFAULT] = "default",
  [KW_X_MESSAGE] = "x-firec-message",
  [KW_X_PATH] = "x-firec-path",
  [KW_X_SINCE] = "x-firec-since",
};

/* What compiling a schema does with each keyword it knows. */
enum keyword_role
{
  ROLE_NONE,        /* a value, or an annotation */
  ROLE_SCHEMA_MAP,  /* properties, $defs: name -> schema */
  ROLE_PATTERN_MAP, /* patternProperties: pattern -> schema */
  ROLE_SCHEMA,      /* one subschema */
  ROLE_SCHEMA_LIST, /* oneOf, anyOf, allOf */
  ROLE_PATTERN,
  ROLE_REF,
};

#define KW_NONE KW_COUNT

struct keyword_info
{
  const char *name;
  enum keyword kw; /* KW_NONE: not looked up by the validator */
  enum keyword_role role;
};

/* Every keyword firec_schema_compile accepts, sorted by name for bsearch. */
static const struct keyword_info known_keywords[] = {
  { "$comment", KW_NONE, ROLE_NONE },
  { "$defs", KW_NONE, ROLE_SCHEMA_MAP },
  { "$id", KW_NONE, ROLE_NONE },
  { "$ref", KW_REF, ROLE_REF },
  { "$schema", KW_NONE, ROLE_NONE },
  { "additionalProperties", KW_ADDITIONAL_PROPERTIES, ROLE_SCHEMA },
  { "allOf", KW_ALL_OF, ROLE_SCHEMA_LIST },
  { "anyOf", KW_ANY_OF, ROLE_SCHEMA_LIST },
  { "const", KW_CONST, ROLE_NONE },
  { "default", KW_DEFAULT, ROLE_NONE },
  { "dependentRequired", KW_DEPENDENT_REQUIRED, ROLE_NONE },
  { "deprecated", KW_NONE, ROLE_NONE },
  { "description", KW_NONE, ROLE_NONE },
  { "enum", KW_ENUM, ROLE_NONE },
  { "examples", KW_NONE, ROLE_NONE },
  { "exclusiveMaximum", KW_EXCLUSIVE_MAXIMUM, ROLE_NONE },
  { "exclusiveMinimum", KW_EXCLUSIVE_MINIMUM, ROLE_NONE },
  { "items", KW_ITEMS, ROLE_SCHEMA },
  { "maxItems", KW_MAX_ITEMS, ROLE_NONE },
  { "maxLength", KW_MAX_LENGTH, ROLE_NONE },
  { "maxProperties", KW_MAX_PROPERTIES, ROLE_NONE },
  { "maximum", KW_MAXIMUM, ROLE_NONE },
  { "minItems", KW_MIN_ITEMS, ROLE_NONE },
  { "minLength", KW_MIN_LENGTH, ROLE_NONE },
  { "minProperties", KW_MIN_PROPERTIES, ROLE_NONE },
  { "minimum", KW_MINIMUM, ROLE_NONE },
  { "not", KW_NOT, ROLE_SCHEMA },
  { "oneOf", KW_ONE_OF, ROLE_SCHEMA_LIST },
  { "pattern", KW_PATTERN, ROLE_PATTERN },
  { "patternProperties", KW_PATTERN_PROPERTIES, ROLE_PATTERN_MAP },
  { "properties", KW_PROPERTIES, ROLE_SCHEMA_MAP },
  { "propertyNames", KW_PROPERTY_NAMES, ROLE_SCHEMA },
  { "required", KW_REQUIRED, ROLE_NONE },
  { "title", KW_NONE, ROLE_NONE },
  { "type", KW_TYPE, ROLE_NONE },
  { "uniqueItems", KW_UNIQUE_ITEMS, ROLE_NONE },
  { "x-firec-message", KW_X_MESSAGE, ROLE_NONE },
  { "x-firec-path", KW_X_PATH, ROLE_NONE },
  { "x-firec-since", KW_X_SINCE, ROLE_NONE },
};

static int
compare_keyword (const void *name, const void *info)
{
  return strcmp (name, ((const struct keyword_info *) info)->name);
}

static const struct keyword_info *
keyword_lookup (const char *name)
{
  return bsearch (name, known_keywords, FIREC_N_ELEMENTS (known_keywords), sizeof *known_keywords, compare_keyword);
}

enum type_bit
{
  TYPE_NULL = 1u << 0,
  TYPE_BOOLEAN = 1u << 1,
  TYPE_INTEGER = 1u << 2,
  TYPE_NUMBER = 1u << 3, /* not an integer; "number" admits both */
  TYPE_STRING = 1u << 4,
  TYPE_ARRAY = 1u << 5,
  TYPE_OBJECT = 1u << 6,
};

struct compiled_node
{
  const cJSON *node;
  const cJSON *kw[KW_COUNT];
  /* Annotation keywords (bit 0: x-firec-path, bit 1: x-firec-since) present in
     this schema or anywhere below it, so that a walk looking for one skips the
     subtrees that cannot have it. */
  unsigned annotations_below;
  int visiting;
  const cJSON *target;                         /* with a $ref: the schema the chain of references ends at */
  const struct compiled_node *target_compiled; /* and its compiled node (NULL for a boolean schema) */
  /* The JSON types "type" admits (enum type_bit), 0 without "type": a value's
     type is then one test instead of a string comparison per type named. */
  unsigned types;
};

struct firec_schema
{
  cJSON *root;
  struct compiled_regex *regexes;
  size_t regex_count;
  size_t regex_cap;
  /* Indexed by source address once compiled (slot = position + 1, 0 =
     empty): matching a member name against patternProperties looks each
     pattern up, for nearly every member of a manifest ("^x-"). */
  uint32_t *regex_slots;
  size_t regex_slot_cap;
  bool lazy_regexes; /* patterns compile on first use */
  bool root_forever; /* root was parsed into the arena: never cJSON_Delete it */
  /* The compiled nodes, packed, and an open-addressing index over them keyed by
     node address (slot = position + 1, 0 = empty): a sparse table of whole
     nodes would touch ~40 pages more per process. */
  struct compiled_node *nodes;
  size_t node_count;
  size_t node_alloc;
  uint32_t *slots;
  size_t slot_cap;
  /* The members of every properties (and $defs) map, keyed by map and name:
     an instance member's schema is then one probe, where cJSON would compare
     the name with each property in turn (the spec has 25). */
  struct property_slot *properties;
  size_t property_count;
  size_t property_cap;
};

struct property_slot
{
  const cJSON *map;
  const cJSON *member;
};

/* The table is built from our own schema only; a manifest's names are looked
   up, never inserted, so they cannot lengthen its probe sequences, and the hash
   need not read every byte: the length and the first and last two bytes tell
   the names of one map apart. (FNV-1a over the whole name made a lookup ~135
   instructions, this ~105; a manifest takes ~150.) */
static size_t
property_hash (const cJSON *map, const char *name, size_t cap)
{
  size_t len = strlen (name);
  const unsigned char *s = (const unsigned char *) name;
  uint64_t ends = len == 0 ? 0
                           : (uint64_t) s[0] | (uint64_t) s[len > 1] << 8 | (uint64_t) s[len - 1] << 16
                                 | (uint64_t) s[len - (len > 1) - 1] << 24;
  uint64_t h = (ends | (uint64_t) len << 32) * 0x9e3779b97f4a7c15ULL;
  return (firec_hash_pointer (map, SIZE_MAX) ^ (size_t) (h >> 17)) & (cap - 1);
}

static size_t
property_index (const struct property_slot *slots, size_t cap, const cJSON *map, const char *name)
{
  size_t i = property_hash (map, name, cap);
  while (slots[i].map && !(slots[i].map == map && strcmp (slots[i].member->string, name) == 0))
    i = (i + 1) & (cap - 1);
  return i;
}

static void
index_property (struct firec_schema *s, const cJSON *map, const cJSON *member)
{
  if ((s->property_count + 1) * 2 > s->property_cap)
    {
      size_t cap = s->property_cap ? s->property_cap * 2 : 512;
      struct property_slot *slots = firec_xcalloc (cap, sizeof *slots);
      for (size_t i = 0; i < s->property_cap; i++)
        if (s->properties[i].map)
          slots[property_index (slots, cap, s->properties[i].map, s->properties[i].member->string)] = s->properties[i];
      free (s->properties);
      s->properties = slots;
      s->property_cap = cap;
    }
  size_t i = property_index (s->properties, s->property_cap, map, member->string);
  if (s->properties[i].map == NULL) /* a repeated name: cJSON would find the first */
    {
      s->properties[i] = (struct property_slot){ map, member };
      s->property_count++;
    }
}

/* The member name of a properties map of the schema (every such map was
   indexed when the schema was compiled). */
static const cJSON *
schema_member (const struct firec_schema *s, const cJSON *map, const char *name)
{
  if (map == NULL || s->property_cap == 0)
    return NULL;
  return s->properties[property_index (s->properties, s->property_cap, map, name)].member;
}

static struct compiled_node *
find_compiled (const struct firec_schema *s, const cJSON *node)
{
  if (s->slot_cap == 0)
    return NULL;
  for (size_t i = firec_hash_pointer (node, s->slot_cap); s->slots[i]; i = (i + 1) & (s->slot_cap - 1))
    if (s->nodes[s->slots[i] - 1].node == node)
      return &s->nodes[s->slots[i] - 1];
  return NULL;
}

static unsigned
type_bit_named (const char *name)
{
  static const struct
  {
    const char *name;
    unsigned bits;
  } types[] = {
    { "null", TYPE_NULL },       { "boolean", TYPE_BOOLEAN },
    { "integer", TYPE_INTEGER }, { "number", TYPE_NUMBER | TYPE_INTEGER },
    { "string", TYPE_STRING },   { "array", TYPE_ARRAY },
    { "object", TYPE_OBJECT },
  };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (types); i++)
    if (strcmp (name, types[i].name) == 0)
      return types[i].bits;
  return 0; /* a name no value has */
}

/* The types a "type" keyword admits (a name or a list of names). */
static unsigned
type_bits (const cJSON *type)
{
  if (cJSON_IsString (type))
    return type_bit_named (type->valuestring);
  unsigned bits = 0;
  for (const cJSON *t = type ? type->child : NULL; t; t = t->next)
    if (cJSON_IsString (t))
      bits |= type_bit_named (t->valuestring);
  return bits;
}

static void
index_address (uint32_t *slots, size_t cap, const void *key, uint32_t slot)
{
  size_t i = firec_hash_pointer (key, cap);
  while (slots[i])
    i = (i + 1) & (cap - 1);
  slots[i] = slot;
}

static void
add_compiled (struct firec_schema *s, const cJSON *node)
{
  if (find_compiled (s, node))
    return;
  if ((s->node_count + 1) * 2 > s->slot_cap)
    {
      size_t cap = s->slot_cap ? s->slot_cap * 2 : 512;
      uint32_t *slots = firec_xcalloc (cap, sizeof *slots);
      for (size_t i = 0; i < s->node_count; i++)
        index_address (slots, cap, s->nodes[i].node, (uint32_t) i + 1);
      free (s->slots);
      s->slots = slots;
      s->slot_cap = cap;
    }
  if (s->node_count == s->node_alloc)
    {
      s->node_alloc = s->node_alloc ? s->node_alloc * 2 : 256;
      s->nodes = firec_xrealloc (s->nodes, s->node_alloc * sizeof *s->nodes);
    }
  struct compiled_node *c = &s->nodes[s->node_count];
  *c = (struct compiled_node){ .node = node };
  for (const cJSON *m = node->child; m; m = m->next)
    {
      const struct keyword_info *info = keyword_lookup (m->string);
      if (info && info->kw != KW_NONE)
        c->kw[info->kw] = m;
    }
  s->node_count++;
  index_address (s->slots, s->slot_cap, node, (uint32_t) s->node_count);
}

/* A keyword of a schema node: one hash probe and an index. */
static const cJSON *
kw (const struct firec_schema *s, const cJSON *schema, enum keyword k)
{
  const struct compiled_node *c = find_compiled (s, schema);
  if (c)
    return c->kw[k];
  return cJSON_IsObject (schema) ? cJSON_GetObjectItemCaseSensitive (schema, keyword_names[k]) : NULL;
}

bool
firec_schema_keyword_known (const char *keyword)
{
  /* Our own annotations (x-firec-path, x-firec-message, ...) carry no validation. */
  return keyword_lookup (keyword) != NULL || strncmp (keyword, "x-firec-", 8) == 0;
}

/* ------------------------------------------------------------------ compile */

/* "^" and ordinary characters only: the length of the literal after the "^". */
static size_t
literal_prefix_of (const char *source)
{
  if (source[0] != '^' || source[1] == '\0')
    return 0;
  return source[1 + strcspn (source + 1, ".[]()*+?{}|^$\\")] == '\0' ? strlen (source + 1) : 0;
}

static int
compile_shared (struct shared_regex *r, const char *source, char *msg, size_t msg_size)
{
  int rc = regcomp (&r->re, source, REG_EXTENDED | REG_NOSUB);
  if (rc != 0)
    regerror (rc, &r->re, msg, msg_size);
  r->state = rc == 0 ? 1 : -1;
  return rc == 0 ? 0 : -1;
}

static int
add_regex (struct firec_schema *s, const char *source, const struct firec_path *where, firec_error_t *err)
{
  if (s->regex_count == s->regex_cap)
    {
      s->regex_cap = s->regex_cap ? s->regex_cap * 2 : 32;
      s->regexes = firec_xrealloc (s->regexes, s->regex_cap * sizeof *s->regexes);
    }
  struct compiled_regex *r = &s->regexes[s->regex_count];
  *r = (struct compiled_regex){ .source = source, .literal_prefix = literal_prefix_of (source) };
  /* regcomp is the costliest part of compiling the schema (glibc expands {1,128}
     into 128 copies): each distinct pattern has one regex_t, and literals none. */
  for (size_t i = 0; i < s->regex_count && r->literal_prefix == 0 && r->shared == NULL; i++)
    if (s->regexes[i].shared && strcmp (s->regexes[i].source, source) == 0)
      r->shared = s->regexes[i].shared;
  if (r->literal_prefix == 0 && r->shared == NULL)
    {
      r->shared = firec_xcalloc (1, sizeof *r->shared);
      r->owns_shared = true;
      char msg[256];
      if (!s->lazy_regexes && compile_shared (r->shared, source, msg, sizeof msg) < 0)
        {
          s->regex_count++; /* freed with the schema */
          cleanup_free char *at = firec_path_string (where);
          return firec_error_set (err, 0, "schema %s: pattern %s does not compile: %s", at, source, msg);
        }
    }
  s->regex_count++;
  return 0;
}

static int compile_node (struct firec_schema *s, const cJSON *node, const struct firec_path *where, firec_error_t *err);

__attribute__ ((format (printf, 3, 4))) static int
schema_error (firec_error_t *err, const struct firec_path *where, const char *fmt, ...)
{
  cleanup_free char *at = firec_path_string (where);
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = firec_xvasprintf (fmt, ap);
  va_end (ap);
  return firec_error_set (err, 0, "schema %s: %s", at, msg);
}

static int
compile_schema_map (struct firec_schema *s, const cJSON *map, const struct firec_path *where, bool keys_are_regexes,
                    firec_error_t *err)
{
  if (!cJSON_IsObject (map))
    return schema_error (err, where, "expected an object");
  for (const cJSON *m = map->child; m; m = m->next)
    {
      struct firec_path sub = { where, m->string, 0 };
      if (keys_are_regexes && add_regex (s, m->string, &sub, err) < 0)
        return -1;
      if (!keys_are_regexes)
        index_property (s, map, m);
      if (compile_node (s, m, &sub, err) < 0)
        return -1;
    }
  return 0;
}

static int
compile_schema_list (struct firec_schema *s, const cJSON *list, const struct firec_path *where, firec_error_t *err)
{
  if (!cJSON_IsArray (list) || list->child == NULL)
    return schema_error (err, where, "expected a non-empty array of schemas");
  size_t i = 0;
  for (const cJSON *m = list->child; m; m = m->next, i++)
    {
      struct firec_path sub = { where, NULL, i };
      if (compile_node (s, m, &sub, err) < 0)
        return -1;
    }
  return 0;
}

static int
compile_node (struct firec_schema *s, const cJSON *node, const struct firec_path *where, firec_error_t *err)
{
  if (cJSON_IsBool (node))
    return 0;
  if (!cJSON_IsObject (node))
    return schema_error (err, where, "a schema must be an object or a boolean");
  add_compiled (s, node);
  for (const cJSON *kw = node->child; kw; kw = kw->next)
    {
      const struct keyword_info *info = keyword_lookup (kw->string);
      if (info == NULL && strncmp (kw->string, "x-firec-", 8) != 0)
        return schema_error (err, where, "keyword \"%s\" is not implemented by the validator", kw->string);
      struct firec_path sub = { where, kw->string, 0 };
      int rc = 0;
      switch (info ? info->role : ROLE_NONE)
        {
        case ROLE_NONE:
          break;
        case ROLE_SCHEMA_MAP:
          rc = compile_schema_map (s, kw, &sub, false, err);
          break;
        case ROLE_PATTERN_MAP:
          rc = compile_schema_map (s, kw, &sub, true, err);
          break;
        case ROLE_SCHEMA:
          rc = compile_node (s, kw, &sub, err);
          break;
        case ROLE_SCHEMA_LIST:
          rc = compile_schema_list (s, kw, &sub, err);
          break;
        case ROLE_PATTERN:
          rc = cJSON_IsString (kw) ? add_regex (s, kw->valuestring, &sub, err)
                                   : schema_error (err, &sub, "expected a string");
          break;
        case ROLE_REF:
          if (!cJSON_IsString (kw) || strncmp (kw->valuestring, "#/$defs/", 8) != 0)
            rc = schema_error (err, &sub, "only local references \"#/$defs/NAME\" are supported");
          else if (cJSON_GetObjectItemCaseSensitive (cJSON_GetObjectItemCaseSensitive (s->root, "$defs"),
                                                     kw->valuestring + 8)
                   == NULL)
            rc = firec_error_set (err, 0, "schema: unresolved reference %s", kw->valuestring);
          break;
        }
      if (rc < 0)
        return -1;
    }
  return 0;
}

/* Where a schema's chain of $refs ends; our schema only refers to $defs, and
   refs never chain more than a few levels. */
static const cJSON *
follow_refs (const struct firec_schema *s, const cJSON *schema)
{
  for (int hops = 0; hops < 16; hops++)
    {
      const char *ref = cJSON_GetStringValue (kw (s, schema, KW_REF));
      if (ref == NULL)
        return schema;
      const cJSON *defs = cJSON_GetObjectItemCaseSensitive (s->root, "$defs");
      schema = cJSON_GetObjectItemCaseSensitive (defs, ref + 8);
    }
  return schema;
}

static void
index_regexes (struct firec_schema *s)
{
  size_t cap = 64;
  while (cap < 2 * s->regex_count)
    cap *= 2;
  s->regex_slots = firec_xcalloc (cap, sizeof *s->regex_slots);
  s->regex_slot_cap = cap;
  for (size_t i = 0; i < s->regex_count; i++)
    index_address (s->regex_slots, cap, s->regexes[i].source, (uint32_t) i + 1);
}

void
firec_schema_free (struct firec_schema *schema)
{
  if (schema == NULL)
    return;
  for (size_t i = 0; i < schema->regex_count; i++)
    if (schema->regexes[i].owns_shared)
      {
        if (schema->regexes[i].shared->state == 1)
          regfree (&schema->regexes[i].shared->re);
        free (schema->regexes[i].shared);
      }
  free (schema->regexes);
  free (schema->regex_slots);
  free (schema->nodes);
  free (schema->slots);
  free (schema->properties);
  if (!schema->root_forever)
    cJSON_Delete (schema->root);
  free (schema);
}

/* The built-in schema's tree lives as long as the process: it is allocated from
   chunks that are never freed, where cJSON's one malloc per node and per string
   would be a third of the parsing. */
static struct firec_arena schema_arena = { .chunk_size = 64 * 1024 };

static void *
arena_alloc (size_t size)
{
  return firec_arena_alloc (&schema_arena, size);
}

static void
arena_free (void *p)
{
  (void) p;
}

static int
compile_schema (const char *json_text, bool lazy_regexes, bool forever, struct firec_schema **ret, firec_error_t *err)
{
  struct firec_schema *s = firec_xcalloc (1, sizeof *s);
  s->lazy_regexes = lazy_regexes;
  if (forever)
    {
      cJSON_Hooks arena = { arena_alloc, arena_free };
      cJSON_InitHooks (&arena);
    }
  s->root = cJSON_Parse (json_text);
  s->root_forever = forever;
  if (forever)
    cJSON_InitHooks (NULL);
  if (s->root == NULL)
    {
      firec_schema_free (s);
      return firec_error_set (err, 0, "schema: not valid JSON");
    }
  if (compile_node (s, s->root, NULL, err) < 0)
    {
      firec_schema_free (s);
      return -1;
    }
  index_regexes (s);
  for (size_t i = 0; i < s->node_count; i++)
    {
      s->nodes[i].types = type_bits (s->nodes[i].kw[KW_TYPE]);
      if (s->nodes[i].kw[KW_REF])
        {
          s->nodes[i].target = follow_refs (s, s->nodes[i].node);
          s->nodes[i].target_compiled = find_compiled (s, s->nodes[i].target);
        }
    }
  *ret = s;
  return 0;
}

int
firec_schema_compile (const char *json_text, struct firec_schema **ret, firec_error_t *err)
{
  return compile_schema (json_text, false, false, ret, err);
}

const struct firec_schema *
firec_schema_builtin (firec_error_t *err)
{
  /* Compiled once per process and kept until it exits (freeing it then would
     only cost time). Its patterns compile on first use: a manifest needs a few
     of them, and glibc's regcomp is the dearest part of the compile. The test
     suite compiles this same text strictly (firec_schema_compile). It is the
     schema without its prose, which would make up most of the parsing. */
  static struct firec_schema *builtin;
  if (builtin == NULL && compile_schema (firec_schema_validation_text (), true, true, &builtin, err) < 0)
    {
      firec_error_prefix (err, "built-in schema");
      return NULL;
    }
  return builtin;
}

const cJSON *
firec_schema_root (const struct firec_schema *schema)
{
  return schema->root;
}

static const struct compiled_regex *
find_regex (const struct firec_schema *s, const char *source)
{
  if (s->regex_slot_cap == 0)
    return NULL;
  for (size_t i = firec_hash_pointer (source, s->regex_slot_cap); s->regex_slots[i];
       i = (i + 1) & (s->regex_slot_cap - 1))
    if (s->regexes[s->regex_slots[i] - 1].source == source)
      return &s->regexes[s->regex_slots[i] - 1];
  return NULL;
}

static bool
regex_matches (const struct compiled_regex *r, const char *text)
{
  if (r->literal_prefix)
    return strncmp (text, r->source + 1, r->literal_prefix) == 0;
  char msg[256];
  if (r->shared->state == 0)
    compile_shared (r->shared, r->source, msg, sizeof msg);
  /* Only a lazily compiled schema can hold a pattern that does not compile, and
     the built-in one is compiled strictly by the test suite. */
  return r->shared->state == 1 && regexec (&r->shared->re, text, 0, NULL, 0) == 0;
}

/* ------------------------------------------------------------------ describe values */

static bool
is_integer_value (const cJSON *v)
{
  if (!cJSON_IsNumber (v))
    return false;
  double d = v->valuedouble;
  return isfinite (d) && floor (d) == d && fabs (d) <= 9007199254740992.0;
}

static const char *
instance_type (const cJSON *v)
{
  if (cJSON_IsNull (v))
    return "null";
  if (cJSON_IsBool (v))
    return "boolean";
  if (cJSON_IsNumber (v))
    return is_integer_value (v) ? "integer" : "number";
  if (cJSON_IsString (v))
    return "string";
  if (cJSON_IsArray (v))
    return "array";
  return "object";
}

/* instance_type's answer as a bit: from cJSON's type byte in one switch, since
   every validated node asks. */
static unsigned
instance_type_bit (const cJSON *v)
{
  switch (v ? v->type & 0xFF : cJSON_Invalid)
    {
    case cJSON_NULL:
      return TYPE_NULL;
    case cJSON_False:
    case cJSON_True:
      return TYPE_BOOLEAN;
    case cJSON_Number:
      return is_integer_value (v) ? TYPE_INTEGER : TYPE_NUMBER;
    case cJSON_String:
      return TYPE_STRING;
    case cJSON_Array:
      return TYPE_ARRAY;
    default:
      return TYPE_OBJECT;
    }
}

static bool
type_matches (const char *type, const cJSON *v)
{
  const char *actual = instance_type (v);
  if (strcmp (type, actual) == 0)
    return true;
  return strcmp (type, "number") == 0 && strcmp (actual, "integer") == 0;
}

static void
append_quoted (struct firec_buf *buf, const char *s, size_t max)
{
  firec_buf_puts (buf, "\"");
  size_t n = 0;
  for (const char *p = s; *p; p++, n++)
    {
      if (n == max)
        {
          firec_buf_puts (buf, "...");
          break;
        }
      if (*p == '"' || *p == '\\')
        firec_buf_printf (buf, "\\%c", *p);
      else if (*p == '\n')
        firec_buf_puts (buf, "\\n");
      else if (*p == '\t')
        firec_buf_puts (buf, "\\t");
      else if ((unsigned char) *p < 0x20)
        firec_buf_printf (buf, "\\x%02x", (unsigned char) *p);
      else
        firec_buf_append (buf, p, 1);
    }
  firec_buf_puts (buf, "\"");
}

static void
append_number (struct firec_buf *buf, double d)
{
  if (floor (d) == d && fabs (d) < 1e17)
    firec_buf_printf (buf, "%.0f", d);
  else
    firec_buf_printf (buf, "%.17g", d);
}

/* A short rendering of a value for messages: string "x", integer 5, an object. */
static void
append_value (struct firec_buf *buf, const cJSON *v)
{
  if (cJSON_IsString (v))
    append_quoted (buf, v->valuestring, 60);
  else if (cJSON_IsNumber (v))
    append_number (buf, v->valuedouble);
  else if (cJSON_IsBool (v))
    firec_buf_puts (buf, cJSON_IsTrue (v) ? "true" : "false");
  else if (cJSON_IsNull (v))
    firec_buf_puts (buf, "null");
  else if (cJSON_IsArray (v))
    firec_buf_puts (buf, "an array");
  else
    firec_buf_puts (buf, "an object");
}

static void
append_described_value (struct firec_buf *buf, const cJSON *v)
{
  if (cJSON_IsObject (v) || cJSON_IsArray (v))
    {
      firec_buf_puts (buf, instance_type (v));
      return;
    }
  if (cJSON_IsNull (v))
    {
      firec_buf_puts (buf, "null (an empty value)");
      return;
    }
  firec_buf_printf (buf, "%s ", instance_type (v));
  append_value (buf, v);
}

/* ------------------------------------------------------------------ did you mean */

static size_t
edit_distance (const char *a, const char *b)
{
  size_t la = strlen (a), lb = strlen (b);
  if (la > 64 || lb > 64)
    return SIZE_MAX;
  size_t row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++)
    {
      size_t diag = row[0];
      row[0] = i;
      for (size_t j = 1; j <= lb; j++)
        {
          size_t up = row[j];
          size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
          size_t best = diag + cost;
          if (up + 1 < best)
            best = up + 1;
          if (row[j - 1] + 1 < best)
            best = row[j - 1] + 1;
          row[j] = best;
          diag = up;
        }
    }
  return row[lb];
}

/* The closest candidate within a third of the word's length (at least 1, at most 3
   edits), or one equal ignoring case, '-' and '_'. */
static const char *
closest_match (const char *word, const char *const *candidates, size_t n)
{
  const char *best = NULL;
  size_t best_distance = SIZE_MAX;
  size_t limit = strlen (word) / 3;
  if (limit < 1)
    limit = 1;
  if (limit > 3)
    limit = 3;
  for (size_t i = 0; i < n; i++)
    {
      size_t d = edit_distance (word, candidates[i]);
      if (strcasecmp (word, candidates[i]) == 0)
        d = 0;
      if (d < best_distance)
        {
          best_distance = d;
          best = candidates[i];
        }
    }
  return best_distance <= limit ? best : NULL;
}

/* ------------------------------------------------------------------ validation */

/* Trying the branches of a oneOf/anyOf (or a not, or a property name) only needs
   to know how a branch fares, not what it would say: such "quiet" validations
   format no message and build no pointer. They still record which instance node
   each complaint would be about, because a chosen branch's complaint count
   depends on move_new_diags dropping repeated fields, and within one tree a
   field's pointer names exactly one node. */
struct quiet_list
{
  const cJSON **nodes;
  size_t count;
  size_t cap;
};

static void
quiet_add (struct quiet_list *q, const cJSON *node)
{
  if (q->count == q->cap)
    {
      q->cap = q->cap ? q->cap * 2 : 8;
      q->nodes = firec_xrealloc (q->nodes, q->cap * sizeof *q->nodes);
    }
  q->nodes[q->count++] = node;
}

static void
quiet_release (struct quiet_list *q)
{
  free (q->nodes);
  *q = (struct quiet_list){ 0 };
}

struct validation
{
  const struct firec_schema *schema;
  const struct firec_doc *doc;
  struct firec_diags *diags; /* NULL: quiet, complaints go to *quiet */
  struct quiet_list *quiet;
};

static bool
is_quiet (const struct validation *v)
{
  return v->diags == NULL;
}

/* A complaint about instance, whose place is path. Callers of a quiet validation
   skip building the message's arguments; report then only notes the node. */
__attribute__ ((format (printf, 5, 6))) static void
report (struct validation *v, const cJSON *instance, bool at_key, const struct firec_path *path, const char *fmt, ...)
{
  if (is_quiet (v))
    {
      quiet_add (v->quiet, instance);
      return;
    }
  struct firec_mark value, key;
  firec_doc_get_mark (v->doc, instance, &value, &key);
  struct firec_mark m = at_key && key.line ? key : value;
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *msg = firec_xvasprintf (fmt, ap);
  va_end (ap);
  cleanup_free char *pointer = firec_path_string (path);
  firec_diags_add (v->diags, FIREC_SEV_ERROR, v->doc ? v->doc->filename : "-", m.line, m.column, pointer, "%s", msg);
}

/* A schema node without its $ref: followed once at compile time. */
static const cJSON *
resolve (const struct firec_schema *s, const cJSON *schema)
{
  const struct compiled_node *c = find_compiled (s, schema);
  return c && c->kw[KW_REF] ? c->target : schema;
}

static size_t validate_node (struct validation *v, const cJSON *schema, const cJSON *instance,
                             const struct firec_path *path);

/* Runs a quiet sub-validation; returns its error count, and in *ret the nodes
   its complaints are about. */
static size_t
try_quietly (const struct validation *v, const cJSON *schema, const cJSON *instance, const struct firec_path *path,
             struct quiet_list *ret)
{
  struct validation sub = { v->schema, v->doc, NULL, ret };
  return validate_node (&sub, schema, instance, path);
}

/* Runs a sub-validation into a scratch list, for when its messages are needed. */
static size_t
try_validate (const struct validation *v, const cJSON *schema, const cJSON *instance, const struct firec_path *path,
              struct firec_diags *scratch)
{
  struct validation sub = { v->schema, v->doc, scratch, NULL };
  return validate_node (&sub, schema, instance, path);
}

static void
move_diags (struct firec_diags *to, struct firec_diags *from)
{
  for (size_t i = 0; i < from->count; i++)
    {
      struct firec_diag *d = &from->items[i];
      firec_diags_add (to, d->severity, d->file, d->line, d->column, d->path, "%s", d->message);
    }
  firec_diags_release (from);
}

/* Like move_diags, but drops complaints about a field that already has one: a
   failed alternative often restates what the field's own schema said. */
static size_t
move_new_diags (struct firec_diags *to, struct firec_diags *from)
{
  size_t moved = 0;
  for (size_t i = 0; i < from->count; i++)
    {
      struct firec_diag *d = &from->items[i];
      bool seen = false;
      for (size_t j = 0; j < to->count && !seen; j++)
        seen = strcmp (to->items[j].path, d->path) == 0;
      if (seen)
        continue;
      firec_diags_add (to, d->severity, d->file, d->line, d->column, d->path, "%s", d->message);
      moved++;
    }
  firec_diags_release (from);
  return moved;
}

/* move_diags and move_new_diags for quiet validations. */
static void
quiet_move (struct quiet_list *to, struct quiet_list *from, bool only_new)
{
  for (size_t i = 0; i < from->count; i++)
    {
      bool seen = false;
      for (size_t j = 0; only_new && j < to->count && !seen; j++)
        seen = to->nodes[j] == from->nodes[i];
      if (!seen)
        quiet_add (to, from->nodes[i]);
    }
  quiet_release (from);
}

/* The hint for a string where a boolean or a number is wanted, from how the
   scalar was written: quoted, or through ${...} (see firec_interpolate). */
static const char *
string_hint (const struct firec_doc *doc, bool boolean_wanted, const cJSON *instance)
{
  const char *s = instance->valuestring;
  double number;
  bool spells_it = boolean_wanted ? firec_yaml_core_boolean (s) >= 0 : firec_yaml_core_integer (s, &number);
  unsigned flags = firec_doc_get_flags (doc, instance);
  if (flags & FIREC_NODE_WHOLE_VARIABLE)
    return boolean_wanted ? " (${...} gave neither true nor false)" : " (${...} gave no plain decimal integer)";
  if (flags & FIREC_NODE_INTERPOLATED)
    return spells_it ? " (only an unquoted scalar that is exactly one ${...} takes the field's type)" : NULL;
  /* Unquoted, the loader would have read it as a boolean or a number. */
  if (spells_it)
    return boolean_wanted ? " (write true or false without quotes)" : " (write the number without quotes)";
  return NULL;
}

/* The hint for a value of the wrong type, where a YAML habit is the likely cause. */
static const char *
type_hint (const struct firec_doc *doc, const char *expected, const cJSON *instance)
{
  if (!cJSON_IsString (instance))
    {
      if (strcmp (expected, "integer") == 0 && cJSON_IsNumber (instance))
        return " (a whole number is needed)";
      if (strcmp (expected, "string") == 0 && !cJSON_IsObject (instance) && !cJSON_IsArray (instance)
          && !cJSON_IsNull (instance))
        return " (quote it to make it a string)";
      return "";
    }
  const char *s = instance->valuestring;
  if (strcmp (expected, "boolean") == 0)
    {
      const char *hint = string_hint (doc, true, instance);
      return hint ? hint : " (write true or false)";
    }
  if (strcmp (expected, "integer") == 0 || strcmp (expected, "number") == 0)
    {
      const char *hint = string_hint (doc, false, instance);
      if (hint)
        return hint;
      size_t n = strlen (s);
      if (n > 0 && strspn (s, "+-0123456789abcdefABCDEFxXoO_:.") == n && strpbrk (s, "0123456789"))
        return " (integers are plain decimal: no leading zeros, 0x, 0o, _ or :)";
    }
  return "";
}

static size_t
check_type (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  const cJSON *type = c->kw[KW_TYPE];
  if (type == NULL || (c->types & instance_type_bit (instance)))
    return 0;
  if (is_quiet (v))
    {
      report (v, instance, false, path, "-");
      return 1;
    }
  struct firec_buf expected = { 0 };
  const char *single = NULL;
  if (cJSON_IsString (type))
    {
      single = type->valuestring;
      firec_buf_puts (&expected, single);
    }
  else
    {
      int n = cJSON_GetArraySize (type), i = 0;
      for (const cJSON *t = type->child; t; t = t->next, i++)
        firec_buf_printf (&expected, "%s%s", i == 0 ? "" : i == n - 1 ? " or " : ", ", t->valuestring);
    }
  struct firec_buf got = { 0 };
  append_described_value (&got, instance);
  report (v, instance, false, path, "expected %s, got %s%s", expected.data, got.data,
          single ? type_hint (v->doc, single, instance) : "");
  firec_buf_release (&expected);
  firec_buf_release (&got);
  return 1;
}

static size_t
check_enum (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  const cJSON *values = c->kw[KW_ENUM];
  if (values == NULL)
    return 0;
  for (const cJSON *e = values->child; e; e = e->next)
    if (cJSON_Compare (e, instance, true))
      return 0;
  if (is_quiet (v))
    {
      report (v, instance, false, path, "-");
      return 1;
    }
  struct firec_buf allowed = { 0 };
  const char *names[64] = { 0 };
  size_t n = 0;
  for (const cJSON *e = values->child; e; e = e->next)
    {
      if (allowed.len)
        firec_buf_puts (&allowed, ", ");
      append_value (&allowed, e);
      if (cJSON_IsString (e) && n < FIREC_N_ELEMENTS (names))
        names[n++] = e->valuestring;
    }
  struct firec_buf got = { 0 };
  append_value (&got, instance);
  const char *near = cJSON_IsString (instance) ? closest_match (instance->valuestring, names, n) : NULL;
  /* A string spelling a number the enum holds: "2" for 2. */
  const char *number_hint = NULL;
  double d;
  if (cJSON_IsString (instance) && firec_yaml_core_integer (instance->valuestring, &d))
    for (const cJSON *e = values->child; e && number_hint == NULL; e = e->next)
      if (cJSON_IsNumber (e) && e->valuedouble == d)
        number_hint = string_hint (v->doc, false, instance);
  if (number_hint && number_hint[0])
    report (v, instance, false, path, "%s is not one of %s%s", got.data, allowed.data, number_hint);
  else if (near)
    report (v, instance, false, path, "%s is not one of %s (did you mean \"%s\"?)", got.data, allowed.data, near);
  else
    report (v, instance, false, path, "%s is not one of %s", got.data, allowed.data);
  firec_buf_release (&allowed);
  firec_buf_release (&got);
  return 1;
}

static size_t
check_const (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  const cJSON *want_value = c->kw[KW_CONST];
  if (want_value == NULL || cJSON_Compare (want_value, instance, true))
    return 0;
  if (is_quiet (v))
    {
      report (v, instance, false, path, "-");
      return 1;
    }
  struct firec_buf want = { 0 }, got = { 0 };
  append_value (&want, want_value);
  append_value (&got, instance);
  report (v, instance, false, path, "expected %s, got %s", want.data, got.data);
  firec_buf_release (&want);
  firec_buf_release (&got);
  return 1;
}

static size_t
check_number (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  if (!cJSON_IsNumber (instance))
    return 0;
  double d = instance->valuedouble;
  static const struct
  {
    enum keyword keyword;
    bool exclusive;
    bool lower;
  } bounds[] = {
    { KW_MINIMUM, false, true },
    { KW_EXCLUSIVE_MINIMUM, true, true },
    { KW_MAXIMUM, false, false },
    { KW_EXCLUSIVE_MAXIMUM, true, false },
  };
  size_t errors = 0;
  for (size_t i = 0; i < FIREC_N_ELEMENTS (bounds); i++)
    {
      const cJSON *b = c->kw[bounds[i].keyword];
      if (!cJSON_IsNumber (b))
        continue;
      double limit = b->valuedouble;
      bool ok = bounds[i].lower ? (bounds[i].exclusive ? d > limit : d >= limit)
                                : (bounds[i].exclusive ? d < limit : d <= limit);
      if (ok)
        continue;
      errors++;
      if (is_quiet (v))
        {
          report (v, instance, false, path, "-");
          continue;
        }
      struct firec_buf msg = { 0 };
      append_number (&msg, d);
      firec_buf_printf (&msg, " is %s ", bounds[i].lower ? "less than" : "greater than");
      if (!bounds[i].exclusive)
        firec_buf_printf (&msg, "the %s ", bounds[i].lower ? "minimum" : "maximum");
      append_number (&msg, limit);
      report (v, instance, false, path, "%s", msg.data);
      firec_buf_release (&msg);
    }
  return errors;
}

/* The instance as messages quote it, built the first time a message needs it. */
static const char *
quoted_instance (struct firec_buf *got, const cJSON *instance)
{
  if (got->data == NULL)
    append_value (got, instance);
  return got->data;
}

static size_t
check_string (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  if (!cJSON_IsString (instance))
    return 0;
  size_t errors = 0;
  const cJSON *min = c->kw[KW_MIN_LENGTH];
  const cJSON *max = c->kw[KW_MAX_LENGTH];
  size_t len = min || max ? firec_utf8_length (instance->valuestring) : 0;
  struct firec_buf got = { 0 };
  bool quiet = is_quiet (v);
  if (cJSON_IsNumber (min) && len < (size_t) min->valuedouble)
    {
      if (quiet || min->valuedouble == 1)
        report (v, instance, false, path, "must not be empty");
      else
        report (v, instance, false, path, "%s is shorter than %.0f characters", quoted_instance (&got, instance),
                min->valuedouble);
      errors++;
    }
  if (cJSON_IsNumber (max) && len > (size_t) max->valuedouble)
    {
      if (quiet)
        report (v, instance, false, path, "-");
      else
        report (v, instance, false, path, "%s is longer than %.0f characters", quoted_instance (&got, instance),
                max->valuedouble);
      errors++;
    }
  const char *pattern = cJSON_GetStringValue (c->kw[KW_PATTERN]);
  if (pattern && errors == 0)
    {
      const struct compiled_regex *re = find_regex (v->schema, pattern);
      if (re && !regex_matches (re, instance->valuestring))
        {
          const char *custom = cJSON_GetStringValue (c->kw[KW_X_MESSAGE]);
          if (quiet)
            report (v, instance, false, path, "-");
          else if (custom)
            report (v, instance, false, path, "%s %s", quoted_instance (&got, instance), custom);
          else
            report (v, instance, false, path, "%s does not match the pattern %s", quoted_instance (&got, instance),
                    pattern);
          errors++;
        }
    }
  firec_buf_release (&got);
  return errors;
}

static size_t
check_array (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  if (!cJSON_IsArray (instance))
    return 0;
  size_t errors = 0;
  size_t n = (size_t) cJSON_GetArraySize (instance);
  const cJSON *min = c->kw[KW_MIN_ITEMS];
  const cJSON *max = c->kw[KW_MAX_ITEMS];
  if (cJSON_IsNumber (min) && n < (size_t) min->valuedouble)
    {
      report (v, instance, false, path, "expected at least %.0f item%s, got %zu", min->valuedouble,
              min->valuedouble == 1 ? "" : "s", n);
      errors++;
    }
  if (cJSON_IsNumber (max) && n > (size_t) max->valuedouble)
    {
      report (v, instance, false, path, "expected at most %.0f item%s, got %zu", max->valuedouble,
              max->valuedouble == 1 ? "" : "s", n);
      errors++;
    }
  const cJSON *items = c->kw[KW_ITEMS];
  size_t i = 0;
  for (const cJSON *item = instance->child; item && items; item = item->next, i++)
    {
      struct firec_path sub = { path, NULL, i };
      errors += validate_node (v, items, item, &sub);
    }
  if (cJSON_IsTrue (c->kw[KW_UNIQUE_ITEMS]))
    {
      i = 0;
      for (const cJSON *a = instance->child; a; a = a->next, i++)
        {
          size_t j = 0;
          for (const cJSON *b = instance->child; b != a; b = b->next, j++)
            if (cJSON_Compare (a, b, true))
              {
                struct firec_path sub = { path, NULL, i };
                report (v, a, false, &sub, "duplicate item (the same as item %zu)", j);
                errors++;
                break;
              }
        }
    }
  return errors;
}

static bool
matches_pattern_property (struct validation *v, const cJSON *pattern_properties, const char *name,
                          const cJSON **schema_out)
{
  for (const cJSON *pp = pattern_properties ? pattern_properties->child : NULL; pp; pp = pp->next)
    {
      const struct compiled_regex *re = find_regex (v->schema, pp->string);
      if (re && regex_matches (re, name))
        {
          *schema_out = pp;
          return true;
        }
    }
  return false;
}

static void
report_unknown_field (struct validation *v, const cJSON *properties, const cJSON *member, const struct firec_path *path)
{
  if (is_quiet (v))
    {
      report (v, member, true, path, "-");
      return;
    }
  const char *names[128] = { 0 };
  size_t n = 0;
  for (const cJSON *p = properties ? properties->child : NULL; p && n < FIREC_N_ELEMENTS (names); p = p->next)
    names[n++] = p->string;
  const char *near = closest_match (member->string, names, n);
  struct firec_buf name = { 0 };
  append_quoted (&name, member->string, 60);
  if (near)
    report (v, member, true, path, "unknown field %s (did you mean \"%s\"?)", name.data, near);
  else if (n == 0)
    report (v, member, true, path, "unknown field %s (only x-* fields are allowed here)", name.data);
  else
    {
      struct firec_buf list = { 0 };
      for (size_t i = 0; i < n; i++)
        firec_buf_printf (&list, "%s%s", i ? ", " : "", names[i]);
      report (v, member, true, path, "unknown field %s (expected one of: %s)", name.data, list.data);
      firec_buf_release (&list);
    }
  firec_buf_release (&name);
}

/* propertyNames: the name is validated as a string instance at the member. */
static size_t
check_property_name (struct validation *v, const cJSON *property_names, const cJSON *member,
                     const struct firec_path *sub)
{
  cJSON *name = cJSON_CreateString (member->string);
  struct quiet_list quiet = { 0 };
  size_t bad = try_quietly (v, property_names, name, sub, &quiet);
  quiet_release (&quiet);
  if (bad && is_quiet (v))
    report (v, member, true, sub, "-");
  else if (bad)
    {
      struct firec_diags scratch = { 0 };
      try_validate (v, property_names, name, sub, &scratch);
      struct firec_buf quoted = { 0 };
      append_quoted (&quoted, member->string, 60);
      report (v, member, true, sub, "invalid field name %s: %s", quoted.data, scratch.items[0].message);
      firec_buf_release (&quoted);
      firec_diags_release (&scratch);
    }
  cJSON_Delete (name);
  return bad ? 1 : 0;
}

static size_t
check_object (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  if (!cJSON_IsObject (instance))
    return 0;
  size_t errors = 0;
  const cJSON *properties = c->kw[KW_PROPERTIES];
  const cJSON *pattern_properties = c->kw[KW_PATTERN_PROPERTIES];
  const cJSON *additional = c->kw[KW_ADDITIONAL_PROPERTIES];
  const cJSON *property_names = c->kw[KW_PROPERTY_NAMES];

  size_t count = 0;
  for (const cJSON *m = instance->child; m; m = m->next)
    {
      count++;
      struct firec_path sub = { path, m->string, 0 };
      if (property_names)
        errors += check_property_name (v, property_names, m, &sub);
      const cJSON *sub_schema = schema_member (v->schema, properties, m->string);
      bool known = sub_schema != NULL;
      if (sub_schema)
        errors += validate_node (v, sub_schema, m, &sub);
      const cJSON *pattern_schema;
      if (matches_pattern_property (v, pattern_properties, m->string, &pattern_schema))
        {
          known = true;
          errors += validate_node (v, pattern_schema, m, &sub);
        }
      if (!known && additional)
        {
          if (cJSON_IsFalse (additional))
            {
              report_unknown_field (v, properties, m, &sub);
              errors++;
            }
          else
            errors += validate_node (v, additional, m, &sub);
        }
    }

  const cJSON *required = c->kw[KW_REQUIRED];
  for (const cJSON *r = required ? required->child : NULL; r; r = r->next)
    if (firec_json_member (instance, r->valuestring) == NULL)
      {
        report (v, instance, false, path, "missing required field \"%s\"", r->valuestring);
        errors++;
      }

  const cJSON *dependent = c->kw[KW_DEPENDENT_REQUIRED];
  for (const cJSON *d = dependent ? dependent->child : NULL; d; d = d->next)
    {
      const cJSON *present = firec_json_member (instance, d->string);
      if (present == NULL)
        continue;
      for (const cJSON *r = d->child; r; r = r->next)
        if (firec_json_member (instance, r->valuestring) == NULL)
          {
            struct firec_path sub = { path, d->string, 0 };
            report (v, present, true, &sub, "\"%s\" requires \"%s\"", d->string, r->valuestring);
            errors++;
          }
    }

  const cJSON *min = c->kw[KW_MIN_PROPERTIES];
  const cJSON *max = c->kw[KW_MAX_PROPERTIES];
  if (cJSON_IsNumber (min) && cJSON_IsNumber (max) && min->valuedouble == max->valuedouble
      && count != (size_t) max->valuedouble)
    {
      report (v, instance, false, path, "expected exactly %.0f field%s, got %zu", max->valuedouble,
              max->valuedouble == 1 ? "" : "s", count);
      errors++;
    }
  else
    {
      if (cJSON_IsNumber (min) && count < (size_t) min->valuedouble)
        {
          report (v, instance, false, path, "expected at least %.0f field%s, got %zu", min->valuedouble,
                  min->valuedouble == 1 ? "" : "s", count);
          errors++;
        }
      if (cJSON_IsNumber (max) && count > (size_t) max->valuedouble)
        {
          report (v, instance, false, path, "expected at most %.0f field%s, got %zu", max->valuedouble,
                  max->valuedouble == 1 ? "" : "s", count);
          errors++;
        }
    }
  return errors;
}

/* Branches made only of "required" (the "exactly one of a, b" idiom) get a message
   naming the fields instead of each branch's complaint. */
static bool
branches_are_required_only (const cJSON *branches, struct firec_buf *names)
{
  for (const cJSON *b = branches->child; b; b = b->next)
    {
      const cJSON *req = cJSON_GetObjectItemCaseSensitive (b, "required");
      if (!cJSON_IsObject (b) || req == NULL)
        return false;
      for (const cJSON *k = b->child; k; k = k->next)
        if (strcmp (k->string, "required") != 0 && strcmp (k->string, "$comment") != 0
            && strcmp (k->string, "description") != 0 && strcmp (k->string, "title") != 0)
          return false;
      for (const cJSON *r = req->child; r; r = r->next)
        firec_buf_printf (names, "%s\"%s\"", names->len ? ", " : "", r->valuestring);
    }
  return true;
}

/* The JSON types a branch accepts, or NULL when it does not say. */
static const cJSON *
branch_type (const struct firec_schema *s, const cJSON *branch)
{
  branch = resolve (s, branch);
  return kw (s, branch, KW_TYPE);
}

/* A branch whose "type" admits the instance's: its complaints are about the
   instance, not about having chosen the wrong kind of value. */
static bool
branch_takes_type (const struct firec_schema *s, const cJSON *branch, const cJSON *instance)
{
  const struct compiled_node *c = find_compiled (s, branch);
  if (c && c->kw[KW_REF])
    c = c->target_compiled;
  return c && c->kw[KW_TYPE] && (c->types & instance_type_bit (instance));
}

static size_t
check_alternatives (struct validation *v, const struct compiled_node *c, const cJSON *instance,
                    const struct firec_path *path, enum keyword keyword)
{
  const cJSON *branches = c->kw[keyword];
  if (branches == NULL)
    return 0;
  bool exactly_one = keyword == KW_ONE_OF;
  size_t valid = 0;
  /* Every branch is tried quietly. The complaints of the last branch that takes
     the instance's type ("typed") or of the first with the fewest errors
     ("best") may be reported: the chosen one is validated again for its
     messages. A typed branch that is also the best leaves "best" with none. */
  size_t best_errors = SIZE_MAX;
  const cJSON *best = NULL, *typed = NULL;
  struct quiet_list best_quiet = { 0 }, typed_quiet = { 0 };
  size_t typed_candidates = 0;
  for (const cJSON *b = branches->child; b; b = b->next)
    {
      struct quiet_list scratch = { 0 };
      size_t e = try_quietly (v, b, instance, path, &scratch);
      if (e == 0)
        valid++;
      bool is_typed = branch_takes_type (v->schema, b, instance);
      if (is_typed)
        {
          typed_candidates++;
          typed = b;
          quiet_release (&typed_quiet);
          typed_quiet = scratch;
          scratch = (struct quiet_list){ 0 };
        }
      if (e > 0 && e < best_errors)
        {
          best_errors = e;
          best = is_typed ? NULL : b;
          quiet_release (&best_quiet);
          best_quiet = scratch;
          scratch = (struct quiet_list){ 0 };
        }
      quiet_release (&scratch);
    }
  size_t errors = 0;
  struct firec_buf names = { 0 };
  if (valid == 0 || (exactly_one && valid > 1))
    {
      if (branches_are_required_only (branches, &names))
        {
          if (valid == 0)
            report (v, instance, false, path, "expected %s of %s", exactly_one ? "exactly one" : "at least one",
                    names.data);
          else
            report (v, instance, false, path, "%s are mutually exclusive: give exactly one", names.data);
          errors = 1;
        }
      else if (valid > 1)
        {
          report (v, instance, false, path, "matches more than one of the alternatives allowed here");
          errors = 1;
        }
      else if (typed_candidates == 1)
        {
          /* The branches differ by type and exactly one takes this type: its
             complaints are the useful ones. */
          if (is_quiet (v))
            {
              errors = typed_quiet.count;
              quiet_move (v->quiet, &typed_quiet, false);
            }
          else
            {
              struct firec_diags scratch = { 0 };
              try_validate (v, typed, instance, path, &scratch);
              errors = scratch.count;
              move_diags (v->diags, &scratch);
            }
        }
      else if (typed_candidates == 0 && branch_type (v->schema, branches->child) != NULL)
        {
          if (is_quiet (v))
            report (v, instance, false, path, "-");
          else
            {
              struct firec_buf expected = { 0 }, got = { 0 };
              for (const cJSON *b = branches->child; b; b = b->next)
                {
                  const cJSON *t = branch_type (v->schema, b);
                  const char *text = t && cJSON_IsString (t) ? t->valuestring : "another type";
                  if (strstr (expected.data ? expected.data : "", text) == NULL)
                    firec_buf_printf (&expected, "%s%s", expected.len ? " or " : "", text);
                }
              append_described_value (&got, instance);
              report (v, instance, false, path, "expected %s, got %s", expected.data, got.data);
              firec_buf_release (&expected);
              firec_buf_release (&got);
            }
          errors = 1;
        }
      else if (best == NULL)
        {
          errors = 1;
          report (v, instance, false, path, "does not match any of the alternatives allowed here");
        }
      else if (is_quiet (v))
        {
          errors = best_quiet.count ? best_quiet.count : 1;
          if (best_quiet.count)
            quiet_move (v->quiet, &best_quiet, true);
          else
            report (v, instance, false, path, "-");
        }
      else
        {
          struct firec_diags scratch = { 0 };
          try_validate (v, best, instance, path, &scratch);
          errors = scratch.count ? scratch.count : 1;
          if (scratch.count)
            move_new_diags (v->diags, &scratch);
          else
            report (v, instance, false, path, "does not match any of the alternatives allowed here");
        }
    }
  firec_buf_release (&names);
  quiet_release (&best_quiet);
  quiet_release (&typed_quiet);
  return errors;
}

static size_t
check_all_of (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  const cJSON *branches = c->kw[KW_ALL_OF];
  size_t errors = 0;
  for (const cJSON *b = branches ? branches->child : NULL; b; b = b->next)
    errors += validate_node (v, b, instance, path);
  return errors;
}

static size_t
check_not (struct validation *v, const struct compiled_node *c, const cJSON *instance, const struct firec_path *path)
{
  const cJSON *not_schema = c->kw[KW_NOT];
  if (not_schema == NULL)
    return 0;
  struct quiet_list scratch = { 0 };
  size_t e = try_quietly (v, not_schema, instance, path, &scratch);
  quiet_release (&scratch);
  if (e > 0)
    return 0;
  const char *custom = cJSON_GetStringValue (c->kw[KW_X_MESSAGE]);
  const cJSON *req = cJSON_GetObjectItemCaseSensitive (resolve (v->schema, not_schema), "required");
  if (is_quiet (v))
    report (v, instance, false, path, "-");
  else if (custom)
    report (v, instance, false, path, "%s", custom);
  else if (req && cJSON_GetArraySize (resolve (v->schema, not_schema)) == 1)
    {
      struct firec_buf names = { 0 };
      int n = cJSON_GetArraySize (req), i = 0;
      for (const cJSON *r = req->child; r; r = r->next, i++)
        firec_buf_printf (&names, "%s\"%s\"", i == 0 ? "" : i == n - 1 ? " and " : ", ", r->valuestring);
      report (v, instance, false, path, "%s cannot be used together", names.data);
      firec_buf_release (&names);
    }
  else
    report (v, instance, false, path, "is not allowed here");
  return 1;
}

static size_t
validate_node (struct validation *v, const cJSON *schema, const cJSON *instance, const struct firec_path *path)
{
  /* One probe: a $ref's target was compiled with it. */
  const struct compiled_node *c = find_compiled (v->schema, schema);
  if (c && c->kw[KW_REF])
    {
      schema = c->target;
      c = c->target_compiled;
    }
  if (schema == NULL || cJSON_IsTrue (schema))
    return 0;
  if (cJSON_IsFalse (schema))
    {
      report (v, instance, true, path, "is not allowed here");
      return 1;
    }
  if (c == NULL)
    return 0; /* not reached: compilation saw every schema object reachable from the root */
  /* A value of the wrong type makes every other complaint about it noise. */
  if (check_type (v, c, instance, path))
    return 1;
  size_t errors = check_const (v, c, instance, path);
  errors += check_enum (v, c, instance, path);
  errors += check_number (v, c, instance, path);
  errors += check_string (v, c, instance, path);
  errors += check_array (v, c, instance, path);
  errors += check_object (v, c, instance, path);
  errors += check_alternatives (v, c, instance, path, KW_ONE_OF);
  errors += check_alternatives (v, c, instance, path, KW_ANY_OF);
  errors += check_all_of (v, c, instance, path);
  errors += check_not (v, c, instance, path);
  return errors;
}

size_t
firec_schema_validate (const struct firec_schema *schema, const struct firec_doc *doc, struct firec_diags *diags)
{
  struct validation v = { schema, doc, diags, NULL };
  return validate_node (&v, schema->root, doc->root, NULL);
}

/* ------------------------------------------------------------------ annotations */

struct annotation_walk
{
  const struct firec_schema *schema;
  enum keyword keyword;
  unsigned bit;
  firec_schema_annotation_fn fn;
  void *data;
};

static unsigned
annotation_bit (enum keyword k)
{
  return k == KW_X_PATH ? 1u : k == KW_X_SINCE ? 2u : 0u;
}

static unsigned annotations_below (const struct firec_schema *s, const cJSON *schema);

/* Which annotations a schema or its subschemas carry (memoized per node, $ref
   followed; a node being computed counts as having none, which only recursive
   schemas could observe). */
static unsigned
annotations_below_node (const struct firec_schema *s, struct compiled_node *c)
{
  if (c->visiting == 2)
    return c->annotations_below;
  if (c->visiting == 1)
    return 0;
  c->visiting = 1;
  unsigned bits = (c->kw[KW_X_PATH] ? 1u : 0u) | (c->kw[KW_X_SINCE] ? 2u : 0u);
  if (c->kw[KW_REF])
    bits |= annotations_below (s, c->target);
  static const enum keyword maps[] = { KW_PROPERTIES, KW_PATTERN_PROPERTIES };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (maps); i++)
    for (const cJSON *m = c->kw[maps[i]] ? c->kw[maps[i]]->child : NULL; m; m = m->next)
      bits |= annotations_below (s, m);
  static const enum keyword lists[] = { KW_ONE_OF, KW_ANY_OF, KW_ALL_OF };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (lists); i++)
    for (const cJSON *m = c->kw[lists[i]] ? c->kw[lists[i]]->child : NULL; m; m = m->next)
      bits |= annotations_below (s, m);
  static const enum keyword single[] = { KW_ITEMS, KW_ADDITIONAL_PROPERTIES };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (single); i++)
    if (c->kw[single[i]])
      bits |= annotations_below (s, c->kw[single[i]]);
  c->annotations_below = bits;
  c->visiting = 2;
  return bits;
}

static unsigned
annotations_below (const struct firec_schema *s, const cJSON *schema)
{
  struct compiled_node *c = find_compiled (s, schema);
  return c ? annotations_below_node (s, c) : 0;
}

static void walk_annotations (struct annotation_walk *w, const cJSON *schema, const cJSON *instance,
                              const struct firec_path *path);

/* The branch of a oneOf/anyOf that the (valid) instance took. */
static const cJSON *
chosen_branch (const struct firec_schema *s, const cJSON *branches, const cJSON *instance)
{
  struct validation v = { s, NULL, NULL, NULL };
  for (const cJSON *b = branches ? branches->child : NULL; b; b = b->next)
    {
      struct quiet_list scratch = { 0 };
      size_t errors = try_quietly (&v, b, instance, NULL, &scratch);
      quiet_release (&scratch);
      if (errors == 0)
        return b;
    }
  return NULL;
}

static void
walk_annotations (struct annotation_walk *w, const cJSON *schema, const cJSON *instance, const struct firec_path *path)
{
  /* Nothing to find below: skip the subtree (most of a manifest). */
  struct compiled_node *c = find_compiled (w->schema, schema);
  if (c == NULL || !(annotations_below_node (w->schema, c) & w->bit))
    return;
  /* Annotations may sit beside a $ref (2020-12 allows siblings): look first.
     Every keyword below is read from the compiled nodes, without a probe. */
  const struct compiled_node *target = c->kw[KW_REF] ? c->target_compiled : c;
  if (target == NULL)
    return;
  const cJSON *value = c->kw[w->keyword] ? c->kw[w->keyword] : target->kw[w->keyword];
  if (value)
    {
      cleanup_free char *pointer = firec_path_string (path);
      w->fn (instance, value, pointer, w->data);
    }
  static const enum keyword alternatives[] = { KW_ONE_OF, KW_ANY_OF };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (alternatives); i++)
    {
      const cJSON *branches = target->kw[alternatives[i]];
      const cJSON *b = branches ? chosen_branch (w->schema, branches, instance) : NULL;
      if (b)
        walk_annotations (w, b, instance, path);
    }
  const cJSON *all = target->kw[KW_ALL_OF];
  for (const cJSON *b = all ? all->child : NULL; b; b = b->next)
    walk_annotations (w, b, instance, path);
  if (cJSON_IsObject (instance))
    {
      const cJSON *properties = target->kw[KW_PROPERTIES];
      const cJSON *additional = target->kw[KW_ADDITIONAL_PROPERTIES];
      for (const cJSON *m = instance->child; m; m = m->next)
        {
          const cJSON *p = schema_member (w->schema, properties, m->string);
          const cJSON *sub_schema = p ? p : cJSON_IsObject (additional) ? additional : NULL;
          if (sub_schema == NULL)
            continue;
          struct firec_path sub = { path, m->string, 0 };
          walk_annotations (w, sub_schema, m, &sub);
        }
    }
  else if (cJSON_IsArray (instance))
    {
      const cJSON *items = target->kw[KW_ITEMS];
      if (items == NULL || !(annotations_below (w->schema, items) & w->bit))
        return;
      size_t i = 0;
      for (const cJSON *m = instance->child; m; m = m->next, i++)
        {
          struct firec_path sub = { path, NULL, i };
          walk_annotations (w, items, m, &sub);
        }
    }
}

void
firec_schema_walk_annotation (const struct firec_schema *schema, const cJSON *instance, const char *keyword,
                              firec_schema_annotation_fn fn, void *data)
{
  enum keyword k = strcmp (keyword, "x-firec-path") == 0 ? KW_X_PATH : KW_X_SINCE;
  struct annotation_walk w = { schema, k, annotation_bit (k), fn, data };
  walk_annotations (&w, schema->root, instance, NULL);
}

const cJSON *
firec_schema_at (const struct firec_schema *schema, const char *instance_pointer)
{
  /* Follows properties/items from the root along an instance pointer such as
     /spec/jailer; enough for our sections, which are plain properties. */
  const cJSON *node = resolve (schema, schema->root);
  const char *p = instance_pointer;
  while (node && *p == '/')
    {
      p++;
      size_t n = strcspn (p, "/");
      /* On the stack unless long: resolve asks for each section with defaults. */
      char small[64];
      cleanup_free char *large = n < sizeof small ? NULL : firec_xmalloc (n + 1);
      char *token = large ? large : small;
      memcpy (token, p, n);
      token[n] = '\0';
      p += n;
      const cJSON *next = schema_member (schema, kw (schema, node, KW_PROPERTIES), token);
      if (next == NULL)
        next = cJSON_GetObjectItemCaseSensitive (node, "items");
      node = next ? resolve (schema, next) : NULL;
    }
  return node;
}

/* ------------------------------------------------------------------ accepts */

/* The schemas that apply at one place of an instance: every alternative of
   every oneOf/anyOf/allOf and $ref, since the place is judged before the
   instance is known to be valid. A manifest schema has few of them. */
#define MAX_PLACE_SCHEMAS 32

struct place
{
  const cJSON *schemas[MAX_PLACE_SCHEMAS];
  size_t count;
};

static void
place_add (const struct firec_schema *s, struct place *p, const cJSON *schema, unsigned depth)
{
  if (!cJSON_IsObject (schema) || p->count == MAX_PLACE_SCHEMAS || depth > FIREC_YAML_MAX_DEPTH)
    return;
  p->schemas[p->count++] = schema;
  if (kw (s, schema, KW_REF))
    place_add (s, p, resolve (s, schema), depth + 1);
  static const enum keyword lists[] = { KW_ONE_OF, KW_ANY_OF, KW_ALL_OF };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (lists); i++)
    {
      const cJSON *branches = kw (s, schema, lists[i]);
      for (const cJSON *b = branches ? branches->child : NULL; b; b = b->next)
        place_add (s, p, b, depth + 1);
    }
}

/* The schemas for the member key (or, with key NULL, an item) of the instance
   that the schemas of from apply to. */
static void
place_step (const struct firec_schema *s, const struct place *from, const char *key, struct place *to)
{
  to->count = 0;
  for (size_t i = 0; i < from->count; i++)
    {
      const cJSON *schema = from->schemas[i];
      if (key == NULL)
        {
          place_add (s, to, kw (s, schema, KW_ITEMS), 0);
          continue;
        }
      const cJSON *property = schema_member (s, kw (s, schema, KW_PROPERTIES), key);
      if (property)
        {
          place_add (s, to, property, 0);
          continue;
        }
      bool matched = false;
      const cJSON *patterns = kw (s, schema, KW_PATTERN_PROPERTIES);
      for (const cJSON *pp = patterns ? patterns->child : NULL; pp; pp = pp->next)
        {
          const struct compiled_regex *re = find_regex (s, pp->string);
          if (re && regex_matches (re, key))
            {
              place_add (s, to, pp, 0);
              matched = true;
            }
        }
      if (!matched)
        place_add (s, to, kw (s, schema, KW_ADDITIONAL_PROPERTIES), 0);
    }
}

static bool
place_walk (const struct firec_schema *s, const struct firec_path *path, struct place *ret)
{
  if (path == NULL)
    {
      ret->count = 0;
      place_add (s, ret, s->root, 0);
      return true;
    }
  struct place parent;
  if (!place_walk (s, path->parent, &parent))
    return false;
  place_step (s, &parent, path->key, ret);
  return ret->count > 0;
}

/* Whether schema says anything about a scalar's type or value, and admits value. */
static bool
admits (const struct firec_schema *s, const cJSON *schema, const cJSON *value)
{
  const cJSON *type = kw (s, schema, KW_TYPE);
  const cJSON *values = kw (s, schema, KW_ENUM);
  const cJSON *constant = kw (s, schema, KW_CONST);
  if (type == NULL && values == NULL && constant == NULL)
    return false;
  if (cJSON_IsString (type) && !type_matches (type->valuestring, value))
    return false;
  if (cJSON_IsArray (type))
    {
      bool any = false;
      for (const cJSON *t = type->child; t && !any; t = t->next)
        any = type_matches (t->valuestring, value);
      if (!any)
        return false;
    }
  if (values)
    {
      bool member = false;
      for (const cJSON *e = values->child; e && !member; e = e->next)
        member = cJSON_Compare (e, value, true);
      if (!member)
        return false;
    }
  return constant == NULL || cJSON_Compare (constant, value, true);
}

bool
firec_schema_accepts (const struct firec_schema *schema, const struct firec_path *path, const cJSON *value)
{
  struct place place;
  if (!place_walk (schema, path, &place))
    return false;
  for (size_t i = 0; i < place.count; i++)
    if (admits (schema, place.schemas[i], value))
      return true;
  return false;
}

static void
apply_defaults_node (const struct firec_schema *s, const cJSON *schema, cJSON *instance)
{
  /* Every schema object reachable from the root was compiled. */
  const struct compiled_node *c = find_compiled (s, schema);
  if (c && c->kw[KW_REF])
    c = c->target_compiled;
  if (!cJSON_IsObject (instance) || c == NULL)
    return;
  const cJSON *properties = c->kw[KW_PROPERTIES];
  for (const cJSON *p = properties ? properties->child : NULL; p; p = p->next)
    {
      /* A default may sit beside a $ref, or at its target. */
      const struct compiled_node *pc = find_compiled (s, p);
      const bool ref = pc && pc->kw[KW_REF];
      const cJSON *def = pc ? pc->kw[KW_DEFAULT] : NULL;
      if (def == NULL && ref && pc->target_compiled)
        def = pc->target_compiled->kw[KW_DEFAULT];
      cJSON *child = firec_json_member (instance, p->string);
      if (def && child == NULL)
        {
          child = cJSON_Duplicate (def, 1);
          cJSON_AddItemToObject (instance, p->string, child);
        }
      if (cJSON_IsObject (child))
        apply_defaults_node (s, ref ? pc->target : p, child);
    }
}

void
firec_schema_apply_defaults (const struct firec_schema *schema, const char *pointer, cJSON *instance)
{
  const cJSON *node = firec_schema_at (schema, pointer);
  if (node)
    apply_defaults_node (schema, node, instance);
}
