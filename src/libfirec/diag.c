/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "diag.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

void
firec_diags_add (struct firec_diags *diags, enum firec_severity severity, const char *file, unsigned line,
                 unsigned column, const char *path, const char *fmt, ...)
{
  if (diags->count == diags->cap)
    {
      diags->cap = diags->cap ? diags->cap * 2 : 16;
      diags->items = firec_xrealloc (diags->items, diags->cap * sizeof *diags->items);
    }
  va_list ap;
  va_start (ap, fmt);
  struct firec_diag *d = &diags->items[diags->count];
  d->severity = severity;
  d->file = firec_xstrdup (file ? file : "-");
  d->line = line;
  d->column = column;
  d->path = firec_xstrdup (path ? path : "");
  d->message = firec_xvasprintf (fmt, ap);
  d->seq = diags->count;
  diags->count++;
  va_end (ap);
}

static int
compare_diag (const void *a, const void *b)
{
  const struct firec_diag *x = a, *y = b;
  int c = strcmp (x->file, y->file);
  if (c)
    return c;
  if (x->line != y->line)
    return x->line < y->line ? -1 : 1;
  if (x->column != y->column)
    return x->column < y->column ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
firec_diags_sort (struct firec_diags *diags)
{
  if (diags->count > 1)
    qsort (diags->items, diags->count, sizeof *diags->items, compare_diag);
}

size_t
firec_diags_count (const struct firec_diags *diags, enum firec_severity severity)
{
  size_t n = 0;
  for (size_t i = 0; i < diags->count; i++)
    n += diags->items[i].severity == severity;
  return n;
}

void
firec_diags_release (struct firec_diags *diags)
{
  for (size_t i = 0; i < diags->count; i++)
    {
      free (diags->items[i].file);
      free (diags->items[i].path);
      free (diags->items[i].message);
    }
  free (diags->items);
  diags->items = NULL;
  diags->count = diags->cap = 0;
}

static const char *
severity_name (enum firec_severity s)
{
  switch (s)
    {
    case FIREC_SEV_ERROR:
      return "error";
    case FIREC_SEV_WARNING:
      return "warning";
    }
  return "error";
}

char *
firec_diag_format (const struct firec_diag *d)
{
  struct firec_buf buf = { 0 };
  firec_buf_puts (&buf, d->file);
  if (d->line)
    firec_buf_printf (&buf, ":%u:%u", d->line, d->column);
  firec_buf_printf (&buf, ": %s: ", severity_name (d->severity));
  if (d->path[0])
    firec_buf_printf (&buf, "%s: ", d->path);
  firec_buf_puts (&buf, d->message);
  return firec_buf_steal (&buf);
}

static void
format_severity (struct firec_buf *buf, const struct firec_diags *diags, enum firec_severity sev, size_t max)
{
  size_t shown = 0, total = 0;
  for (size_t i = 0; i < diags->count; i++)
    {
      if (diags->items[i].severity != sev)
        continue;
      total++;
      if (shown >= max)
        continue;
      cleanup_free char *line = firec_diag_format (&diags->items[i]);
      firec_buf_printf (buf, "%s\n", line);
      shown++;
    }
  if (total > shown)
    firec_buf_printf (buf, "... and %zu more %s%s\n", total - shown, severity_name (sev),
                      total - shown == 1 ? "" : "s");
}

char *
firec_diags_format_text (const struct firec_diags *diags, size_t max_errors)
{
  struct firec_buf buf = { 0 };
  format_severity (&buf, diags, FIREC_SEV_ERROR, max_errors);
  format_severity (&buf, diags, FIREC_SEV_WARNING, max_errors);
  return firec_buf_steal (&buf);
}

cJSON *
firec_diags_to_json (const struct firec_diags *diags)
{
  cJSON *arr = cJSON_CreateArray ();
  for (size_t i = 0; i < diags->count; i++)
    {
      const struct firec_diag *d = &diags->items[i];
      cJSON *o = cJSON_CreateObject ();
      cJSON_AddStringToObject (o, "severity", severity_name (d->severity));
      cJSON_AddStringToObject (o, "file", d->file);
      cJSON_AddStringToObject (o, "path", d->path);
      cJSON_AddNumberToObject (o, "line", d->line);
      cJSON_AddNumberToObject (o, "column", d->column);
      cJSON_AddStringToObject (o, "message", d->message);
      cJSON_AddItemToArray (arr, o);
    }
  return arr;
}

static void
append_token (struct firec_buf *buf, const char *token)
{
  firec_buf_puts (buf, "/");
  for (const char *p = token; *p; p++)
    {
      size_t n = strcspn (p, "~/");
      firec_buf_append (buf, p, n);
      p += n;
      if (*p == '\0')
        break;
      firec_buf_puts (buf, *p == '~' ? "~0" : "~1");
    }
}

char *
firec_json_pointer_append (const char *base, const char *token)
{
  struct firec_buf buf = { 0 };
  firec_buf_puts (&buf, base);
  append_token (&buf, token);
  return firec_buf_steal (&buf);
}

char *
firec_json_pointer_append_index (const char *base, size_t index)
{
  char digits[FIREC_DECIMAL_MAX];
  return firec_xstrjoin (base, "/", firec_decimal (index, digits), NULL);
}

static void
append_path (struct firec_buf *buf, const struct firec_path *path)
{
  if (path == NULL)
    return;
  append_path (buf, path->parent);
  if (path->key)
    append_token (buf, path->key);
  else
    {
      char digits[FIREC_DECIMAL_MAX];
      firec_buf_puts (buf, "/");
      firec_buf_puts (buf, firec_decimal (path->index, digits));
    }
}

char *
firec_path_string (const struct firec_path *path)
{
  struct firec_buf buf = { 0 };
  append_path (&buf, path);
  return firec_buf_steal (&buf);
}
