/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the test doubles (fake-firecracker, fake-jailer).
 *
 * The doubles reproduce what the real Rust binaries print, so these helpers
 * emulate Rust/musl formatting: io::Error Display/Debug with musl's strerror
 * texts, the utils::arg_parser crate used by both binaries, and the instance
 * id validator. Nothing here links libfirec: the doubles must stay
 * independent of the code they test.
 */
#ifndef FAKE_UTIL_H
#define FAKE_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FK_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ------------------------------------------------------------ versions */

enum fk_version {
	FK_V1_5_1, /* tag v1.5.1 */
	FK_V1_16,  /* tag v1.16.x */
};

/* Reads FAKE_FC_VERSION ("1.5.1" by default, or "1.16.0"/"1.16.1").
 * Exits 2 with a message on any other value. */
enum fk_version fk_version_from_env(const char **printed);

/* ------------------------------------------------------- string buffer */

struct sbuf {
	char *s;
	size_t len;
	size_t cap;
};

void sb_init(struct sbuf *b);
void sb_free(struct sbuf *b);
void sb_reset(struct sbuf *b);
void sb_putc(struct sbuf *b, char c);
void sb_putn(struct sbuf *b, const char *s, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) FK_PRINTF(2, 3);
void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap) FK_PRINTF(2, 0);
/* Rust `{:?}` of a &str: quotes, \" \\ \n \r \t and \u{..} escapes. */
void sb_rust_debug_str(struct sbuf *b, const char *s);
/* JSON string literal (quotes included). */
void sb_json_str(struct sbuf *b, const char *s);
char *sb_steal(struct sbuf *b);

/* ------------------------------------------------------- Rust io::Error */

/* strerror() as musl prints it (the release binaries are musl builds). */
const char *fk_strerror(int err);
/* The io::ErrorKind name Rust's Debug prints for an errno. */
const char *fk_errkind(int err);
/* `<strerror> (os error N)`: Display of io::Error. */
void sb_io_error(struct sbuf *b, int err);
/* `Os { code: N, kind: K, message: "..." }`: Debug of io::Error. */
void sb_io_error_debug(struct sbuf *b, int err);

/* ---------------------------------------------------- utils::arg_parser */

struct fk_arg {
	const char *name;
	bool takes_value;
	bool required;
	bool multiple;
	const char *requires;
	const char *forbids;
	const char *def;
	const char *help;
	/* filled by fk_args_parse */
	bool present;
	const char *value;
	const char **values;
	size_t nvalues;
};

struct fk_args {
	struct fk_arg *args;
	size_t nargs;
	char **extra; /* everything after the first "--" */
	size_t nextra;
	bool help;
	bool version;
};

/* Parses argv like utils::arg_parser. On error returns -1 and fills the
 * Display (`Found argument 'x' which wasn't expected, ...`) and the Debug
 * (`UnexpectedArgument("x")`) forms of the error. short_help: accept -h
 * (the parser learnt it in 1.9). */
int fk_args_parse(struct fk_args *a, int argc, char **argv, bool short_help, struct sbuf *err_display,
		  struct sbuf *err_debug);
struct fk_arg *fk_args_get(struct fk_args *a, const char *name);
/* user value, else default, else NULL */
const char *fk_args_value(struct fk_args *a, const char *name);
bool fk_args_flag(struct fk_args *a, const char *name);
void fk_args_help(struct fk_args *a, struct sbuf *out);
void fk_args_free(struct fk_args *a);

/* ----------------------------------------------------------- validators */

/* utils::validators::validate_instance_id. Returns 0 if valid, else -1 with
 * the Display (`Invalid char (_) at position 3`) and the Debug
 * (`InvalidChar('_', 3)`) forms. */
int fk_validate_instance_id(const char *id, struct sbuf *display, struct sbuf *debug);

/* ----------------------------------------------------------------- misc */

/* Parses a decimal u64 like Rust's str::parse::<u64>() (optional '+',
 * digits only, no overflow). */
bool fk_parse_u64(const char *s, uint64_t *out);
bool fk_parse_u32(const char *s, uint32_t *out);
/* Write everything (retrying on EINTR/partial writes). */
int fk_write_all(int fd, const void *buf, size_t len);
/* Closes every fd >= lowfd (close_range, falling back to /proc/self/fd). */
void fk_close_fds_from(int lowfd);
uint64_t fk_now_us(int clock_id);
char *fk_strdup(const char *s);
void *fk_xmalloc(size_t n);
void *fk_xcalloc(size_t n, size_t m);
void *fk_xrealloc(void *p, size_t n);

#endif
