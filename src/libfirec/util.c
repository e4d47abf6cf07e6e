/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

__attribute__ ((noreturn)) static void
out_of_memory (void)
{
  static const char msg[] = "firec: out of memory\n";
  if (write (STDERR_FILENO, msg, sizeof msg - 1) < 0)
    abort ();
  abort ();
}

void *
firec_xmalloc (size_t size)
{
  void *p = malloc (size ? size : 1);
  if (p == NULL)
    out_of_memory ();
  return p;
}

void *
firec_xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size ? size : 1);
  if (p == NULL)
    out_of_memory ();
  return p;
}

void *
firec_xrealloc (void *ptr, size_t size)
{
  void *p = realloc (ptr, size ? size : 1);
  if (p == NULL)
    out_of_memory ();
  return p;
}

char *
firec_xstrdup (const char *s)
{
  char *p = strdup (s);
  if (p == NULL)
    out_of_memory ();
  return p;
}

char *
firec_xstrndup (const char *s, size_t n)
{
  char *p = strndup (s, n);
  if (p == NULL)
    out_of_memory ();
  return p;
}

char *
firec_xvasprintf (const char *fmt, va_list ap)
{
  /* Most of our strings are short: formatting them on the stack and copying
     costs less than vasprintf's growing heap buffer. */
  char small[256];
  va_list again;
  va_copy (again, ap);
  int n = vsnprintf (small, sizeof small, fmt, ap);
  if (n < 0)
    out_of_memory ();
  char *s = firec_xmalloc ((size_t) n + 1);
  if ((size_t) n < sizeof small)
    memcpy (s, small, (size_t) n + 1);
  else
    vsnprintf (s, (size_t) n + 1, fmt, again);
  va_end (again);
  return s;
}

char *
firec_xasprintf (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  char *s = firec_xvasprintf (fmt, ap);
  va_end (ap);
  return s;
}

char *
firec_decimal (unsigned long long v, char buf[FIREC_DECIMAL_MAX])
{
  char *p = buf + FIREC_DECIMAL_MAX - 1;
  *p = '\0';
  do
    *--p = (char) ('0' + v % 10);
  while ((v /= 10) != 0);
  return p;
}

cJSON *
firec_json_member (const cJSON *object, const char *name)
{
  if (object == NULL || (object->type & 0xFF) != cJSON_Object) /* cJSON_IsObject, without a call */
    return NULL;
  /* cJSON_GetObjectItemCaseSensitive calls strcmp for every member; comparing
     the first byte first skips the call for nearly all of those that differ
     (validation, resolve and plan look sections up this way ~150 times per
     manifest, most of them absent). */
  for (cJSON *m = object->child; m; m = m->next)
    if (m->string && m->string[0] == name[0] && strcmp (m->string, name) == 0)
      return m;
  return NULL;
}

char *
firec_xstrjoin (const char *first, ...)
{
  va_list ap;
  size_t len = 0;
  va_start (ap, first);
  for (const char *p = first; p; p = va_arg (ap, const char *))
    len += strlen (p);
  va_end (ap);
  char *s = firec_xmalloc (len + 1), *end = s;
  va_start (ap, first);
  for (const char *p = first; p; p = va_arg (ap, const char *))
    end = stpcpy (end, p);
  va_end (ap);
  return s;
}

struct firec_arena_chunk
{
  struct firec_arena_chunk *prev;
  size_t size;
  max_align_t data[];
};

static struct firec_arena_chunk *
new_chunk (size_t size, struct firec_arena_chunk *prev)
{
  struct firec_arena_chunk *c = firec_xmalloc (sizeof *c + size);
  c->prev = prev;
  c->size = size;
  return c;
}

/* The newest chunk is full: a new one, or for a big request (a quarter chunk or
   more) a chunk of its own behind the newest, whose room stays in use. */
void *
firec_arena_alloc_slow (struct firec_arena *arena, size_t size)
{
  size_t chunk_size = arena->chunk_size ? arena->chunk_size : 4096;
  if (size > chunk_size / 4 && arena->chunk)
    {
      struct firec_arena_chunk *c = new_chunk (size, arena->chunk->prev);
      arena->chunk->prev = c;
      return c->data;
    }
  arena->chunk = new_chunk (size > chunk_size ? size : chunk_size, arena->chunk);
  arena->next = (char *) arena->chunk->data + size;
  arena->end = (char *) arena->chunk->data + arena->chunk->size;
  return arena->chunk->data;
}

