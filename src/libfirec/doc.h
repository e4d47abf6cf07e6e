/* SPDX-License-Identifier: Apache-2.0 */
/* A loaded manifest: a cJSON tree plus the source position of every node.
   cJSON has no room for user data, so positions live in a side table keyed by
   node address (open addressing; nodes are never moved once loaded). */
#ifndef FIREC_DOC_H
#define FIREC_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

struct firec_mark
{
  unsigned line;   /* 1-based */
  unsigned column; /* 1-based */
};

struct firec_doc_mark_entry;

struct firec_doc
{
  char *filename; /* as shown in diagnostics */
  char *base_dir; /* where relative host paths resolve; NULL for stdin without --base-dir */
  cJSON *root;
  /* Packed in load order, with an open-addressing index over them by node
     address (slot = position + 1, 0 = empty): the index of a manifest's ~100
     nodes is 1 KiB to clear, where a table of whole entries would be 8. */
  struct firec_doc_mark_entry *marks;
  size_t marks_count;
  size_t marks_alloc;
  uint32_t *mark_slots;
  size_t mark_slots_cap;
};

struct firec_doc *firec_doc_new (const char *filename);
void firec_doc_free (struct firec_doc *doc);
static inline void
firec_doc_freep (struct firec_doc **doc)
{
  firec_doc_free (*doc);
}
#define cleanup_doc __attribute__ ((cleanup (firec_doc_freep)))

/* value: where the node's value starts. key: where its key starts, for members of
   a mapping (else the same as value). */
void firec_doc_set_mark (struct firec_doc *doc, const cJSON *node, struct firec_mark value, struct firec_mark key);
/* The same for a node that has no mark yet (one just made), without looking for
   one: the loader marks every node it makes. */
void firec_doc_add_mark (struct firec_doc *doc, const cJSON *node, struct firec_mark value, struct firec_mark key);
/* Returns false (and {0,0}) for a node without a mark. Either out pointer may be NULL. */
bool firec_doc_get_mark (const struct firec_doc *doc, const cJSON *node, struct firec_mark *value,
                         struct firec_mark *key);

/* How a scalar was written, for what only the text knows: a message must not
   say "write the number without quotes" about an unquoted ${N}. */
enum firec_node_flag
{
  FIREC_NODE_QUOTED = 1u << 0,         /* quoted, or a block scalar: a string whatever it spells */
  FIREC_NODE_INTERPOLATED = 1u << 1,   /* its value went through ${...} expansion */
  FIREC_NODE_WHOLE_VARIABLE = 1u << 2, /* unquoted and exactly one ${...}: may take the field's type */
};

/* Adds flags to a node that has a mark (nothing otherwise); 0 for a node without. */
void firec_doc_add_flags (struct firec_doc *doc, const cJSON *node, unsigned flags);
unsigned firec_doc_get_flags (const struct firec_doc *doc, const cJSON *node);

/* Looks a node up by JSON pointer ("" is the root). */
const cJSON *firec_doc_at (const struct firec_doc *doc, const char *pointer);

#endif
