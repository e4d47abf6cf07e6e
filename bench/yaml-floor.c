/* SPDX-License-Identifier: Apache-2.0 */
/* The least any libyaml-based loader can pay per manifest: reads FILE once,
   then parses it N times with libyaml's event API exactly as yaml-load.c sets
   the parser up (whole buffer, UTF-8), doing nothing with the events but
   deleting them. bench/validate-profile.sh compares firec's validate + plan
   with this under callgrind. Usage: yaml-floor FILE [N] */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

int
main (int argc, char **argv)
{
  if (argc < 2)
    return 2;
  long n = argc > 2 ? atol (argv[2]) : 1;
  FILE *f = fopen (argv[1], "rbe");
  if (f == NULL)
    return 1;
  static unsigned char text[1 << 20];
  size_t len = fread (text, 1, sizeof text, f);
  fclose (f);
  long events = 0;
  for (long i = 0; i < n; i++)
    {
      yaml_parser_t parser;
      if (!yaml_parser_initialize (&parser))
        return 1;
      yaml_parser_set_input_string (&parser, text, len);
      yaml_parser_set_encoding (&parser, YAML_UTF8_ENCODING);
      for (bool end = false; !end; events++)
        {
          yaml_event_t event;
          if (!yaml_parser_parse (&parser, &event))
            {
              fprintf (stderr, "yaml-floor: %s\n", parser.problem ? parser.problem : "invalid YAML");
              return 1;
            }
          end = event.type == YAML_STREAM_END_EVENT;
          yaml_event_delete (&event);
        }
      yaml_parser_delete (&parser);
    }
  printf ("%ld events per parse\n", n ? events / n : 0);
  return 0;
}
