/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "doc.h"
#include "util.h"

#include <stdint.h>
#include <string.h>

struct firec_doc_mark_entry
{
  const cJSON *node;
  struct firec_mark value;
  struct firec_mark key;
  unsigned flags; /* enum firec_node_flag */
};

struct firec_doc *
firec_doc_new (const char *filename)
{
  struct firec_doc *doc = firec_xcalloc (1, sizeof *doc);
  doc->filename = firec_xstrdup (filename);
  return doc;
}

void
firec_doc_free (struct firec_doc *doc)
{
  if (doc == NULL)
    return;
  cJSON_Delete (doc->root);
  free (doc->filename);
  free (doc->base_dir);
  free (doc->marks);
  free (doc->mark_slots);
  free (doc);
}

static void
index_mark (uint32_t *slots, size_t cap, const cJSON *node, uint32_t slot)
{
  size_t i = firec_hash_pointer (node, cap);
  while (slots[i])
    i = (i + 1) & (cap - 1);
  slots[i] = slot;
}

static struct firec_doc_mark_entry *
find_entry (const struct firec_doc *doc, const cJSON *node)
{
  if (doc == NULL || doc->mark_slots_cap == 0 || node == NULL)
    return NULL;
  for (size_t i = firec_hash_pointer (node, doc->mark_slots_cap); doc->mark_slots[i];
       i = (i + 1) & (doc->mark_slots_cap - 1))
    if (doc->marks[doc->mark_slots[i] - 1].node == node)
      return &doc->marks[doc->mark_slots[i] - 1];
  return NULL;
}

void
firec_doc_add_mark (struct firec_doc *doc, const cJSON *node, struct firec_mark value, struct firec_mark key)
{
  if ((doc->marks_count + 1) * 2 > doc->mark_slots_cap)
    {
      size_t cap = doc->mark_slots_cap ? doc->mark_slots_cap * 2 : 256;
      uint32_t *slots = firec_xcalloc (cap, sizeof *slots);
      for (size_t i = 0; i < doc->marks_count; i++)
        index_mark (slots, cap, doc->marks[i].node, (uint32_t) i + 1);
      free (doc->mark_slots);
      doc->mark_slots = slots;
      doc->mark_slots_cap = cap;
    }
  if (doc->marks_count == doc->marks_alloc)
    {
      doc->marks_alloc = doc->marks_alloc ? doc->marks_alloc * 2 : 64;
      doc->marks = firec_xrealloc (doc->marks, doc->marks_alloc * sizeof *doc->marks);
    }
  doc->marks[doc->marks_count++] = (struct firec_doc_mark_entry){ node, value, key, 0 };
  index_mark (doc->mark_slots, doc->mark_slots_cap, node, (uint32_t) doc->marks_count);
}

void
firec_doc_set_mark (struct firec_doc *doc, const cJSON *node, struct firec_mark value, struct firec_mark key)
{
  struct firec_doc_mark_entry *e = find_entry (doc, node);
  if (e)
    *e = (struct firec_doc_mark_entry){ node, value, key, 0 };
  else
    firec_doc_add_mark (doc, node, value, key);
}

bool
firec_doc_get_mark (const struct firec_doc *doc, const cJSON *node, struct firec_mark *value, struct firec_mark *key)
{
  static const struct firec_mark none = { 0, 0 };
  const struct firec_doc_mark_entry *e = find_entry (doc, node);
  if (value)
    *value = e ? e->value : none;
  if (key)
    *key = e ? e->key : none;
  return e != NULL;
}

void
firec_doc_add_flags (struct firec_doc *doc, const cJSON *node, unsigned flags)
{
  struct firec_doc_mark_entry *e = find_entry (doc, node);
  if (e)
    e->flags |= flags;
}

unsigned
firec_doc_get_flags (const struct firec_doc *doc, const cJSON *node)
{
  const struct firec_doc_mark_entry *e = find_entry (doc, node);
  return e ? e->flags : 0;
}

const cJSON *
firec_doc_at (const struct firec_doc *doc, const char *pointer)
{
  const cJSON *node = doc->root;
  const char *p = pointer;
  while (node && *p == '/')
    {
      p++;
      size_t n = strcspn (p, "/");
      /* On the stack unless long: resolve looks a pointer up for every file. */
      char small[64];
      cleanup_free char *large = n < sizeof small ? NULL : firec_xmalloc (n + 1);
      char *token = large ? large : small;
      size_t j = 0;
      for (size_t i = 0; i < n; i++)
        {
          if (p[i] == '~' && i + 1 < n && (p[i + 1] == '0' || p[i + 1] == '1'))
            {
              token[j++] = p[i + 1] == '0' ? '~' : '/';
              i++;
            }
          else
            token[j++] = p[i];
        }
      token[j] = '\0';
      p += n;
      if (cJSON_IsArray (node))
        {
          char *end;
          unsigned long idx = strtoul (token, &end, 10);
          node = (*token && *end == '\0') ? cJSON_GetArrayItem (node, (int) idx) : NULL;
        }
      else if (cJSON_IsObject (node))
        node = firec_json_member (node, token);
      else
        node = NULL;
    }
  return *p == '\0' ? node : NULL;
}
