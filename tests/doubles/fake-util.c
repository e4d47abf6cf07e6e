/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the test doubles; see fake-util.h. */
#include "config.h"

#include "fake-util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- memory */

void *fk_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

void *fk_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		abort();
	return p;
}

void *fk_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		abort();
	return q;
}

char *fk_strdup(const char *s)
{
	char *d;
	size_t n;

	if (!s)
		return NULL;
	n = strlen(s);
	d = fk_xmalloc(n + 1);
	memcpy(d, s, n + 1);
	return d;
}

/* ------------------------------------------------------------ version */

enum fk_version fk_version_from_env(const char **printed)
{
	const char *v = getenv("FAKE_FC_VERSION");

	if (!v || !*v || strcmp(v, "1.5.1") == 0) {
		*printed = "1.5.1";
		return FK_V1_5_1;
	}
	if (strcmp(v, "1.16.0") == 0 || strcmp(v, "1.16.1") == 0) {
		*printed = v;
		return FK_V1_16;
	}
	fprintf(stderr, "fake double: unsupported FAKE_FC_VERSION '%s' (use 1.5.1 or 1.16.0)\n", v);
	exit(2);
}

/* ------------------------------------------------------- string buffer */

void sb_init(struct sbuf *b)
{
	b->s = NULL;
	b->len = 0;
	b->cap = 0;
}

void sb_free(struct sbuf *b)
{
	free(b->s);
	sb_init(b);
}

void sb_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->s)
		b->s[0] = '\0';
}

static void sb_grow(struct sbuf *b, size_t extra)
{
	size_t need = b->len + extra + 1;

	if (need <= b->cap)
		return;
	if (b->cap == 0)
		b->cap = 64;
	while (b->cap < need)
		b->cap *= 2;
	b->s = fk_xrealloc(b->s, b->cap);
}

