/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"

#include "curl-dl.h"
#include "util.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The dependency, for packagers: an ELF note in the format of systemd's "dlopen
   metadata" specification (section .note.dlopen, owner "FDO", type 0x407c0c0a,
   a JSON array as the descriptor), which dpkg and rpm helpers turn into a
   package dependency on the library that FIREC_LIBCURL_SONAME names. */
#define DLOPEN_NOTE_OWNER "FDO"
#define DLOPEN_NOTE_TYPE 0x407c0c0a
#define LIBCURL_NOTE                                                                                                   \
  "[{\"feature\":\"firecracker-api\",\"description\":\"Firecracker's HTTP API (run, stop and every command that "      \
  "talks to a running VM)\",\"priority\":\"required\",\"soname\":[\"" FIREC_LIBCURL_SONAME "\"]}]"

__attribute__ ((used, section (".note.dlopen"))) _Alignas(uint32_t) static const struct
{
  struct
  {
    uint32_t n_namesz, n_descsz, n_type;
  } header;
  char owner[sizeof DLOPEN_NOTE_OWNER];
  _Alignas(uint32_t) char descriptor[sizeof LIBCURL_NOTE];
} libcurl_dlopen_note = {
  .header = { sizeof DLOPEN_NOTE_OWNER, sizeof LIBCURL_NOTE, DLOPEN_NOTE_TYPE },
  .owner = DLOPEN_NOTE_OWNER,
  .descriptor = LIBCURL_NOTE,
};

static struct firec_curl table;
static const struct firec_curl *loaded; /* &table once every symbol resolved */
static char *load_error;                /* why not, otherwise */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

#define SYMBOL(field, name)                                                                                            \
  {                                                                                                                    \
    offsetof (struct firec_curl, field), #name                                                                         \
  }

static const struct
{
  size_t offset;
  const char *name;
} symbols[] = {
  SYMBOL (global_init, curl_global_init),
  SYMBOL (easy_init, curl_easy_init),
  SYMBOL (easy_cleanup, curl_easy_cleanup),
  SYMBOL (easy_setopt, curl_easy_setopt),
  SYMBOL (easy_getinfo, curl_easy_getinfo),
  SYMBOL (easy_strerror, curl_easy_strerror),
  SYMBOL (multi_init, curl_multi_init),
  SYMBOL (multi_cleanup, curl_multi_cleanup),
  SYMBOL (multi_setopt, curl_multi_setopt),
  SYMBOL (multi_add_handle, curl_multi_add_handle),
  SYMBOL (multi_remove_handle, curl_multi_remove_handle),
  SYMBOL (multi_perform, curl_multi_perform),
  SYMBOL (multi_poll, curl_multi_poll),
  SYMBOL (multi_info_read, curl_multi_info_read),
  SYMBOL (multi_strerror, curl_multi_strerror),
  SYMBOL (slist_append, curl_slist_append),
  SYMBOL (slist_free_all, curl_slist_free_all),
};

/* Every field of the table is a function pointer, filled through its offset. */
_Static_assert(sizeof (struct firec_curl) == FIREC_N_ELEMENTS (symbols) * sizeof (void (*) (void)),
               "every function of struct firec_curl is listed in symbols[]");

static void
load (void)
{
  /* RTLD_NODELETE: never unloaded, whatever a caller does; the table stays valid. */
  void *dl = dlopen (FIREC_LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (dl == NULL)
    {
      const char *why = dlerror ();
      load_error = firec_xasprintf ("cannot load libcurl (%s), which firec-run needs to talk to Firecracker: %s",
                                    FIREC_LIBCURL_SONAME, why ? why : "unknown error");
      return;
    }
  for (size_t i = 0; i < FIREC_N_ELEMENTS (symbols); i++)
    {
      void *fn = dlsym (dl, symbols[i].name);
      if (fn == NULL)
        {
          load_error = firec_xasprintf ("%s has no %s (libcurl 7.66 or newer is needed)", FIREC_LIBCURL_SONAME,
                                        symbols[i].name);
          return;
        }
      memcpy ((char *) &table + symbols[i].offset, &fn, sizeof fn);
    }
  /* No TLS, no Win32 sockets: nothing global to set up but libcurl itself. */
  CURLcode rc = table.global_init (CURL_GLOBAL_NOTHING);
  if (rc != CURLE_OK)
    {
      load_error = firec_xasprintf ("cannot initialize libcurl: %s", table.easy_strerror (rc));
      return;
    }
  loaded = &table;
}

static void *
loader_thread (void *unused)
{
  (void) unused;
  pthread_once (&load_once, load);
  return NULL;
}

static bool preload_started;
static pthread_t loader;
static bool loader_joinable; /* started, not joined yet */

void
firec_curl_preload (void)
{
  if (preload_started)
    return;
  preload_started = true;
  /* Signals stay with the main thread (its signalfd, or its handlers). */
  sigset_t all, saved;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &saved);
  /* Failing to start it only moves the loading to the first request. */
  loader_joinable = pthread_create (&loader, NULL, loader_thread, NULL) == 0;
  pthread_sigmask (SIG_SETMASK, &saved, NULL);
}

void
firec_curl_settle (void)
{
  if (!preload_started)
    return;
  pthread_once (&load_once, load);
  /* Joined, not only done loading: its thread-local state (OpenSSL's error
     queue) is freed by its own exit, which LeakSanitizer would otherwise
     catch halfway. */
  if (loader_joinable)
    pthread_join (loader, NULL);
  loader_joinable = false;
}

const struct firec_curl *
firec_curl_get (firec_error_t *err)
{
  /* Waits for the helper thread when it is inside load (). */
  pthread_once (&load_once, load);
  if (loaded == NULL)
    firec_error_set (err, 0, "%s", load_error);
  return loaded;
}
