/* SPDX-License-Identifier: Apache-2.0 */
/* How the command line phrases what the user can do (enum firec_remedy, set
   by the library): shared by firec-run and firec-supervise, so that the
   library never spells a command line. */
#ifndef FIREC_REMEDY_H
#define FIREC_REMEDY_H

#include <cjson/cJSON.h>

#include "error.h"

/* The sentence ("`firec-run rm web` removes what is left of it"), or NULL
   for FIREC_REMEDY_NONE. Malloc'ed. */
char *cli_remedy_text (enum firec_remedy remedy, const char *arg);
/* {"kind", "argv", "text"} for the JSON result, or NULL for none. */
cJSON *cli_remedy_json (enum firec_remedy remedy, const char *arg);

#endif
