/* SPDX-License-Identifier: Apache-2.0 */
/* Small shared helpers: scoped cleanup (systemd/crun style), ownership transfer,
   and allocation that aborts on exhaustion (a manifest tool cannot do anything
   useful once malloc fails, and checking every small allocation hides the logic). */
#ifndef FIREC_UTIL_H
#define FIREC_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdlib.h>
#include <unistd.h>
#include <cjson/cJSON.h>

void *firec_xmalloc (size_t size);
void *firec_xcalloc (size_t n, size_t size);
void *firec_xrealloc (void *ptr, size_t size);
char *firec_xstrdup (const char *s);
char *firec_xstrndup (const char *s, size_t n);
char *firec_xasprintf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
char *firec_xvasprintf (const char *fmt, va_list ap) __attribute__ ((format (printf, 1, 0)));
/* The strings up to the NULL, concatenated: what "%s/%s" asks of asprintf for a
   tenth of its cost (systemd's strjoin). Paths, pointers and step ids are built
   this way dozens of times per manifest. */
char *firec_xstrjoin (const char *first, ...) __attribute__ ((sentinel));

/* The decimal digits of v, written at the end of buf and returned: a number
   for firec_xstrjoin, at a twentieth of what a printf conversion costs. */
#define FIREC_DECIMAL_MAX 21 /* 2^64 - 1 has 20 digits */
char *firec_decimal (unsigned long long v, char buf[FIREC_DECIMAL_MAX]);

/* Memory for many small objects that go together, handed out from chunks and
   freed all at once (a plan's strings), or never (the built-in schema's tree,
   the loader's interned keys): no malloc and free per object. */
struct firec_arena_chunk;
struct firec_arena
{
  struct firec_arena_chunk *chunk; /* the newest; each links to the one before */
  char *next, *end;                /* the newest chunk's room */
  size_t chunk_size;               /* 0: 4 KiB */
};
void *firec_arena_alloc_slow (struct firec_arena *arena, size_t size);
/* Inline where it fits: the built-in schema's tree is ~6000 allocations. */
static inline void *
firec_arena_alloc (struct firec_arena *arena, size_t size)
{
  size = (size + sizeof (max_align_t) - 1) & ~(sizeof (max_align_t) - 1);
  if (size > (size_t) (arena->end - arena->next))
    return firec_arena_alloc_slow (arena, size);
  void *p = arena->next;
  arena->next += size;
  return p;
}
char *firec_arena_strdup (struct firec_arena *arena, const char *s);
void firec_arena_release (struct firec_arena *arena);

static inline void
firec_freep (void *p)
{
  free (*(void **) p);
}

static inline void
firec_closep (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

static inline void
firec_cjson_deletep (cJSON **p)
{
  cJSON_Delete (*p);
}

#define cleanup_free __attribute__ ((cleanup (firec_freep)))
#define cleanup_close __attribute__ ((cleanup (firec_closep)))
#define cleanup_cjson __attribute__ ((cleanup (firec_cjson_deletep)))

/* Hands a scoped pointer to someone else: the cleanup attribute then sees NULL. */
#define steal_pointer(pp)                                                                                              \
  ({                                                                                                                   \
    __typeof__ (*(pp)) steal_pointer_tmp_ = *(pp);                                                                     \
    *(pp) = NULL;                                                                                                      \
    steal_pointer_tmp_;                                                                                                \
  })

#define steal_fd(fdp)                                                                                                  \
  ({                                                                                                                   \
    int steal_fd_tmp_ = *(fdp);                                                                                        \
    *(fdp) = -1;                                                                                                       \
    steal_fd_tmp_;                                                                                                     \
  })

#define FIREC_N_ELEMENTS(a) (sizeof (a) / sizeof ((a)[0]))

/* A member of a JSON object, NULL when object is not one or lacks it; and the
   same for string members. Like cJSON's getters, the member is not const. */
cJSON *firec_json_member (const cJSON *object, const char *name);

static inline const char *
firec_json_string (const cJSON *object, const char *name)
{
  const cJSON *v = firec_json_member (object, name);
  return cJSON_IsString (v) ? v->valuestring : NULL;
}

/* Characters (code points) in a UTF-8 string, as JSON Schema counts them. */
size_t firec_utf8_length (const char *s);

/* Milliseconds on the monotonic clock, for deadlines and elapsed times. */
long long firec_now_ms (void);

/* A hash of an address, for the tables keyed by cJSON node (cap a power of two).
   Inline: the schema and the positions table probe ~2000 times per manifest. */
static inline size_t
firec_hash_pointer (const void *p, size_t cap)
{
  uint64_t x = (uint64_t) (uintptr_t) p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return (size_t) x & (cap - 1);
}

/* A growable string, for building messages and documents. */
struct firec_buf
{
  char *data;
  size_t len;
  size_t cap;
};

void firec_buf_append (struct firec_buf *buf, const char *s, size_t n);
void firec_buf_puts (struct firec_buf *buf, const char *s);
void firec_buf_printf (struct firec_buf *buf, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Returns the string (never NULL) and leaves the buffer empty. */
char *firec_buf_steal (struct firec_buf *buf);
void firec_buf_release (struct firec_buf *buf);

/* Reads a whole file (at most max_size bytes, else EFBIG), NUL-terminated.
   Returns 0, or -1 with errno set. */
int firec_read_file (const char *path, size_t max_size, char **ret, size_t *ret_len);
int firec_read_fd (int fd, size_t max_size, char **ret, size_t *ret_len);
/* All of data to fd, again after EINTR and short writes; -1 with errno. */
int firec_write_all (int fd, const char *data, size_t len);

/* Reads a file that must be a regular file, for data firec-run reads itself:
   opened O_NONBLOCK, so that a FIFO or a device never blocks the caller, and
   fstat'ed before any read. Returns 0; or -1 with errno set, and *type (S_IFMT
   bits) when the file is no regular file (errno EINVAL). */
int firec_read_regular_file (const char *path, size_t max_size, char **ret, size_t *ret_len, mode_t *type);
/* "a directory", "a FIFO", "a character device"... for a file type (S_IFMT bits). */
const char *firec_file_type_name (mode_t type);

#endif
