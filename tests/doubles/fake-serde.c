/* SPDX-License-Identifier: Apache-2.0 */
/* JSON parsing and serde-like validation for the fake Firecracker; see
 * fake-serde.h. Error texts and positions follow serde_json 1.0: `error()`
 * reports the last consumed byte, `peek_error()` the byte looked at. */
#include "config.h"

#include "fake-serde.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ parser */

struct jp {
	const char *t;
	size_t len;
	size_t i; /* bytes consumed */
	int depth;
	struct sbuf *err;
	const struct jdoc *doc;
};

static void pos_count(const char *t, size_t len, size_t count, struct sbuf *out)
{
	size_t line = 1, col = 0;

	if (count > len)
		count = len;
	for (size_t k = 0; k < count; k++) {
		if (t[k] == '\n') {
			line++;
			col = 0;
		} else {
			col++;
		}
	}
	sb_printf(out, " at line %zu column %zu", line, col);
}

void sv_position(const struct jdoc *doc, size_t count, struct sbuf *out)
{
	pos_count(doc->text, doc->len, count, out);
}

static int jp_error(struct jp *p, const char *msg)
{
	sb_puts(p->err, msg);
	pos_count(p->t, p->len, p->i, p->err);
	return -1;
}

static int jp_peek_error(struct jp *p, const char *msg)
{
	sb_puts(p->err, msg);
	pos_count(p->t, p->len, p->i + 1 < p->len ? p->i + 1 : p->len, p->err);
	return -1;
}

static int jp_ws(struct jp *p)
{
	while (p->i < p->len) {
		char c = p->t[p->i];
		if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			p->i++;
		else
			return (unsigned char)c;
	}
	return -1;
}

static struct jnode *jn_new(enum jtype t, size_t start)
{
	struct jnode *n = fk_xcalloc(1, sizeof *n);

	n->t = t;
	n->start = start;
	return n;
}

void jnode_free(struct jnode *n)
{
	if (!n)
		return;
	for (size_t k = 0; k < n->n; k++) {
		jnode_free(n->kids[k]);
		if (n->keys)
			free(n->keys[k]);
	}
	free(n->kids);
	free(n->keys);
	free(n->key_end);
	free(n->s);
	free(n);
}

static int jp_value(struct jp *p, struct jnode **out);

static int jp_ident(struct jp *p, const char *rest)
{
	for (; *rest; rest++) {
		if (p->i >= p->len)
			return jp_error(p, "EOF while parsing a value");
		if (p->t[p->i++] != *rest)
			return jp_error(p, "expected ident");
	}
	return 0;
}

