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
  free (doc);
}

static void
marks_insert (struct firec_doc_mark_entry *table, size_t cap, const struct firec_doc_mark_entry *e)
{
  size_t i = firec_hash_pointer (e->node, cap);
  while (table[i].node != NULL && table[i].node != e->node)
    i = (i + 1) & (cap - 1);
  table[i] = *e;
}

void
firec_doc_set_mark (struct firec_doc *doc, const cJSON *node, struct firec_mark value, struct firec_mark key)
{
  if ((doc->marks_count + 1) * 2 > doc->marks_cap)
    {
      size_t cap = doc->marks_cap ? doc->marks_cap * 2 : 256;
      struct firec_doc_mark_entry *table = firec_xcalloc (cap, sizeof *table);
      for (size_t i = 0; i < doc->marks_cap; i++)
        if (doc->marks[i].node)
          marks_insert (table, cap, &doc->marks[i]);
      free (doc->marks);
      doc->marks = table;
      doc->marks_cap = cap;
    }
  struct firec_doc_mark_entry e = { node, value, key, 0 };
  size_t before = doc->marks_count;
  size_t i = firec_hash_pointer (node, doc->marks_cap);
  while (doc->marks[i].node != NULL && doc->marks[i].node != node)
    i = (i + 1) & (doc->marks_cap - 1);
  if (doc->marks[i].node == NULL)
    doc->marks_count = before + 1;
  doc->marks[i] = e;
}

static struct firec_doc_mark_entry *
find_entry (const struct firec_doc *doc, const cJSON *node)
{
  if (doc == NULL || doc->marks_cap == 0 || node == NULL)
    return NULL;
  size_t i = firec_hash_pointer (node, doc->marks_cap);
  while (doc->marks[i].node != NULL)
    {
      if (doc->marks[i].node == node)
        return &doc->marks[i];
      i = (i + 1) & (doc->marks_cap - 1);
    }
  return NULL;
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
      cleanup_free char *token = firec_xmalloc (n + 1);
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
