/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "yaml-emit.h"
#include "util.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

static int
write_to_buf (void *data, unsigned char *buffer, size_t size)
{
  firec_buf_append (data, (const char *) buffer, size);
  return 1;
}

/* Would a plain scalar with this text read back as anything but this string? */
static bool
needs_quotes (const char *s)
{
  static const char *const words[]
      = { "",      "~",   "null", "Null", "NULL", "true", "True", "TRUE", "false", "False",
          "FALSE", "yes", "Yes",  "YES",  "no",   "No",   "NO",   "on",   "On",    "ON",
          "off",   "Off", "OFF",  "y",    "Y",    "n",    "N",    ".inf", ".nan",  "-.inf" };
  for (size_t i = 0; i < FIREC_N_ELEMENTS (words); i++)
    if (strcmp (s, words[i]) == 0)
      return true;
  /* Anything number-like, in any YAML version: 12, -3, 0755, 0x1F, 1_000, 1:20, 1.5e3. */
  return strspn (s, "+-0123456789._:eExXoObBaAcCdDfF") == strlen (s) && strpbrk (s, "0123456789") != NULL;
}

static int
emit (yaml_emitter_t *e, yaml_event_t *ev)
{
  return yaml_emitter_emit (e, ev) ? 0 : -1;
}

static int
emit_scalar (yaml_emitter_t *e, const char *text, bool plain_ok)
{
  yaml_event_t ev;
  yaml_scalar_style_t style = plain_ok ? YAML_ANY_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
  if (!yaml_scalar_event_initialize (&ev, NULL, NULL, (yaml_char_t *) text, (int) strlen (text), plain_ok, 1, style))
    return -1;
  return emit (e, &ev);
}

static int
emit_node (yaml_emitter_t *e, const cJSON *node)
{
  yaml_event_t ev;
  char number[64];
  if (cJSON_IsObject (node))
    {
      if (!yaml_mapping_start_event_initialize (&ev, NULL, NULL, 1,
                                                node->child ? YAML_BLOCK_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE)
          || emit (e, &ev) < 0)
        return -1;
      for (const cJSON *c = node->child; c; c = c->next)
        if (emit_scalar (e, c->string, !needs_quotes (c->string)) < 0 || emit_node (e, c) < 0)
          return -1;
      return yaml_mapping_end_event_initialize (&ev) ? emit (e, &ev) : -1;
    }
  if (cJSON_IsArray (node))
    {
      if (!yaml_sequence_start_event_initialize (&ev, NULL, NULL, 1,
                                                 node->child ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE)
          || emit (e, &ev) < 0)
        return -1;
      for (const cJSON *c = node->child; c; c = c->next)
        if (emit_node (e, c) < 0)
          return -1;
      return yaml_sequence_end_event_initialize (&ev) ? emit (e, &ev) : -1;
    }
  if (cJSON_IsString (node))
    return emit_scalar (e, node->valuestring, !needs_quotes (node->valuestring));
  if (cJSON_IsBool (node))
    return emit_scalar (e, cJSON_IsTrue (node) ? "true" : "false", true);
  if (cJSON_IsNull (node))
    return emit_scalar (e, "null", true);
  double d = node->valuedouble;
  if (floor (d) == d && fabs (d) < 9007199254740992.0)
    snprintf (number, sizeof number, "%.0f", d);
  else
    snprintf (number, sizeof number, "%.17g", d);
  return emit_scalar (e, number, true);
}

int
firec_yaml_emit (const cJSON *root, const char *header, char **ret, firec_error_t *err)
{
  struct firec_buf buf = { 0 };
  if (header)
    {
      const char *p = header;
      while (*p)
        {
          size_t n = strcspn (p, "\n");
          firec_buf_puts (&buf, "# ");
          firec_buf_append (&buf, p, n);
          firec_buf_puts (&buf, "\n");
          p += n + (p[n] == '\n');
        }
    }
  yaml_emitter_t e;
  yaml_event_t ev;
  if (!yaml_emitter_initialize (&e))
    return firec_error_set (err, 0, "cannot initialize the YAML emitter");
  yaml_emitter_set_output (&e, write_to_buf, &buf);
  yaml_emitter_set_unicode (&e, 1);
  yaml_emitter_set_width (&e, 120);
  yaml_emitter_set_indent (&e, 2);
  int rc = 0;
  if (!yaml_stream_start_event_initialize (&ev, YAML_UTF8_ENCODING) || emit (&e, &ev) < 0
      || !yaml_document_start_event_initialize (&ev, NULL, NULL, NULL, 1) || emit (&e, &ev) < 0
      || emit_node (&e, root) < 0 || !yaml_document_end_event_initialize (&ev, 1) || emit (&e, &ev) < 0
      || !yaml_stream_end_event_initialize (&ev) || emit (&e, &ev) < 0)
    rc = firec_error_set (err, 0, "cannot write YAML: %s", e.problem ? e.problem : "unknown error");
  yaml_emitter_delete (&e);
  if (rc < 0)
    {
      firec_buf_release (&buf);
      return -1;
    }
  *ret = firec_buf_steal (&buf);
  return 0;
}
