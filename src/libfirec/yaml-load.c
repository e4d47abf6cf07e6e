/* SPDX-License-Identifier: Apache-2.0 */
/* Strict YAML loading. libyaml's event parser feeds an explicit stack (never
   recursion on the input), so a hostile file costs at most FIREC_YAML_MAX_DEPTH
   frames, FIREC_YAML_MAX_NODES nodes and FIREC_YAML_MAX_BYTES of text. */
#include "config.h"

#include "yaml-load.h"
#include "util.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

/* Problems such as duplicate keys or tags leave the parser able to go on, so they
   are collected; past this many the rest would only be noise. */
#define MAX_COLLECTED_ERRORS 100

/* 2^53: the largest magnitude up to which every integer is an exact double. */
#define LARGEST_EXACT_INTEGER "9007199254740992"

struct anchor
{
  char *name;
  /* NULL while the anchored collection is still open: an alias then would be
     recursive. */
  const cJSON *node;
  /* An anchor on a mapping key names a string that is not in the tree. */
  cJSON *detached_key_node;
  struct firec_mark mark;
  size_t node_count;
  unsigned height; /* collection levels, 0 for a scalar */
};

struct frame
{
  cJSON *node;
  bool is_mapping;
  size_t anchor_index; /* SIZE_MAX: none */
  size_t nodes_before; /* node count when it started: the difference is its size */
  unsigned child_height;
  /* Where the child being loaded sits, for JSON pointers in diagnostics; for
     mappings, the members attached so far. */
  size_t item_count;
  size_t current_index;
  const char *current_key; /* NULL before the first key, then in the loader's keys[] */
  struct firec_mark current_key_mark;
  bool have_key; /* mappings: the next event is the value of current_key */
};

/* Each depth keeps one buffer for the key being loaded, reused by every mapping
   at that depth instead of a copy per key. */
struct key_buffer
{
  char *data;
  size_t cap;
};

struct member_slot
{
  const cJSON *object;
  const cJSON *member;
};

struct loader
{
  const char *text;
  size_t text_len;
  struct firec_doc *doc;
  struct firec_diags *diags;
  size_t errors;
  bool fatal;

  struct frame stack[FIREC_YAML_MAX_DEPTH];
  struct key_buffer keys[FIREC_YAML_MAX_DEPTH];
  unsigned depth;
  size_t node_count;

  struct anchor *anchors;
  size_t anchors_count;
  size_t anchors_cap;
  size_t *anchor_slots; /* index + 1 of the latest anchor of each name; 0: empty */
  size_t anchor_slots_cap;

  /* Members of every mapping past LINEAR_MEMBERS loaded from text, to find
     duplicate keys without a quadratic scan (a 4 MiB file can hold one mapping
     of 100000 keys). */
  struct member_slot *member_slots;
  size_t member_slots_cap;
  size_t member_slots_count;

  locale_t c_locale; /* numbers are read the same whatever the caller's locale */
  uint64_t hash_seed;
};

static const char utf8_bom[] = "\xEF\xBB\xBF";

static struct firec_mark
mark_at (yaml_mark_t m)
{
  struct firec_mark mark = { (unsigned) m.line + 1, (unsigned) m.column + 1 };
  return mark;
}

static void *
check_alloc (void *p)
{
  /* Same policy as util.h's allocators: nothing useful is left to do. */
  if (p == NULL)
    abort ();
  return p;
}

static void
check_added (cJSON_bool added)
{
  /* cJSON fails to add only when it cannot copy the key. */
  if (!added)
    abort ();
}

/* FNV-1a from a per-load seed, so that a file cannot be written to make every key
   collide (the seed comes from a heap address, which ASLR varies). */
static uint64_t
hash_bytes (uint64_t seed, const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
  return h;
}