static void put_utf8(struct sbuf *b, uint32_t cp)
{
	if (cp < 0x80) {
		sb_putc(b, (char)cp);
	} else if (cp < 0x800) {
		sb_putc(b, (char)(0xc0 | (cp >> 6)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_putc(b, (char)(0xe0 | (cp >> 12)));
		sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	} else {
		sb_putc(b, (char)(0xf0 | (cp >> 18)));
		sb_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
		sb_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_putc(b, (char)(0x80 | (cp & 0x3f)));
	}
}

static int jp_hex4(struct jp *p, uint32_t *out)
{
	uint32_t v = 0;

	for (int k = 0; k < 4; k++) {
		char c;
		if (p->i >= p->len)
			return jp_error(p, "EOF while parsing a string");
		c = p->t[p->i++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return jp_error(p, "invalid escape");
	}
	*out = v;
	return 0;
}

/* p->i is just past the opening quote. */
static int jp_string(struct jp *p, char **out)
{
	struct sbuf b;

	sb_init(&b);
	sb_putn(&b, "", 0);
	for (;;) {
		unsigned char c;

		if (p->i >= p->len) {
			sb_free(&b);
			return jp_error(p, "EOF while parsing a string");
		}
		c = (unsigned char)p->t[p->i++];
		if (c == '"')
			break;
		if (c < 0x20) {
			sb_free(&b);
			return jp_error(p, "control character (\\u0000-\\u001F) found while parsing a string");
		}
		if (c != '\\') {
			sb_putc(&b, (char)c);
			continue;
		}
		if (p->i >= p->len) {
			sb_free(&b);
			return jp_error(p, "EOF while parsing a string");
		}
		c = (unsigned char)p->t[p->i++];
		switch (c) {
		case '"':
			sb_putc(&b, '"');
			break;
		case '\\':
			sb_putc(&b, '\\');
			break;
		case '/':
			sb_putc(&b, '/');
			break;
		case 'b':
			sb_putc(&b, '\b');
			break;
		case 'f':
			sb_putc(&b, '\f');
			break;
		case 'n':
			sb_putc(&b, '\n');
			break;
		case 'r':
			sb_putc(&b, '\r');
			break;
		case 't':
			sb_putc(&b, '\t');
			break;
		case 'u': {
			uint32_t cp, lo;
			if (jp_hex4(p, &cp) < 0) {
				sb_free(&b);
				return -1;
			}
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (p->i + 1 >= p->len || p->t[p->i] != '\\' || p->t[p->i + 1] != 'u') {
					sb_free(&b);
					return jp_error(p, "lone leading surrogate in hex escape");
				}
				p->i += 2;
				if (jp_hex4(p, &lo) < 0) {
					sb_free(&b);
					return -1;
				}
				if (lo < 0xdc00 || lo > 0xdfff) {
					sb_free(&b);
					return jp_error(p, "lone leading surrogate in hex escape");
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				sb_free(&b);
				return jp_error(p, "lone leading surrogate in hex escape");
			}
			put_utf8(&b, cp);
			break;
		}
		default:
			sb_free(&b);
			return jp_error(p, "invalid escape");
		}
	}
	*out = sb_steal(&b);
	return 0;
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int jp_peek(struct jp *p)
{
	return p->i < p->len ? (unsigned char)p->t[p->i] : -1;
}

/* p->i is at the first digit (after an optional '-'). */
static int jp_number(struct jp *p, struct jnode *n, size_t start)
{
	int c;
	bool overflow = false;
	uint64_t v = 0;

	c = p->i < p->len ? (unsigned char)p->t[p->i++] : 0;
	if (c == '0') {
		if (is_digit(jp_peek(p)))
			return jp_peek_error(p, "invalid number");
	} else if (c >= '1' && c <= '9') {
		v = (uint64_t)(c - '0');
		while (is_digit(jp_peek(p))) {
			int d = p->t[p->i++] - '0';
			if (v > (UINT64_MAX - (uint64_t)d) / 10)
				overflow = true;
			else
				v = v * 10 + (uint64_t)d;
		}
	} else {
		return jp_error(p, "invalid number");
	}
	n->is_int = true;
	if (jp_peek(p) == '.') {
		p->i++;
		n->is_int = false;
		if (!is_digit(jp_peek(p))) {
			if (p->i < p->len)
				return jp_peek_error(p, "invalid number");
			return jp_peek_error(p, "EOF while parsing a value");
		}
		while (is_digit(jp_peek(p)))
			p->i++;
	}
	if (jp_peek(p) == 'e' || jp_peek(p) == 'E') {
		p->i++;
		n->is_int = false;
		if (jp_peek(p) == '+' || jp_peek(p) == '-')
			p->i++;
		c = p->i < p->len ? (unsigned char)p->t[p->i++] : 0;
		if (!is_digit(c))
			return jp_error(p, "invalid number");
		while (is_digit(jp_peek(p)))
			p->i++;
	}
	n->end = p->i - 1;
	n->s = fk_xmalloc(p->i - start + 1);
	memcpy(n->s, p->t + start, p->i - start);
	n->s[p->i - start] = '\0';
	n->d = strtod(n->s, NULL);
	if (!n->is_int && isinf(n->d))
		return jp_error(p, "number out of range");
	if (n->is_int) {
		/* serde_json turns integers that fit neither u64 nor i64 into f64 */
		if (overflow || (n->neg && v > (uint64_t)INT64_MAX + 1)) {
			n->is_int = false;
			n->int_overflow = true;
		}
		n->u = v;
	}
	return 0;
}

static int jp_array(struct jp *p, struct jnode *n)
{
	bool first = true;

	for (;;) {
		int c = jp_ws(p);
		struct jnode *kid;

		if (c == ']') {
			p->i++;
			n->end = p->i - 1;
			return 0;
		}
		if (c == ',' && !first) {
			p->i++;
			c = jp_ws(p);
		} else if (c < 0) {
			return jp_peek_error(p, "EOF while parsing a list");
		} else if (!first) {
			return jp_peek_error(p, "expected `,` or `]`");
		}
		first = false;
		if (c == ']')
			return jp_peek_error(p, "trailing comma");
		if (c < 0)
			return jp_peek_error(p, "EOF while parsing a value");
		if (jp_value(p, &kid) < 0)
			return -1;
		n->kids = fk_xrealloc(n->kids, (n->n + 1) * sizeof *n->kids);
		n->kids[n->n++] = kid;
	}
}

static int jp_object(struct jp *p, struct jnode *n)
{
	bool first = true;

	for (;;) {
		int c = jp_ws(p);
		char *key;
		size_t key_end;
		struct jnode *kid;

		if (c == '}') {
			p->i++;
			n->end = p->i - 1;
			return 0;
		}
		if (c == ',' && !first) {
			p->i++;
			c = jp_ws(p);
		} else if (c < 0) {
			return jp_peek_error(p, "EOF while parsing an object");
		} else if (!first) {
			return jp_peek_error(p, "expected `,` or `}`");
		}
		first = false;
		if (c == '}')
			return jp_peek_error(p, "trailing comma");
		if (c < 0)
			return jp_peek_error(p, "EOF while parsing a value");
		if (c != '"')
			return jp_peek_error(p, "key must be a string");
		p->i++;
		if (jp_string(p, &key) < 0)
			return -1;
		key_end = p->i - 1;
		c = jp_ws(p);
		if (c != ':') {
			free(key);
			if (c < 0)
				return jp_peek_error(p, "EOF while parsing an object");
			return jp_peek_error(p, "expected `:`");
		}
		p->i++;
		if (jp_value(p, &kid) < 0) {
			free(key);
			return -1;
		}
		n->kids = fk_xrealloc(n->kids, (n->n + 1) * sizeof *n->kids);
		n->keys = fk_xrealloc(n->keys, (n->n + 1) * sizeof *n->keys);
		n->key_end = fk_xrealloc(n->key_end, (n->n + 1) * sizeof *n->key_end);
		n->kids[n->n] = kid;
		n->keys[n->n] = key;
		n->key_end[n->n] = key_end;
		n->n++;
	}
}

static int jp_value(struct jp *p, struct jnode **out)
{
	int c = jp_ws(p);
	struct jnode *n;
	int rc = 0;

	if (c < 0)
		return jp_peek_error(p, "EOF while parsing a value");
	switch (c) {
	case 'n':
		n = jn_new(JT_NULL, p->i);
		p->i++;
		rc = jp_ident(p, "ull");
		break;
	case 't':
		n = jn_new(JT_BOOL, p->i);
		n->b = true;
		p->i++;
		rc = jp_ident(p, "rue");
		break;
	case 'f':
		n = jn_new(JT_BOOL, p->i);
		p->i++;
		rc = jp_ident(p, "alse");
		break;
	case '-':
		n = jn_new(JT_NUM, p->i);
		n->neg = true;
		p->i++;
		rc = jp_number(p, n, n->start);
		break;
	case '"':
		n = jn_new(JT_STR, p->i);
		p->i++;
		rc = jp_string(p, &n->s);
		break;
	case '[':
	case '{':
		if (++p->depth > 128) {
			p->i++;
			return jp_error(p, "recursion limit exceeded");
		}
		n = jn_new(c == '[' ? JT_ARR : JT_OBJ, p->i);
		p->i++;
		rc = c == '[' ? jp_array(p, n) : jp_object(p, n);
		p->depth--;
		break;
	default:
		if (is_digit(c)) {
			n = jn_new(JT_NUM, p->i);
			rc = jp_number(p, n, n->start);
			break;
		}
		return jp_peek_error(p, "expected value");
	}
	if (rc < 0) {
		jnode_free(n);
		return -1;
	}
	if (n->t != JT_ARR && n->t != JT_OBJ && n->t != JT_NUM)
		n->end = p->i - 1;
	*out = n;
	return 0;
}

int jparse(struct jdoc *doc, const char *text, size_t len, struct sbuf *err)
{
	struct jp p = {.t = text, .len = len, .i = 0, .depth = 0, .err = err, .doc = doc};

	doc->text = text;
	doc->len = len;
	doc->root = NULL;
	if (jp_value(&p, &doc->root) < 0)
		return -1;
	if (jp_ws(&p) >= 0) {
		jnode_free(doc->root);
		doc->root = NULL;
		return jp_peek_error(&p, "trailing characters");
	}
	return 0;
}

void jdoc_free(struct jdoc *doc)
{
	jnode_free(doc->root);
	doc->root = NULL;
}

const struct jnode *jget(const struct jnode *obj, const char *key)
{
	const struct jnode *found = NULL;

	if (!obj || obj->t != JT_OBJ)
		return NULL;
	for (size_t k = 0; k < obj->n; k++)
		if (strcmp(obj->keys[k], key) == 0)
			found = obj->kids[k];
	return found;
}

cJSON *jnode_to_cjson(const struct jnode *n)
{
	cJSON *o;

	switch (n->t) {
	case JT_NULL:
		return cJSON_CreateNull();
	case JT_BOOL:
		return cJSON_CreateBool(n->b);
	case JT_NUM:
		if (n->is_int)
			return cJSON_CreateNumber(n->neg ? -(double)n->u : (double)n->u);
		return cJSON_CreateNumber(n->d);
	case JT_STR:
		return cJSON_CreateString(n->s);
	case JT_ARR:
		o = cJSON_CreateArray();
		for (size_t k = 0; k < n->n; k++)
			cJSON_AddItemToArray(o, jnode_to_cjson(n->kids[k]));
		return o;
	case JT_OBJ:
		/* serde_json::Value keeps the last of duplicate keys */
		o = cJSON_CreateObject();
		for (size_t k = 0; k < n->n; k++) {
			if (cJSON_GetObjectItemCaseSensitive(o, n->keys[k]))
				cJSON_DeleteItemFromObjectCaseSensitive(o, n->keys[k]);
			cJSON_AddItemToObject(o, n->keys[k], jnode_to_cjson(n->kids[k]));
		}
		return o;
	}
	return cJSON_CreateNull();
}

/* ---------------------------------------------------------- validator */

struct sv {
	const struct jdoc *doc;
	struct sbuf *err;
	/* An error created outside serde_json's deserialize_* calls (custom
	 * deserializers, derive's unknown/missing/duplicate field) gets its
	 * position from the innermost enclosing deserialize_struct. */
	bool unpositioned;
	size_t cur; /* bytes consumed when that error was created */
};

static void unexpected(struct sbuf *b, const struct jnode *v)
{
	switch (v->t) {
	case JT_NULL:
		sb_puts(b, "null");
		break;
	case JT_BOOL:
		sb_printf(b, "boolean `%s`", v->b ? "true" : "false");
		break;
	case JT_NUM:
		if (v->is_int) {
			sb_printf(b, "integer `%s%llu`", v->neg ? "-" : "", (unsigned long long)v->u);
		} else {
			char buf[64];
			snprintf(buf, sizeof buf, "%.17g", v->d);
			/* shortest form that round-trips, like ryu */
			for (int prec = 1; prec <= 17; prec++) {
				snprintf(buf, sizeof buf, "%.*g", prec, v->d);
				if (strtod(buf, NULL) == v->d)
					break;
			}
			if (!strpbrk(buf, ".eEn"))
				strcat(buf, ".0");
			sb_printf(b, "floating point `%s`", buf);
		}
		break;
	case JT_STR:
		sb_puts(b, "string ");
		sb_rust_debug_str(b, v->s);
		break;
	case JT_ARR:
		sb_puts(b, "sequence");
		break;
	case JT_OBJ:
		sb_puts(b, "map");
		break;
	}
}

static size_t after_value(const struct jnode *v)
{
	/* scalars are consumed by peek_invalid_type; containers are not */
	return (v->t == JT_ARR || v->t == JT_OBJ) ? v->start : v->end + 1;
}

static int invalid_type(struct sv *s, const struct jnode *v, const char *expected)
{
	sb_puts(s->err, "invalid type: ");
	unexpected(s->err, v);
	sb_printf(s->err, ", expected %s", expected);
	sv_position(s->doc, after_value(v), s->err);
	return -1;
}

static void list_names(struct sbuf *b, const char *what, const char *got, const char *const *names, size_t n)
{
	sb_printf(b, "unknown %s `%s`, ", what, got);
	if (n == 0) {
		sb_printf(b, "there are no %ss", what);
	} else if (n == 1) {
		sb_printf(b, "expected `%s`", names[0]);
	} else if (n == 2) {
		sb_printf(b, "expected `%s` or `%s`", names[0], names[1]);
	} else {
		sb_puts(b, "expected one of ");
		for (size_t k = 0; k < n; k++)
			sb_printf(b, "%s`%s`", k ? ", " : "", names[k]);
	}
}

static int check_uint(struct sv *s, const struct jnode *v, uint64_t max, const char *name)
{
	if (v->t != JT_NUM)
		return invalid_type(s, v, name);
	if (!v->is_int) {
		sb_puts(s->err, "invalid type: ");
		unexpected(s->err, v);
		sb_printf(s->err, ", expected %s", name);
		sv_position(s->doc, v->end + 1, s->err);
		return -1;
	}
	if (v->neg ? v->u != 0 : v->u > max) {
		sb_puts(s->err, "invalid value: ");
		unexpected(s->err, v);
		sb_printf(s->err, ", expected %s", name);
		sv_position(s->doc, v->end + 1, s->err);
		return -1;
	}
	return 0;
}

static int custom_error(struct sv *s, const struct jnode *v, const char *msg)
{
	sb_puts(s->err, msg);
	s->unpositioned = true;
	s->cur = v->end + 1;
	return -1;
}

int sv_parse_ipv4(const char *str, unsigned char out[4])
{
	const char *p = str;

	for (int k = 0; k < 4; k++) {
		unsigned v = 0;
		int digits = 0;

		if (k > 0) {
			if (*p != '.')
				return -1;
			p++;
		}
		if (!is_digit(*p))
			return -1;
		if (*p == '0' && is_digit(p[1]))
			return -1; /* Rust rejects leading zeros */
		while (is_digit(*p)) {
			v = v * 10 + (unsigned)(*p - '0');
			if (++digits > 3 || v > 255)
				return -1;
			p++;
		}
		out[k] = (unsigned char)v;
	}
	return *p ? -1 : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sv_parse_mac(const char *str, unsigned char out[6])
{
	/* MacAddr::from_str: six ':'-separated fields of exactly two chars,
	 * each parsed by u8::from_str_radix(16) (which takes a leading '+') */
	const char *p = str;

	for (int k = 0; k < 6; k++) {
		int h, l;
		if (k > 0) {
			if (*p != ':')
				return -1;
			p++;
		}
		if (!p[0] || !p[1] || p[0] == ':' || p[1] == ':')
			return -1;
		if (p[0] == '+') {
			l = hexval(p[1]);
			if (l < 0)
				return -1;
			out[k] = (unsigned char)l;
		} else {
			h = hexval(p[0]);
			l = hexval(p[1]);
			if (h < 0 || l < 0)
				return -1;
			out[k] = (unsigned char)(h * 16 + l);
		}
		p += 2;
	}
	return *p ? -1 : 0;
}

static bool semver_ok(const char *p)
{
	/* MAJOR.MINOR.PATCH with optional -pre and +build */
	for (int k = 0; k < 3; k++) {
		if (k > 0) {
			if (*p != '.')
				return false;
			p++;
		}
		if (!is_digit(*p) || (*p == '0' && is_digit(p[1])))
			return false;
		while (is_digit(*p))
			p++;
	}
	if (*p == '-' || *p == '+') {
		p++;
		if (!*p)
			return false;
		for (; *p; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      *p == '.' || *p == '-' || *p == '+'))
				return false;
	}
	return *p == '\0';
}

static int sv_struct(struct sv *s, const struct sstruct *st, const struct jnode *v);

static int sv_kind(struct sv *s, const struct sfield *f, enum skind kind, const struct jnode *v)
{
	switch (kind) {
	case SK_BOOL:
		return v->t == JT_BOOL ? 0 : invalid_type(s, v, "a boolean");
	case SK_STRING:
		return v->t == JT_STR ? 0 : invalid_type(s, v, "a string");
	case SK_PATH:
		return v->t == JT_STR ? 0 : invalid_type(s, v, "path string");
	case SK_U8:
		return check_uint(s, v, UINT8_MAX, "u8");
	case SK_U16:
		return check_uint(s, v, UINT16_MAX, "u16");
	case SK_U32:
		return check_uint(s, v, UINT32_MAX, "u32");
	case SK_U64:
		return check_uint(s, v, UINT64_MAX, "u64");
	case SK_USIZE:
		return check_uint(s, v, UINT64_MAX, "usize");
	case SK_I32:
		if (v->t == JT_NUM && v->is_int && (v->neg ? v->u <= (uint64_t)INT32_MAX + 1 : v->u <= INT32_MAX))
			return 0;
		if (v->t == JT_NUM && v->is_int) {
			sb_puts(s->err, "invalid value: ");
			unexpected(s->err, v);
			sb_puts(s->err, ", expected i32");
			sv_position(s->doc, v->end + 1, s->err);
			return -1;
		}
		return invalid_type(s, v, "i32");
	case SK_VCPU151:
		if (check_uint(s, v, UINT8_MAX, "u8") < 0)
			return -1;
		if (v->u > 32)
			return custom_error(
			    s, v, "invalid value: vcpu_num, expected number of vCPUs exceeds the maximum limitation");
		if (v->u < 1)
			return custom_error(
			    s, v, "invalid value: vcpu_num, expected number of vCPUs should be larger than 0");
		return 0;
	case SK_STRUCT:
		return sv_struct(s, f->sub, v);
	case SK_ENUM: {
		size_t nv = 0;
		if (v->t != JT_STR) {
			sb_puts(s->err, "expected value");
			sv_position(s->doc, v->start + 1, s->err);
			return -1;
		}
		while (f->variants[nv])
			nv++;
		for (size_t k = 0; k < nv; k++)
			if (strcmp(f->variants[k], v->s) == 0)
				return 0;
		list_names(s->err, "variant", v->s, f->variants, nv);
		sv_position(s->doc, v->end + 1, s->err);
		return -1;
	}
	case SK_SEQ:
		if (v->t != JT_ARR)
			return invalid_type(s, v, "a sequence");
		for (size_t k = 0; k < v->n; k++)
			if (sv_kind(s, f, f->elem, v->kids[k]) < 0)
				return -1;
		return 0;
	case SK_ANY:
		return 0;
	case SK_MAC: {
		unsigned char mac[6];
		if (v->t != JT_STR)
			return invalid_type(s, v, "a string");
		if (sv_parse_mac(v->s, mac) < 0)
			return custom_error(s, v, "The provided MAC address is invalid.");
		return 0;
	}
	case SK_IPV4: {
		unsigned char ip[4];
		if (v->t != JT_STR)
			return invalid_type(s, v, "IPv4 address");
		if (sv_parse_ipv4(v->s, ip) < 0) {
			sb_puts(s->err, "invalid IPv4 address syntax");
			sv_position(s->doc, v->end + 1, s->err);
			return -1;
		}
		return 0;
	}
	case SK_LEVEL: {
		static const char *const levels[] = {"off", "trace", "debug", "info", "warn", "warning", "error"};
		if (v->t != JT_STR)
			return invalid_type(s, v, "a string");
		for (size_t k = 0; k < sizeof levels / sizeof levels[0]; k++)
			if (strcasecmp(v->s, levels[k]) == 0)
				return 0;
		return custom_error(s, v, "Invalid LevelFilter");
	}
	case SK_SEMVER:
		if (v->t != JT_STR)
			return invalid_type(s, v, "semver version");
		if (!semver_ok(v->s)) {
			sb_puts(s->err, "unexpected character while parsing major version number");
			sv_position(s->doc, v->end + 1, s->err);
			return -1;
		}
		return 0;
	case SK_STR_OR_OBJ:
		if (v->t == JT_STR)
			return 0;
		if (v->t == JT_OBJ)
			return f->sub ? sv_struct(s, f->sub, v) : 0;
		return custom_error(s, v, "data did not match any variant of untagged enum CustomCpuTemplateOrPath");
	}
	return 0;
}

/* Position an error the innermost deserialize_struct saw unpositioned:
 * end_map() has skipped whitespace and eaten a '}' that came next. */
static void position_here(struct sv *s)
{
	size_t k = s->cur;
	const char *t = s->doc->text;

	while (k < s->doc->len && (t[k] == ' ' || t[k] == '\n' || t[k] == '\t' || t[k] == '\r'))
		k++;
	if (k < s->doc->len && t[k] == '}')
		k++;
	sv_position(s->doc, k, s->err);
	s->unpositioned = false;
}

static int sv_struct(struct sv *s, const struct sstruct *st, const struct jnode *v)
{
	size_t nf = 0;
	bool *seen;
	const char **names;
	int rc = 0;

	if (v->t != JT_OBJ)
		return invalid_type(s, v, st->name);
	while (st->fields[nf].name)
		nf++;
	seen = fk_xcalloc(nf, sizeof *seen);
	names = fk_xcalloc(nf, sizeof *names);
	for (size_t k = 0; k < nf; k++)
		names[k] = st->fields[k].name;

	for (size_t m = 0; m < v->n && rc == 0; m++) {
		const char *key = v->keys[m];
		const struct jnode *val = v->kids[m];
		size_t k;

		for (k = 0; k < nf; k++)
			if (strcmp(names[k], key) == 0)
				break;
		if (k == nf) {
			if (st->deny_unknown) {
				list_names(s->err, "field", key, names, nf);
				s->unpositioned = true;
				s->cur = v->key_end[m] + 1;
				rc = -1;
			}
			continue;
		}
		if (seen[k]) {
			sb_printf(s->err, "duplicate field `%s`", key);
			s->unpositioned = true;
			s->cur = v->key_end[m] + 1;
			rc = -1;
			continue;
		}
		seen[k] = true;
		if (st->fields[k].opt == SO_OPTION && val->t == JT_NULL)
			continue;
		rc = sv_kind(s, &st->fields[k], st->fields[k].kind, val);
	}
	for (size_t k = 0; k < nf && rc == 0; k++) {
		if (!seen[k] && st->fields[k].opt == SO_REQ) {
			sb_printf(s->err, "missing field `%s`", names[k]);
			s->unpositioned = true;
			s->cur = v->end; /* the '}' was peeked, then end_map eats it */
			rc = -1;
		}
	}
	if (rc < 0 && s->unpositioned)
		position_here(s);
	free(seen);
	free(names);
	return rc;
}

int sv_check(const struct jdoc *doc, const struct sstruct *st, const struct jnode *v, struct sbuf *err)
{
	struct sv s = {.doc = doc, .err = err, .unpositioned = false, .cur = 0};

	return sv_struct(&s, st, v);
}