void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (n)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_putc(struct sbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

void sb_vprintf(struct sbuf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	/* Said, not assumed: GCC 12 at -O1 with -fsanitize=undefined otherwise
	 * warns of a "null format string" (-Wformat-truncation). */
	if (!fmt)
		abort();
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		abort();
	sb_grow(b, (size_t)n);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sb_vprintf(b, fmt, ap);
	va_end(ap);
}

char *sb_steal(struct sbuf *b)
{
	char *s;

	if (!b->s)
		sb_grow(b, 0), b->s[0] = '\0';
	s = b->s;
	sb_init(b);
	return s;
}

void sb_rust_debug_str(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	sb_putc(b, '"');
	for (; *p; p++) {
		switch (*p) {
		case '"':
			sb_puts(b, "\\\"");
			break;
		case '\\':
			sb_puts(b, "\\\\");
			break;
		case '\n':
			sb_puts(b, "\\n");
			break;
		case '\r':
			sb_puts(b, "\\r");
			break;
		case '\t':
			sb_puts(b, "\\t");
			break;
		case '\0':
			sb_puts(b, "\\0");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				sb_printf(b, "\\u{%x}", *p);
			else
				sb_putc(b, (char)*p);
		}
	}
	sb_putc(b, '"');
}

void sb_json_str(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	sb_putc(b, '"');
	for (; *p; p++) {
		switch (*p) {
		case '"':
			sb_puts(b, "\\\"");
			break;
		case '\\':
			sb_puts(b, "\\\\");
			break;
		case '\n':
			sb_puts(b, "\\n");
			break;
		case '\r':
			sb_puts(b, "\\r");
			break;
		case '\t':
			sb_puts(b, "\\t");
			break;
		case '\b':
			sb_puts(b, "\\b");
			break;
		case '\f':
			sb_puts(b, "\\f");
			break;
		default:
			if (*p < 0x20)
				sb_printf(b, "\\u%04x", *p);
			else
				sb_putc(b, (char)*p);
		}
	}
	sb_putc(b, '"');
}

/* ------------------------------------------------------- Rust io::Error */

struct errtext {
	int err;
	const char *musl;
	const char *kind;
};

/* musl's __strerror.h texts and std's decode_error_kind(), for the errnos a
 * double can meet. */
static const struct errtext errtexts[] = {
    {EPERM, "Operation not permitted", "PermissionDenied"},
    {ENOENT, "No such file or directory", "NotFound"},
    {ESRCH, "No such process", "Uncategorized"},
    {EINTR, "Interrupted system call", "Interrupted"},
    {EIO, "I/O error", "Uncategorized"},
    {ENXIO, "No such device or address", "Uncategorized"},
    {E2BIG, "Argument list too long", "ArgumentListTooLong"},
    {ENOEXEC, "Exec format error", "Uncategorized"},
    {EBADF, "Bad file descriptor", "Uncategorized"},
    {ECHILD, "No child process", "Uncategorized"},
    {EAGAIN, "Resource temporarily unavailable", "WouldBlock"},
    {ENOMEM, "Out of memory", "OutOfMemory"},
    {EACCES, "Permission denied", "PermissionDenied"},
    {EFAULT, "Bad address", "Uncategorized"},
    {EBUSY, "Resource busy", "ResourceBusy"},
    {EEXIST, "File exists", "AlreadyExists"},
    {EXDEV, "Cross-device link", "CrossesDevices"},
    {ENODEV, "No such device", "Uncategorized"},
    {ENOTDIR, "Not a directory", "NotADirectory"},
    {EISDIR, "Is a directory", "IsADirectory"},
    {EINVAL, "Invalid argument", "InvalidInput"},
    {ENFILE, "Too many open files in system", "Uncategorized"},
    {EMFILE, "No file descriptors available", "Uncategorized"},
    {ENOTTY, "Not a tty", "Uncategorized"},
    {ETXTBSY, "Text file busy", "ExecutableFileBusy"},
    {EFBIG, "File too large", "FileTooLarge"},
    {ENOSPC, "No space left on device", "StorageFull"},
    {ESPIPE, "Invalid seek", "NotSeekable"},
    {EROFS, "Read-only file system", "ReadOnlyFilesystem"},
    {EMLINK, "Too many links", "TooManyLinks"},
    {EPIPE, "Broken pipe", "BrokenPipe"},
    {ENAMETOOLONG, "Filename too long", "InvalidFilename"},
    {ENOSYS, "Function not implemented", "Unsupported"},
    {ENOTEMPTY, "Directory not empty", "DirectoryNotEmpty"},
    {ELOOP, "Symbolic link loop", "FilesystemLoop"},
    {ENOTSOCK, "Not a socket", "Uncategorized"},
    {EADDRINUSE, "Address in use", "AddrInUse"},
    {EADDRNOTAVAIL, "Address not available", "AddrNotAvailable"},
    {ECONNRESET, "Connection reset by peer", "ConnectionReset"},
    {ECONNREFUSED, "Connection refused", "ConnectionRefused"},
    {ETIMEDOUT, "Operation timed out", "TimedOut"},
    {ENOTCONN, "Socket not connected", "NotConnected"},
    {EDQUOT, "Quota exceeded", "FilesystemQuotaExceeded"},
};

const char *fk_strerror(int err)
{
	for (size_t i = 0; i < sizeof errtexts / sizeof errtexts[0]; i++)
		if (errtexts[i].err == err)
			return errtexts[i].musl;
	return strerror(err);
}

const char *fk_errkind(int err)
{
	for (size_t i = 0; i < sizeof errtexts / sizeof errtexts[0]; i++)
		if (errtexts[i].err == err)
			return errtexts[i].kind;
	return "Uncategorized";
}

void sb_io_error(struct sbuf *b, int err)
{
	sb_printf(b, "%s (os error %d)", fk_strerror(err), err);
}

void sb_io_error_debug(struct sbuf *b, int err)
{
	sb_printf(b, "Os { code: %d, kind: %s, message: ", err, fk_errkind(err));
	sb_rust_debug_str(b, fk_strerror(err));
	sb_puts(b, " }");
}

/* ---------------------------------------------------- utils::arg_parser */

struct fk_arg *fk_args_get(struct fk_args *a, const char *name)
{
	for (size_t i = 0; i < a->nargs; i++)
		if (strcmp(a->args[i].name, name) == 0)
			return &a->args[i];
	return NULL;
}

const char *fk_args_value(struct fk_args *a, const char *name)
{
	struct fk_arg *arg = fk_args_get(a, name);

	if (!arg)
		return NULL;
	if (arg->present)
		return arg->value;
	return arg->def;
}

bool fk_args_flag(struct fk_args *a, const char *name)
{
	struct fk_arg *arg = fk_args_get(a, name);

	return arg && arg->present && !arg->takes_value;
}

static bool argv_contains(int n, char **v, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static bool argv_contains_flag(int n, char **v, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strncmp(v[i], "--", 2) == 0 && strcmp(v[i] + 2, name) == 0)
			return true;
	return false;
}

static int cmp_arg_name(const void *x, const void *y)
{
	const struct fk_arg *const *a = x;
	const struct fk_arg *const *b = y;

	return strcmp((*a)->name, (*b)->name);
}

/* The BTreeMap of the Rust parser iterates in name order. */
static struct fk_arg **sorted_args(struct fk_args *a)
{
	struct fk_arg **v = fk_xcalloc(a->nargs, sizeof *v);

	for (size_t i = 0; i < a->nargs; i++)
		v[i] = &a->args[i];
	qsort(v, a->nargs, sizeof *v, cmp_arg_name);
	return v;
}

int fk_args_parse(struct fk_args *a, int argc, char **argv, bool short_help, struct sbuf *disp, struct sbuf *dbg)
{
	int n = argc - 1;
	char **v = argv + 1;
	int sep = -1;

	for (int i = 0; i < n; i++)
		if (strcmp(v[i], "--") == 0) {
			sep = i;
			break;
		}
	if (sep >= 0) {
		a->extra = v + sep + 1;
		a->nextra = (size_t)(n - sep - 1);
		n = sep;
	} else {
		a->extra = NULL;
		a->nextra = 0;
	}

	if (argv_contains(n, v, "--help") || (short_help && argv_contains(n, v, "-h"))) {
		a->help = true;
		return 0;
	}
	if (argv_contains(n, v, "--version")) {
		a->version = true;
		return 0;
	}

	for (int i = 0; i < n; i++) {
		const char *arg = v[i];
		struct fk_arg *def;

		if (strncmp(arg, "--", 2) != 0) {
			sb_printf(disp, "Found argument '%s' which wasn't expected, or isn't valid in this context.",
				  arg);
			sb_puts(dbg, "UnexpectedArgument(");
			sb_rust_debug_str(dbg, arg);
			sb_puts(dbg, ")");
			return -1;
		}
		def = fk_args_get(a, arg + 2);
		if (!def) {
			sb_printf(disp, "Found argument '%s' which wasn't expected, or isn't valid in this context.",
				  arg + 2);
			sb_puts(dbg, "UnexpectedArgument(");
			sb_rust_debug_str(dbg, arg + 2);
			sb_puts(dbg, ")");
			return -1;
		}
		if (!def->multiple && def->present) {
			sb_printf(disp, "The argument '%s' was provided more than once.", def->name);
			sb_puts(dbg, "DuplicateArgument(");
			sb_rust_debug_str(dbg, def->name);
			sb_puts(dbg, ")");
			return -1;
		}
		if (def->takes_value) {
			if (i + 1 >= n || strncmp(v[i + 1], "--", 2) == 0) {
				sb_printf(disp, "The argument '%s' requires a value, but none was supplied.",
					  def->name);
				sb_puts(dbg, "MissingValue(");
				sb_rust_debug_str(dbg, def->name);
				sb_puts(dbg, ")");
				return -1;
			}
			i++;
			if (def->multiple) {
				def->values = fk_xrealloc(def->values, (def->nvalues + 1) * sizeof *def->values);
				def->values[def->nvalues++] = v[i];
			}
			def->value = v[i];
		}
		def->present = true;
	}

	{
		struct fk_arg **sorted = sorted_args(a);
		int rc = 0;

		for (size_t k = 0; k < a->nargs && rc == 0; k++) {
			struct fk_arg *arg = sorted[k];

			if (arg->required && !arg->present) {
				sb_printf(disp, "Argument '%s' required, but not found.", arg->name);
				sb_puts(dbg, "MissingArgument(");
				sb_rust_debug_str(dbg, arg->name);
				sb_puts(dbg, ")");
				rc = -1;
			} else if (arg->present) {
				if (arg->requires && !argv_contains_flag(n, v, arg->requires)) {
					sb_printf(disp, "Argument '%s' required, but not found.", arg->requires);
					sb_puts(dbg, "MissingArgument(");
					sb_rust_debug_str(dbg, arg->requires);
					sb_puts(dbg, ")");
					rc = -1;
				} else if (arg->forbids && argv_contains_flag(n, v, arg->forbids)) {
					sb_printf(disp, "Argument '%s' cannot be used together with argument '%s'.",
						  arg->forbids, arg->name);
					sb_puts(dbg, "ForbiddenArgument(");
					sb_rust_debug_str(dbg, arg->name);
					sb_puts(dbg, ", ");
					sb_rust_debug_str(dbg, arg->forbids);
					sb_puts(dbg, ")");
					rc = -1;
				}
			}
		}
		free(sorted);
		return rc;
	}
}

static void help_section(struct fk_args *a, bool required, struct sbuf *out, bool *any)
{
	struct fk_arg **sorted = sorted_args(a);
	size_t width = 0;
	struct sbuf name;

	sb_init(&name);
	for (size_t i = 0; i < a->nargs; i++) {
		struct fk_arg *arg = sorted[i];
		size_t w;

		if (arg->required != required)
			continue;
		w = 4 + strlen(arg->name) + (arg->takes_value ? strlen(arg->name) + 3 : 0);
		if (w > width)
			width = w;
	}
	if (width == 0) {
		free(sorted);
		return;
	}
	if (*any)
		sb_puts(out, "\n");
	sb_puts(out, required ? "required arguments:\n" : "optional arguments:\n");
	for (size_t i = 0; i < a->nargs; i++) {
		struct fk_arg *arg = sorted[i];

		if (arg->required != required)
			continue;
		sb_reset(&name);
		if (arg->takes_value)
			sb_printf(&name, "  --%s <%s>", arg->name, arg->name);
		else
			sb_printf(&name, "  --%s", arg->name);
		sb_printf(out, "%-*s   %s", (int)width, name.s, arg->help ? arg->help : "");
		if (arg->def)
			sb_printf(out, " [default: \"%s\"]", arg->def);
		sb_puts(out, "\n");
	}
	*any = true;
	sb_free(&name);
	free(sorted);
}

void fk_args_help(struct fk_args *a, struct sbuf *out)
{
	bool any = false;

	help_section(a, true, out, &any);
	help_section(a, false, out, &any);
}

void fk_args_free(struct fk_args *a)
{
	for (size_t i = 0; i < a->nargs; i++)
		free(a->args[i].values);
}

/* ----------------------------------------------------------- validators */

int fk_validate_instance_id(const char *id, struct sbuf *disp, struct sbuf *dbg)
{
	size_t len = strlen(id);
	size_t pos = 0;
	const unsigned char *p = (const unsigned char *)id;

	if (len < 1 || len > 64) {
		sb_printf(disp, "Invalid len (%zu);  the length must be between 1 and 64", len);
		sb_printf(dbg, "InvalidLen(%zu, 1, 64)", len);
		return -1;
	}
	/* Positions count chars, not bytes; non-ASCII letters pass Rust's
	 * is_alphanumeric(), which this approximates by accepting every
	 * non-ASCII code point. */
	while (*p) {
		if (*p >= 0x80) {
			p++;
			while ((*p & 0xc0) == 0x80)
				p++;
		} else {
			char c = (char)*p;
			bool ok =
			    c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
			if (!ok) {
				sb_printf(disp, "Invalid char (%c) at position %zu", c, pos);
				if (c == '\'')
					sb_printf(dbg, "InvalidChar('\\'', %zu)", pos);
				else if (c == '\\')
					sb_printf(dbg, "InvalidChar('\\\\', %zu)", pos);
				else
					sb_printf(dbg, "InvalidChar('%c', %zu)", c, pos);
				return -1;
			}
			p++;
		}
		pos++;
	}
	return 0;
}

/* ----------------------------------------------------------------- misc */

bool fk_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

bool fk_parse_u32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (!fk_parse_u64(s, &v) || v > UINT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

int fk_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void fk_close_fds_from(int lowfd)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, 0U) == 0)
		return;
#endif
	{
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		int dfd;

		if (!d)
			return;
		dfd = dirfd(d);
		while ((e = readdir(d)) != NULL) {
			int fd = atoi(e->d_name);
			if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd >= lowfd && fd != dfd)
				close(fd);
		}
		closedir(d);
	}
}

uint64_t fk_now_us(int clock_id)
{
	struct timespec ts;

	clock_gettime((clockid_t)clock_id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
