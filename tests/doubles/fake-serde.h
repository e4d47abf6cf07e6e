/* SPDX-License-Identifier: Apache-2.0 */
/* A JSON parser that keeps what serde_json needs for its error messages
 * (byte offsets, raw number literals, duplicate keys), and a table-driven
 * validator that rejects bodies the way serde's derived Deserialize impls
 * do (deny_unknown_fields, required fields, integer ranges, enum variants).
 */
#ifndef FAKE_SERDE_H
#define FAKE_SERDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "fake-util.h"

enum jtype { JT_NULL, JT_BOOL, JT_NUM, JT_STR, JT_ARR, JT_OBJ };

struct jnode {
	enum jtype t;
	size_t start; /* offset of the first byte */
	size_t end;   /* offset of the last byte */
	bool b;
	char *s;     /* decoded string, or the raw number literal */
	bool is_int; /* number literal without '.', 'e', 'E' */
	bool neg;
	bool int_overflow; /* integer literal out of u64/i64: serde_json makes it f64 */
	uint64_t u;	   /* magnitude of an integer */
	double d;
	size_t n; /* array/object members */
	struct jnode **kids;
	char **keys;
	size_t *key_end; /* offset of the closing quote of each key */
};

struct jdoc {
	const char *text;
	size_t len;
	struct jnode *root;
};

/* Parses the whole text. On error returns -1 and writes the serde_json
 * message with its ` at line L column C` suffix. */
int jparse(struct jdoc *doc, const char *text, size_t len, struct sbuf *err);
void jdoc_free(struct jdoc *doc);
void jnode_free(struct jnode *n);
/* Last member named key (objects validated by sv_check have no dupes). */
const struct jnode *jget(const struct jnode *obj, const char *key);
cJSON *jnode_to_cjson(const struct jnode *n);

/* ----------------------------------------------------------- validator */

enum skind {
	SK_BOOL,
	SK_STRING,
	SK_PATH, /* PathBuf: expects "path string" */
	SK_U8,
	SK_U16,
	SK_U32,
	SK_U64,
	SK_USIZE,
	SK_I32,
	SK_STRUCT,
	SK_ENUM,
	SK_SEQ,	       /* Vec<elem> */
	SK_ANY,	       /* serde_json::Value */
	SK_MAC,	       /* utils::net::mac::MacAddr */
	SK_IPV4,       /* std::net::Ipv4Addr */
	SK_LEVEL,      /* logger LevelFilter (case-insensitive) */
	SK_VCPU151,    /* u8 with the v1.5.1 deserialize_vcpu_num checks */
	SK_SEMVER,     /* semver::Version */
	SK_STR_OR_OBJ, /* untagged: a path string or an inline object */
};

enum sopt {
	SO_REQ,	    /* plain field: missing is an error */
	SO_OPTION,  /* Option<T>: missing or null is None */
	SO_DEFAULT, /* #[serde(default)]: missing is fine, null is not */
};

struct sstruct;

struct sfield {
	const char *name;
	enum skind kind;
	enum sopt opt;
	const struct sstruct *sub;   /* SK_STRUCT, SK_SEQ of structs */
	enum skind elem;	     /* SK_SEQ element kind */
	const char *const *variants; /* SK_ENUM, NULL-terminated */
};

struct sstruct {
	const char *name; /* "struct BootSourceConfig" */
	bool deny_unknown;
	const struct sfield *fields; /* terminated by a NULL name */
};

/* Validates v against the struct. On error returns -1 and writes the serde
 * message (with its position suffix). */
int sv_check(const struct jdoc *doc, const struct sstruct *st, const struct jnode *v, struct sbuf *err);
/* Writes " at line L column C" for the byte at offset off. */
void sv_position(const struct jdoc *doc, size_t off, struct sbuf *out);
/* The string of a validated SK_IPV4: 0 and the 4 octets, or -1. */
int sv_parse_ipv4(const char *s, unsigned char out[4]);
int sv_parse_mac(const char *s, unsigned char out[6]);

#endif
