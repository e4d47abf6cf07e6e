/* SPDX-License-Identifier: Apache-2.0 */
/* The manifest schema, assembled into the binary so that validation needs no
   installed data file. .incbin keeps the build free of generated sources. */
#include "config.h"

#include "schema.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        ".type firec_schema_json_start, @object\n"
        "firec_schema_json_start:\n"
        ".incbin \"" FIREC_SCHEMA_FILE "\"\n"
        ".byte 0\n"
        ".type firec_schema_json_end, @object\n"
        "firec_schema_json_end:\n"
        ".balign 16\n"
        ".type firec_validation_schema_json_start, @object\n"
        "firec_validation_schema_json_start:\n"
        ".incbin \"" FIREC_VALIDATION_SCHEMA_FILE "\"\n"
        ".byte 0\n"
        ".previous\n");

extern const char firec_schema_json_start[];
extern const char firec_schema_json_end[];
extern const char firec_validation_schema_json_start[];

const char *
firec_schema_text (size_t *len)
{
  if (len)
    *len = (size_t) (firec_schema_json_end - firec_schema_json_start) - 1;
  return firec_schema_json_start;
}

const char *
firec_schema_validation_text (void)
{
  return firec_validation_schema_json_start;
}