char *
firec_arena_strdup (struct firec_arena *arena, const char *s)
{
  size_t n = strlen (s) + 1;
  return memcpy (firec_arena_alloc (arena, n), s, n);
}

void
firec_arena_release (struct firec_arena *arena)
{
  for (struct firec_arena_chunk *c = arena->chunk, *prev; c; c = prev)
    {
      prev = c->prev;
      free (c);
    }
  arena->chunk = NULL;
  arena->next = arena->end = NULL;
}

size_t
firec_utf8_length (const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += ((unsigned char) *s & 0xC0) != 0x80;
  return n;
}

long long
firec_now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
firec_buf_append (struct firec_buf *buf, const char *s, size_t n)
{
  if (buf->len + n + 1 > buf->cap)
    {
      size_t cap = buf->cap ? buf->cap : 64;
      while (cap < buf->len + n + 1)
        cap *= 2;
      buf->data = firec_xrealloc (buf->data, cap);
      buf->cap = cap;
    }
  memcpy (buf->data + buf->len, s, n);
  buf->len += n;
  buf->data[buf->len] = '\0';
}

void
firec_buf_puts (struct firec_buf *buf, const char *s)
{
  firec_buf_append (buf, s, strlen (s));
}

void
firec_buf_printf (struct firec_buf *buf, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *s = firec_xvasprintf (fmt, ap);
  va_end (ap);
  firec_buf_puts (buf, s);
}

char *
firec_buf_steal (struct firec_buf *buf)
{
  char *s = buf->data ? buf->data : firec_xstrdup ("");
  buf->data = NULL;
  buf->len = buf->cap = 0;
  return s;
}

void
firec_buf_release (struct firec_buf *buf)
{
  free (buf->data);
  buf->data = NULL;
  buf->len = buf->cap = 0;
}

int
firec_write_all (int fd, const char *data, size_t len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return -1;
      data += n;
      len -= (size_t) n;
    }
  return 0;
}

int
firec_read_fd (int fd, size_t max_size, char **ret, size_t *ret_len)
{
  struct firec_buf buf = { 0 };
  char chunk[65536];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          firec_buf_release (&buf);
          errno = saved;
          return -1;
        }
      if (n == 0)
        break;
      if (buf.len + (size_t) n > max_size)
        {
          firec_buf_release (&buf);
          errno = EFBIG;
          return -1;
        }
      firec_buf_append (&buf, chunk, (size_t) n);
    }
  *ret_len = buf.len;
  *ret = firec_buf_steal (&buf);
  return 0;
}

int
firec_read_file (const char *path, size_t max_size, char **ret, size_t *ret_len)
{
  cleanup_close int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat (fd, &st) < 0)
    return -1;
  if (S_ISDIR (st.st_mode))
    {
      errno = EISDIR;
      return -1;
    }
  if (S_ISREG (st.st_mode) && (size_t) st.st_size > max_size)
    {
      errno = EFBIG;
      return -1;
    }
  return firec_read_fd (fd, max_size, ret, ret_len);
}

int
firec_read_regular_file (const char *path, size_t max_size, char **ret, size_t *ret_len, mode_t *type)
{
  *type = 0;
  cleanup_close int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  struct stat st;
  if (fstat (fd, &st) < 0)
    return -1;
  if (!S_ISREG (st.st_mode))
    {
      *type = st.st_mode & S_IFMT;
      errno = EINVAL;
      return -1;
    }
  if ((size_t) st.st_size > max_size)
    {
      errno = EFBIG;
      return -1;
    }
  return firec_read_fd (fd, max_size, ret, ret_len);
}

const char *
firec_file_type_name (mode_t type)
{
  switch (type & S_IFMT)
    {
    case S_IFREG:
      return "a regular file";
    case S_IFDIR:
      return "a directory";
    case S_IFIFO:
      return "a FIFO";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFSOCK:
      return "a socket";
    case S_IFLNK:
      return "a symbolic link";
    default:
      return "not a regular file";
    }
}
