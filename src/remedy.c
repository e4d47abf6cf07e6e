/* SPDX-License-Identifier: Apache-2.0 */
/* The firec-run commands that fix a VM's state or an error. */
#include "config.h"

#include "remedy.h"
#include "util.h"

#include <stdbool.h>
#include <stddef.h>

struct remedy_command
{
  const char *words[2]; /* after "firec-run", before the argument; none: no command */
  bool takes_arg;       /* else words are the whole command */
  const char *does;
};

/* The first command is the remedy; the second, when there is one, the
   alternative worth knowing. */
static const struct
{
  const char *kind; /* in the JSON result */
  struct remedy_command commands[2];
} remedies[] = {
  [FIREC_REMEDY_NONE] = { NULL, { { { NULL }, false, NULL } } },
  [FIREC_REMEDY_REMOVE] = { "remove", { { { "rm" }, true, "removes what is left of it" } } },
  [FIREC_REMEDY_FORCE_REMOVE]
  = { "force_remove", { { { "rm", "-f" }, true, "kills what still runs and removes what is left" } } },
  [FIREC_REMEDY_STOP]
  = { "stop", { { { "stop" }, true, "stops it" }, { { "apply", "FILE" }, false, "keeps or replaces it" } } },
  [FIREC_REMEDY_ATTACH]
  = { "attach", { { { "attach" }, true, "is its console again" }, { { "stop" }, true, "stops it" } } },
  [FIREC_REMEDY_RESTART]
  = { "restart",
      { { { "stop" }, true, "stops it" }, { { "apply", "FILE" }, false, "then starts it from the manifest" } } },
};

static const struct remedy_command *
command_of (enum firec_remedy remedy, const char *arg, size_t i)
{
  if (remedy <= FIREC_REMEDY_NONE || (size_t) remedy >= FIREC_N_ELEMENTS (remedies) || arg == NULL)
    return NULL;
  const struct remedy_command *c = &remedies[remedy].commands[i];
  return c->words[0] ? c : NULL;
}

static void
append_command (struct firec_buf *b, const struct remedy_command *c, const char *arg)
{
  firec_buf_printf (b, "`firec-run %s", c->words[0]);
  if (c->words[1])
    firec_buf_printf (b, " %s", c->words[1]);
  if (c->takes_arg)
    firec_buf_printf (b, " %s", arg);
  firec_buf_printf (b, "` %s", c->does);
}

char *
cli_remedy_text (enum firec_remedy remedy, const char *arg)
{
  const struct remedy_command *first = command_of (remedy, arg, 0);
  if (first == NULL)
    return NULL;
  struct firec_buf b = { 0 };
  append_command (&b, first, arg);
  const struct remedy_command *second = command_of (remedy, arg, 1);
  if (second)
    {
      firec_buf_printf (&b, ", ");
      append_command (&b, second, arg);
    }
  return firec_buf_steal (&b);
}

cJSON *
cli_remedy_json (enum firec_remedy remedy, const char *arg)
{
  const struct remedy_command *first = command_of (remedy, arg, 0);
  if (first == NULL)
    return NULL;
  cJSON *o = cJSON_CreateObject ();
  cJSON_AddStringToObject (o, "kind", remedies[remedy].kind);
  cJSON *argv = cJSON_AddArrayToObject (o, "argv");
  cJSON_AddItemToArray (argv, cJSON_CreateString ("firec-run"));
  for (size_t i = 0; i < FIREC_N_ELEMENTS (first->words) && first->words[i]; i++)
    cJSON_AddItemToArray (argv, cJSON_CreateString (first->words[i]));
  cJSON_AddItemToArray (argv, cJSON_CreateString (arg));
  cleanup_free char *text = cli_remedy_text (remedy, arg);
  cJSON_AddStringToObject (o, "text", text);
  return o;
}