static uint64_t
hash_address (const void *p)
{
  uint64_t x = (uint64_t) (uintptr_t) p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

/* ---------------------------------------------------------------- diagnostics */

static char *
current_path (const struct loader *l, unsigned frames)
{
  cleanup_free char *path = firec_xstrdup ("");
  for (unsigned i = 0; i < frames; i++)
    {
      const struct frame *f = &l->stack[i];
      char *next;
      if (f->is_mapping)
        next = firec_json_pointer_append (path, f->current_key ? f->current_key : "");
      else
        next = firec_json_pointer_append_index (path, f->current_index);
      free (path);
      path = next;
    }
  return steal_pointer (&path);
}

__attribute__ ((format (printf, 4, 5))) static void
report_at (struct loader *l, struct firec_mark mark, const char *path, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *message = firec_xvasprintf (fmt, ap);
  va_end (ap);
  firec_diags_add (l->diags, FIREC_SEV_ERROR, l->doc->filename, mark.line, mark.column, path, "%s", message);
  l->errors++;
  if (l->errors >= MAX_COLLECTED_ERRORS)
    l->fatal = true;
}

/* The node being loaded: every frame's current child. */
#define report_here(l, mark, ...)                                                                                      \
  do                                                                                                                   \
    {                                                                                                                  \
      cleanup_free char *report_path_ = current_path ((l), (l)->depth);                                                \
      report_at ((l), (mark), report_path_, __VA_ARGS__);                                                              \
    }                                                                                                                  \
  while (0)

#define report_fatal(l, mark, path, ...)                                                                               \
  do                                                                                                                   \
    {                                                                                                                  \
      report_at ((l), (mark), (path), __VA_ARGS__);                                                                    \
      (l)->fatal = true;                                                                                               \
    }                                                                                                                  \
  while (0)

#define report_fatal_here(l, mark, ...)                                                                                \
  do                                                                                                                   \
    {                                                                                                                  \
      report_here ((l), (mark), __VA_ARGS__);                                                                          \
      (l)->fatal = true;                                                                                               \
    }                                                                                                                  \
  while (0)

/* Counts lines the way libyaml does (CR LF, CR, LF, NEL, LS, PS each end one)
   and columns in characters. Returns the offset where the line starts. */
static size_t
skip_line_break (const char *text, size_t len, size_t i)
{
  const unsigned char *s = (const unsigned char *) text;
  if (s[i] == '\r')
    return i + 1 < len && s[i + 1] == '\n' ? i + 2 : i + 1;
  if (s[i] == '\n')
    return i + 1;
  if (s[i] == 0xC2 && i + 1 < len && s[i + 1] == 0x85)
    return i + 2;
  if (s[i] == 0xE2 && i + 2 < len && s[i + 1] == 0x80 && (s[i + 2] == 0xA8 || s[i + 2] == 0xA9))
    return i + 3;
  return i;
}

static size_t
line_start_offset (const char *text, size_t len, size_t line_index)
{
  size_t i = 0, line = 0;
  while (i < len && line < line_index)
    {
      size_t next = skip_line_break (text, len, i);
      if (next != i)
        {
          line++;
          i = next;
        }
      else
        i++;
    }
  return i;
}

static struct firec_mark
mark_from_offset (const char *text, size_t len, size_t offset)
{
  struct firec_mark mark = { 1, 1 };
  size_t i = 0;
  while (i < len && i < offset)
    {
      size_t next = skip_line_break (text, len, i);
      if (next != i)
        {
          mark.line++;
          mark.column = 1;
          i = next;
          continue;
        }
      if (((unsigned char) text[i] & 0xC0) != 0x80)
        mark.column++;
      i++;
    }
  return mark;
}

/* libyaml says "found character that cannot start any token" about a tab in
   indentation, which does not tell a user what to change. The indentation of a
   line includes "- " entry indicators, after which a tab is just as wrong. */
static bool
find_tab_in_indentation (const char *text, size_t len, size_t line_index, struct firec_mark *ret)
{
  size_t i = line_start_offset (text, len, line_index);
  unsigned column = 1;
  for (; i < len; i++, column++)
    {
      char c = text[i];
      if (c == '\t')
        {
          ret->line = (unsigned) line_index + 1;
          ret->column = column;
          return true;
        }
      if (c == ' ')
        continue;
      if (c == '-' && i + 1 < len && (text[i + 1] == ' ' || text[i + 1] == '\t'))
        continue;
      break;
    }
  return false;
}

static void
report_parser_error (struct loader *l, const yaml_parser_t *parser)
{
  switch (parser->error)
    {
    case YAML_READER_ERROR:
      {
        struct firec_mark mark = mark_from_offset (l->text, l->text_len, parser->problem_offset);
        if (parser->problem_value >= 0)
          report_fatal (l, mark, "", "%s: #%X", parser->problem, (unsigned) parser->problem_value);
        else
          report_fatal (l, mark, "", "%s", parser->problem);
        return;
      }
    case YAML_SCANNER_ERROR:
      {
        struct firec_mark tab;
        if (find_tab_in_indentation (l->text, l->text_len, parser->problem_mark.line, &tab))
          {
            report_fatal (l, tab, "", "tab character in indentation; indent with spaces");
            return;
          }
        break;
      }
    case YAML_MEMORY_ERROR:
      abort ();
    case YAML_NO_ERROR:
    case YAML_PARSER_ERROR:
    case YAML_COMPOSER_ERROR:
    case YAML_WRITER_ERROR:
    case YAML_EMITTER_ERROR:
      break;
    }
  struct firec_mark mark = mark_at (parser->problem_mark);
  const char *problem = parser->problem ? parser->problem : "invalid YAML";
  if (parser->context)
    report_fatal (l, mark, "", "%s (%s)", problem, parser->context);
  else
    report_fatal (l, mark, "", "%s", problem);
}

/* ---------------------------------------------------------------- anchors */

static size_t
anchor_lookup (const struct loader *l, const char *name)
{
  if (l->anchor_slots_cap == 0)
    return SIZE_MAX;
  size_t mask = l->anchor_slots_cap - 1;
  for (size_t i = hash_bytes (l->hash_seed, name) & mask; l->anchor_slots[i]; i = (i + 1) & mask)
    if (strcmp (l->anchors[l->anchor_slots[i] - 1].name, name) == 0)
      return l->anchor_slots[i] - 1;
  return SIZE_MAX;
}

static void
anchor_slots_put (const struct loader *l, size_t *slots, size_t cap, size_t index)
{
  const struct anchor *anchors = l->anchors;
  size_t mask = cap - 1;
  size_t i = hash_bytes (l->hash_seed, anchors[index].name) & mask;
  while (slots[i] && strcmp (anchors[slots[i] - 1].name, anchors[index].name) != 0)
    i = (i + 1) & mask;
  slots[i] = index + 1;
}

/* A later anchor of the same name shadows the earlier one (YAML 1.2 §3.2.2.2). */
static size_t
anchor_define (struct loader *l, const char *name, struct firec_mark mark)
{
  if (l->anchors_count == l->anchors_cap)
    {
      l->anchors_cap = l->anchors_cap ? l->anchors_cap * 2 : 16;
      l->anchors = firec_xrealloc (l->anchors, l->anchors_cap * sizeof *l->anchors);
    }
  size_t index = l->anchors_count++;
  struct anchor *a = &l->anchors[index];
  memset (a, 0, sizeof *a);
  a->name = firec_xstrdup (name);
  a->mark = mark;

  if ((l->anchors_count + 1) * 2 > l->anchor_slots_cap)
    {
      size_t cap = l->anchor_slots_cap ? l->anchor_slots_cap * 2 : 32;
      size_t *slots = firec_xcalloc (cap, sizeof *slots);
      for (size_t i = 0; i < l->anchor_slots_cap; i++)
        if (l->anchor_slots[i])
          anchor_slots_put (l, slots, cap, l->anchor_slots[i] - 1);
      free (l->anchor_slots);
      l->anchor_slots = slots;
      l->anchor_slots_cap = cap;
    }
  anchor_slots_put (l, l->anchor_slots, l->anchor_slots_cap, index);
  return index;
}

/* ---------------------------------------------------------------- duplicate keys */

static size_t
member_slot_index (uint64_t seed, const struct member_slot *slots, size_t cap, const cJSON *object, const char *key)
{
  size_t mask = cap - 1;
  size_t i = (hash_address (object) ^ hash_bytes (seed, key)) & mask;
  while (slots[i].object && !(slots[i].object == object && strcmp (slots[i].member->string, key) == 0))
    i = (i + 1) & mask;
  return i;
}

/* Up to this many members a mapping is searched in order: cheaper than hashing
   every key, and a manifest's mappings are small. */
#define LINEAR_MEMBERS 16

/* The first member of f's mapping named key. */
static const cJSON *
member_find (const struct loader *l, const struct frame *f, const char *key)
{
  if (f->item_count <= LINEAR_MEMBERS)
    {
      for (const cJSON *m = f->node->child; m; m = m->next)
        if (m->string[0] == key[0] && strcmp (m->string, key) == 0) /* the first byte spares most calls */
          return m;
      return NULL;
    }
  return l->member_slots[member_slot_index (l->hash_seed, l->member_slots, l->member_slots_cap, f->node, key)].member;
}

static void
member_remember (struct loader *l, const cJSON *object, const cJSON *member)
{
  if ((l->member_slots_count + 1) * 2 > l->member_slots_cap)
    {
      size_t cap = l->member_slots_cap ? l->member_slots_cap * 2 : 64;
      struct member_slot *slots = firec_xcalloc (cap, sizeof *slots);
      for (size_t i = 0; i < l->member_slots_cap; i++)
        if (l->member_slots[i].object)
          slots[member_slot_index (l->hash_seed, slots, cap, l->member_slots[i].object,
                                   l->member_slots[i].member->string)]
              = l->member_slots[i];
      free (l->member_slots);
      l->member_slots = slots;
      l->member_slots_cap = cap;
    }
  size_t i = member_slot_index (l->hash_seed, l->member_slots, l->member_slots_cap, object, member->string);
  if (l->member_slots[i].object == NULL)
    {
      l->member_slots[i].object = object;
      l->member_slots[i].member = member;
      l->member_slots_count++;
    }
}

/* ---------------------------------------------------------------- interned keys */

/* Mapping keys are interned for the life of the process: a manifest's keys are
   mostly the schema's few hundred field names, the same in every file, and an
   interned key joins its object with cJSON_AddItemToObjectCS (cJSON neither
   copies nor frees it; duplicates share it) where cJSON_AddItemToObject would
   copy it, a malloc and a free per member. The table is bounded: past
   INTERN_MAX keys, or for keys longer than INTERN_MAX_LEN, keys are copied as
   before, so no file can make it grow further. The seed comes from a stack
   address (ASLR) so that no file can be written to make keys collide. */
#define INTERN_MAX 1024
#define INTERN_MAX_LEN 64

static struct
{
  const char *slots[2 * INTERN_MAX];
  size_t count;
  uint64_t seed;
  struct firec_arena copies; /* never released, like the built-in schema */
} interned;

static const char *
intern_key (const char *key)
{
  size_t len = strlen (key);
  if (len > INTERN_MAX_LEN)
    return NULL;
  if (interned.seed == 0)
    interned.seed = hash_address (&len) | 1;
  size_t mask = FIREC_N_ELEMENTS (interned.slots) - 1;
  size_t i = hash_bytes (interned.seed, key) & mask;
  for (; interned.slots[i]; i = (i + 1) & mask)
    if (strcmp (interned.slots[i], key) == 0)
      return interned.slots[i];
  if (interned.count == INTERN_MAX)
    return NULL;
  interned.count++;
  return interned.slots[i] = firec_arena_strdup (&interned.copies, key);
}

static void
add_member (cJSON *object, const char *key, cJSON *node)
{
  const char *constant = intern_key (key);
  check_added (constant ? cJSON_AddItemToObjectCS (object, constant, node) : cJSON_AddItemToObject (object, key, node));
}

/* ---------------------------------------------------------------- scalars */

static size_t
scan_decimal_digits (const char *s, size_t len, size_t i)
{
  while (i < len && s[i] >= '0' && s[i] <= '9')
    i++;
  return i;
}

/* -?(0|[1-9][0-9]*); returns where it ends, or 0 when absent. */
static size_t
scan_integer_part (const char *s, size_t len)
{
  size_t i = (len > 0 && s[0] == '-') ? 1 : 0;
  if (i >= len || s[i] < '0' || s[i] > '9')
    return 0;
  if (s[i] == '0')
    return i + 1;
  return scan_decimal_digits (s, len, i);
}

static bool
is_decimal_integer (const char *s, size_t len)
{
  size_t end = scan_integer_part (s, len);
  return end != 0 && end == len;
}

/* A fraction or an exponent is what makes it a float rather than an integer. */
static bool
is_decimal_float (const char *s, size_t len)
{
  size_t i = scan_integer_part (s, len);
  if (i == 0)
    return false;
  bool has_fraction = false, has_exponent = false;
  if (i < len && s[i] == '.')
    {
      size_t end = scan_decimal_digits (s, len, i + 1);
      if (end == i + 1)
        return false;
      i = end;
      has_fraction = true;
    }
  if (i < len && (s[i] == 'e' || s[i] == 'E'))
    {
      i++;
      if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
      size_t end = scan_decimal_digits (s, len, i);
      if (end == i)
        return false;
      i = end;
      has_exponent = true;
    }
  return i == len && (has_fraction || has_exponent);
}

static bool
integer_fits_double_exactly (const char *s, size_t len)
{
  const char *digits = s[0] == '-' ? s + 1 : s;
  size_t n = len - (size_t) (digits - s);
  size_t limit_len = sizeof LARGEST_EXACT_INTEGER - 1;
  if (n != limit_len)
    return n < limit_len;
  return memcmp (digits, LARGEST_EXACT_INTEGER, n) <= 0;
}

int
firec_yaml_core_boolean (const char *s)
{
  static const char *const spellings[2][3] = { { "false", "False", "FALSE" }, { "true", "True", "TRUE" } };
  /* Every plain scalar is asked: most start with neither letter, and are
     answered without six strcmp calls. */
  if (s[0] != 't' && s[0] != 'T' && s[0] != 'f' && s[0] != 'F')
    return -1;
  for (int value = 0; value < 2; value++)
    for (size_t i = 0; i < 3; i++)
      if (strcmp (s, spellings[value][i]) == 0)
        return value;
  return -1;
}

bool
firec_yaml_core_integer (const char *s, double *ret)
{
  size_t len = strlen (s);
  if (!is_decimal_integer (s, len) || !integer_fits_double_exactly (s, len))
    return false;
  *ret = strtod (s, NULL); /* digits only: no locale matters */
  return true;
}

static double
parse_double (struct loader *l, const char *s)
{
  if (l->c_locale == (locale_t) 0)
    l->c_locale = newlocale (LC_NUMERIC_MASK, "C", (locale_t) 0);
  if (l->c_locale == (locale_t) 0)
    return strtod (s, NULL);
  return strtod_l (s, NULL, l->c_locale);
}

/* YAML 1.2 core schema, stricter: what would be a surprise in a manifest (yes,
   0755, 0x1F, .inf) stays a string, and the schema validator explains. The
   core schema's booleans are all taken (True and TRUE are what templates such
   as Jinja write); YAML 1.1's yes/no/on/off are not booleans in YAML 1.2. */
static cJSON *
scalar_to_node (struct loader *l, const char *s, size_t len, yaml_scalar_style_t style, struct firec_mark mark)
{
  if (style != YAML_PLAIN_SCALAR_STYLE)
    return check_alloc (cJSON_CreateString (s));
  if (len == 0 || (s[0] == 'n' && strcmp (s, "null") == 0) || (s[0] == '~' && s[1] == '\0'))
    return check_alloc (cJSON_CreateNull ());
  int boolean = firec_yaml_core_boolean (s);
  if (boolean >= 0)
    return check_alloc (cJSON_CreateBool (boolean));
  if (is_decimal_integer (s, len))
    {
      if (!integer_fits_double_exactly (s, len))
        {
          report_here (l, mark, "integer %s is too large to represent exactly", s);
          return check_alloc (cJSON_CreateString (s));
        }
      return check_alloc (cJSON_CreateNumber (parse_double (l, s)));
    }
  if (is_decimal_float (s, len))
    {
      double value = parse_double (l, s);
      if (isinf (value))
        {
          report_here (l, mark, "number %s is too large to represent", s);
          return check_alloc (cJSON_CreateString (s));
        }
      return check_alloc (cJSON_CreateNumber (value));
    }
  return check_alloc (cJSON_CreateString (s));
}

/* ---------------------------------------------------------------- tree building */

/* libyaml has already resolved "!!x" to its full tag; show it as written. */
static void
report_tag (struct loader *l, const yaml_char_t *tag, struct firec_mark mark)
{
  static const char core_prefix[] = "tag:yaml.org,2002:";
  const char *t = (const char *) tag;
  if (strncmp (t, core_prefix, sizeof core_prefix - 1) == 0)
    report_here (l, mark, "tags are not supported: !!%s", t + sizeof core_prefix - 1);
  else
    report_here (l, mark, "tags are not supported: %s", t);
}

static bool
has_nul (const yaml_event_t *event)
{
  return memchr (event->data.scalar.value, '\0', event->data.scalar.length) != NULL;
}

static bool
count_nodes (struct loader *l, size_t n, struct firec_mark mark, bool through_alias)
{
  if (n > FIREC_YAML_MAX_NODES - l->node_count)
    {
      if (through_alias)
        report_fatal_here (l, mark,
                           "document expands to more than %u nodes through aliases (billion-laughs protection)",
                           FIREC_YAML_MAX_NODES);
      else
        report_fatal_here (l, mark, "document has more than %u nodes", FIREC_YAML_MAX_NODES);
      return false;
    }
  l->node_count += n;
  return true;
}

/* Records where the next value goes, so that diagnostics about it name it. */
static void
begin_value (struct loader *l)
{
  if (l->depth == 0)
    return;
  struct frame *top = &l->stack[l->depth - 1];
  if (!top->is_mapping)
    top->current_index = top->item_count;
}

/* The value's key mark is its key's for members of a mapping. */
static void
attach_value (struct loader *l, cJSON *node, struct firec_mark value_mark, unsigned height)
{
  if (l->depth == 0)
    {
      l->doc->root = node;
      firec_doc_add_mark (l->doc, node, value_mark, value_mark);
      return;
    }
  struct frame *top = &l->stack[l->depth - 1];
  if (height > top->child_height)
    top->child_height = height;
  if (top->is_mapping)
    {
      const char *key = top->current_key;
      /* A duplicate is kept too (the load fails anyway) so that every node has one
         owner, including anchors inside it. */
      bool first = member_find (l, top, key) == NULL;
      add_member (top->node, key, node);
      firec_doc_add_mark (l->doc, node, value_mark, top->current_key_mark);
      top->item_count++;
      if (top->item_count == LINEAR_MEMBERS + 1)
        {
          /* Too large to search in order from now on: hash the first of each key. */
          for (const cJSON *m = top->node->child; m; m = m->next)
            member_remember (l, top->node, m);
        }
      else if (top->item_count > LINEAR_MEMBERS && first)
        member_remember (l, top->node, node);
      top->have_key = false;
    }
  else
    {
      check_added (cJSON_AddItemToArray (top->node, node));
      firec_doc_add_mark (l->doc, node, value_mark, value_mark);
      top->item_count++;
    }
}

static void
handle_key (struct loader *l, const yaml_event_t *event)
{
  struct frame *top = &l->stack[l->depth - 1];
  struct firec_mark mark = mark_at (event->start_mark);
  const char *key = (const char *) event->data.scalar.value;

  struct key_buffer *buffer = &l->keys[l->depth - 1];
  size_t size = strlen (key) + 1;
  if (size > buffer->cap)
    {
      buffer->data = firec_xrealloc (buffer->data, size);
      buffer->cap = size;
    }
  memcpy (buffer->data, key, size);
  top->current_key = buffer->data;
  top->current_key_mark = mark;
  top->have_key = true;

  if (event->data.scalar.tag)
    report_tag (l, event->data.scalar.tag, mark);
  if (has_nul (event))
    {
      report_here (l, mark, "NUL characters (\\0) are not supported in keys or strings");
      return;
    }
  if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp (key, "<<") == 0)
    {
      report_here (l, mark, "merge keys (<<) are not supported; write the keys out");
      return;
    }
  const cJSON *first = member_find (l, top, key);
  if (first)
    {
      struct firec_mark first_key;
      firec_doc_get_mark (l->doc, first, NULL, &first_key);
      report_here (l, mark, "duplicate key \"%s\" (first defined at line %u)", key, first_key.line);
    }
  if (event->data.scalar.anchor)
    {
      size_t index = anchor_define (l, (const char *) event->data.scalar.anchor, mark);
      struct anchor *a = &l->anchors[index];
      a->detached_key_node = check_alloc (cJSON_CreateString (key));
      a->node = a->detached_key_node;
      a->node_count = 1;
      a->height = 0;
    }
}

static void
handle_scalar (struct loader *l, const yaml_event_t *event)
{
  begin_value (l);
  struct firec_mark mark = mark_at (event->start_mark);
  if (event->data.scalar.tag)
    report_tag (l, event->data.scalar.tag, mark);
  if (!count_nodes (l, 1, mark, false))
    return;
  const char *text = (const char *) event->data.scalar.value;
  cJSON *node;
  if (has_nul (event))
    {
      report_here (l, mark, "NUL characters (\\0) are not supported in keys or strings");
      node = check_alloc (cJSON_CreateString (text));
    }
  else
    node = scalar_to_node (l, text, event->data.scalar.length, event->data.scalar.style, mark);
  if (event->data.scalar.anchor)
    {
      size_t index = anchor_define (l, (const char *) event->data.scalar.anchor, mark);
      struct anchor *a = &l->anchors[index];
      a->node = node;
      a->node_count = 1;
      a->height = 0;
    }
  attach_value (l, node, mark, 0);
  if (event->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    firec_doc_add_flags (l->doc, node, FIREC_NODE_QUOTED);
}

/* Recursion is bounded: a subtree of the tree is at most FIREC_YAML_MAX_DEPTH high. */
static cJSON *
copy_subtree (struct loader *l, const cJSON *source)
{
  cJSON *copy;
  if (cJSON_IsArray (source) || cJSON_IsObject (source))
    {
      copy = check_alloc (cJSON_IsArray (source) ? cJSON_CreateArray () : cJSON_CreateObject ());
      for (const cJSON *child = source->child; child; child = child->next)
        {
          cJSON *child_copy = copy_subtree (l, child);
          struct firec_mark value_mark, key_mark;
          firec_doc_get_mark (l->doc, child, &value_mark, &key_mark);
          if (cJSON_IsArray (source))
            check_added (cJSON_AddItemToArray (copy, child_copy));
          else
            add_member (copy, child->string, child_copy);
          firec_doc_add_mark (l->doc, child_copy, value_mark, key_mark);
          firec_doc_add_flags (l->doc, child_copy, firec_doc_get_flags (l->doc, child));
        }
    }
  else if (cJSON_IsString (source))
    copy = check_alloc (cJSON_CreateString (source->valuestring));
  else if (cJSON_IsNumber (source))
    copy = check_alloc (cJSON_CreateNumber (source->valuedouble));
  else if (cJSON_IsBool (source))
    copy = check_alloc (cJSON_CreateBool (cJSON_IsTrue (source)));
  else
    copy = check_alloc (cJSON_CreateNull ());
  return copy;
}

static void
handle_alias (struct loader *l, const yaml_event_t *event)
{
  begin_value (l);
  struct firec_mark mark = mark_at (event->start_mark);
  const char *name = (const char *) event->data.alias.anchor;
  size_t index = anchor_lookup (l, name);
  if (index == SIZE_MAX)
    {
      report_fatal_here (l, mark, "found undefined alias *%s", name);
      return;
    }
  const struct anchor *a = &l->anchors[index];
  if (a->node == NULL)
    {
      report_fatal_here (l, mark, "alias *%s is inside the node it refers to (recursive aliases are not supported)",
                         name);
      return;
    }
  /* Checked before copying, so that a billion-laughs file is refused without
     allocating its expansion. */
  if (l->depth + a->height > FIREC_YAML_MAX_DEPTH)
    {
      report_fatal_here (l, mark, "nesting deeper than %u levels through aliases", FIREC_YAML_MAX_DEPTH);
      return;
    }
  if (!count_nodes (l, a->node_count, mark, true))
    return;
  cJSON *copy = copy_subtree (l, a->node);
  attach_value (l, copy, a->mark, a->height);
  firec_doc_add_flags (l->doc, copy, firec_doc_get_flags (l->doc, a->node));
}

static void
handle_collection_start (struct loader *l, const yaml_event_t *event, bool is_mapping)
{
  begin_value (l);
  struct firec_mark mark = mark_at (event->start_mark);
  const yaml_char_t *tag = is_mapping ? event->data.mapping_start.tag : event->data.sequence_start.tag;
  const yaml_char_t *anchor = is_mapping ? event->data.mapping_start.anchor : event->data.sequence_start.anchor;
  if (l->depth == FIREC_YAML_MAX_DEPTH)
    {
      report_fatal_here (l, mark, "nesting deeper than %u levels", FIREC_YAML_MAX_DEPTH);
      return;
    }
  if (tag)
    report_tag (l, tag, mark);
  size_t nodes_before = l->node_count;
  if (!count_nodes (l, 1, mark, false))
    return;
  cJSON *node = check_alloc (is_mapping ? cJSON_CreateObject () : cJSON_CreateArray ());
  attach_value (l, node, mark, 0);
  struct frame *f = &l->stack[l->depth++];
  memset (f, 0, sizeof *f);
  f->node = node;
  f->is_mapping = is_mapping;
  f->nodes_before = nodes_before;
  f->anchor_index = anchor ? anchor_define (l, (const char *) anchor, mark) : SIZE_MAX;
}

static void
handle_collection_end (struct loader *l)
{
  if (l->depth == 0)
    return;
  struct frame *f = &l->stack[--l->depth];
  unsigned height = f->child_height + 1;
  if (f->anchor_index != SIZE_MAX)
    {
      struct anchor *a = &l->anchors[f->anchor_index];
      a->node = f->node;
      a->node_count = l->node_count - f->nodes_before;
      a->height = height;
    }
  if (l->depth > 0 && height > l->stack[l->depth - 1].child_height)
    l->stack[l->depth - 1].child_height = height;
}

static void
report_complex_key (struct loader *l, const yaml_event_t *event, const char *what)
{
  cleanup_free char *path = current_path (l, l->depth - 1);
  struct firec_mark mark = mark_at (event->start_mark);
  if (event->type == YAML_ALIAS_EVENT)
    report_fatal (l, mark, path, "mapping keys must be plain or quoted scalars, not %s (*%s)", what,
                  (const char *) event->data.alias.anchor);
  else
    report_fatal (l, mark, path, "mapping keys must be plain or quoted scalars, not %s", what);
}

static bool
expecting_key (const struct loader *l)
{
  if (l->depth == 0)
    return false;
  const struct frame *top = &l->stack[l->depth - 1];
  return top->is_mapping && !top->have_key;
}

/* Returns false at the end of the stream or after a problem that stops loading. */
static bool
handle_event (struct loader *l, const yaml_event_t *event, unsigned *documents)
{
  switch (event->type)
    {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
    case YAML_NO_EVENT:
      return true;
    case YAML_STREAM_END_EVENT:
      if (*documents == 0)
        {
          const struct firec_mark no_position = { 0, 0 };
          report_fatal (l, no_position, "", "no YAML document: the file is empty or holds only comments");
        }
      return false;
    case YAML_DOCUMENT_START_EVENT:
      if (++*documents > 1)
        {
          report_fatal (l, mark_at (event->start_mark), "",
                        "found a second document; a manifest is exactly one YAML document");
          return false;
        }
      return true;
    case YAML_SCALAR_EVENT:
      if (expecting_key (l))
        handle_key (l, event);
      else
        handle_scalar (l, event);
      break;
    case YAML_ALIAS_EVENT:
      if (expecting_key (l))
        report_complex_key (l, event, "an alias");
      else
        handle_alias (l, event);
      break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      {
        bool is_mapping = event->type == YAML_MAPPING_START_EVENT;
        if (expecting_key (l))
          report_complex_key (l, event, is_mapping ? "a mapping" : "a sequence");
        else
          handle_collection_start (l, event, is_mapping);
        break;
      }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      handle_collection_end (l);
      break;
    }
  return !l->fatal;
}

static void
loader_release (struct loader *l)
{
  for (unsigned i = 0; i < FIREC_YAML_MAX_DEPTH; i++)
    free (l->keys[i].data);
  for (size_t i = 0; i < l->anchors_count; i++)
    {
      free (l->anchors[i].name);
      cJSON_Delete (l->anchors[i].detached_key_node);
    }
  free (l->anchors);
  free (l->anchor_slots);
  free (l->member_slots);
  if (l->c_locale != (locale_t) 0)
    freelocale (l->c_locale);
}

static int
fail_invalid (const char *filename, firec_error_t *err)
{
  return firec_error_set_kind (err, FIREC_ERR_INVALID, 0, "%s: not a valid manifest", filename);
}

static void
report_too_large (struct firec_diags *diags, const char *filename)
{
  firec_diags_add (diags, FIREC_SEV_ERROR, filename, 0, 0, "", "file is larger than %u MiB",
                   FIREC_YAML_MAX_BYTES >> 20);
}

int
firec_yaml_load_buffer (const char *buf, size_t len, const char *filename, struct firec_doc **ret,
                        struct firec_diags *diags, firec_error_t *err)
{
  *ret = NULL;
  if (filename == NULL)
    filename = "-";
  struct firec_diags unused_diags = { 0 };
  if (diags == NULL)
    diags = &unused_diags;
  if (len > FIREC_YAML_MAX_BYTES)
    {
      report_too_large (diags, filename);
      return fail_invalid (filename, err);
    }

  /* YAML allows a byte order mark before the document. libyaml skips one it
     finds, but still counts it as a column, so that "key:" on the first line
     sits one column deeper than the keys after it and the mapping breaks: the
     mark is removed here, and positions are those an editor shows. */
  if (len >= 3 && memcmp (buf, utf8_bom, 3) == 0)
    {
      buf += 3;
      len -= 3;
    }
  cleanup_doc struct firec_doc *doc = firec_doc_new (filename);
  struct loader l = { .text = buf, .text_len = len, .doc = doc, .diags = diags };
  l.hash_seed = hash_address (doc);
  yaml_parser_t parser;
  if (!yaml_parser_initialize (&parser))
    abort ();
  yaml_parser_set_input_string (&parser, (const unsigned char *) buf, len);
  /* A manifest is UTF-8; a UTF-16 file is reported as invalid UTF-8 rather than
     silently decoded. */
  yaml_parser_set_encoding (&parser, YAML_UTF8_ENCODING);

  unsigned documents = 0;
  for (;;)
    {
      yaml_event_t event;
      if (!yaml_parser_parse (&parser, &event))
        {
          report_parser_error (&l, &parser);
          break;
        }
      bool more = handle_event (&l, &event, &documents);
      yaml_event_delete (&event);
      if (!more)
        break;
    }
  yaml_parser_delete (&parser);
  loader_release (&l);
  firec_diags_release (&unused_diags);

  if (l.errors > 0)
    return fail_invalid (filename, err);
  *ret = steal_pointer (&doc);
  return 0;
}

int
firec_yaml_load_file (const char *path, const char *display_name, struct firec_doc **ret, struct firec_diags *diags,
                      firec_error_t *err)
{
  *ret = NULL;
  const char *name = display_name ? display_name : path;
  cleanup_free char *text = NULL;
  size_t len = 0;
  int rc;
  if (strcmp (path, "-") == 0)
    rc = firec_read_fd (STDIN_FILENO, FIREC_YAML_MAX_BYTES, &text, &len);
  else
    rc = firec_read_file (path, FIREC_YAML_MAX_BYTES, &text, &len);
  if (rc < 0)
    {
      int saved_errno = errno;
      if (saved_errno == EFBIG)
        {
          report_too_large (diags, name);
          return fail_invalid (name, err);
        }
      firec_diags_add (diags, FIREC_SEV_ERROR, name, 0, 0, "", "cannot read file: %s", strerror (saved_errno));
      return firec_error_set_kind (err, FIREC_ERR_INVALID, saved_errno, "cannot read %s", name);
    }
  return firec_yaml_load_buffer (text, len, name, ret, diags, err);
}
