/* SPDX-License-Identifier: Apache-2.0 */
/* libcurl, loaded on demand: only the commands that talk to Firecracker load it
   (see the comment at the top of fcapi.c for why, and what it costs). The
   functions fcapi.c uses are resolved once into a table; a program that starts
   a VM begins the loading early on a helper thread so that it overlaps its own
   work and Firecracker's start. */
#ifndef FIREC_CURL_DL_H
#define FIREC_CURL_DL_H

#include <curl/curl.h>

#include "error.h"

struct firec_curl
{
  typeof (curl_global_init) *global_init;
  typeof (curl_easy_init) *easy_init;
  typeof (curl_easy_cleanup) *easy_cleanup;
  typeof (curl_easy_setopt) *easy_setopt;
  typeof (curl_easy_getinfo) *easy_getinfo;
  typeof (curl_easy_strerror) *easy_strerror;
  typeof (curl_multi_init) *multi_init;
  typeof (curl_multi_cleanup) *multi_cleanup;
  typeof (curl_multi_setopt) *multi_setopt;
  typeof (curl_multi_add_handle) *multi_add_handle;
  typeof (curl_multi_remove_handle) *multi_remove_handle;
  typeof (curl_multi_perform) *multi_perform;
  typeof (curl_multi_poll) *multi_poll;
  typeof (curl_multi_info_read) *multi_info_read;
  typeof (curl_multi_strerror) *multi_strerror;
  typeof (curl_slist_append) *slist_append;
  typeof (curl_slist_free_all) *slist_free_all;
};

/* Starts loading libcurl on a helper thread (every signal blocked in it) and
   returns at once; does nothing after the first call. Without a thread the
   loading simply happens at the first firec_curl_get. */
void firec_curl_preload (void);

/* Returns once a loading that firec_curl_preload started is over (at once when
   none was started). Call it before exit (): exit () runs the libraries'
   destructors, which must not run under a loader thread still initializing
   them (it crashed in OpenSSL's init that way). */
void firec_curl_settle (void);

/* The table, loading libcurl (or waiting for the helper thread to finish) the
   first time. NULL with an error when the library or one of its functions is
   missing; the answer is the same for the whole life of the process. */
const struct firec_curl *firec_curl_get (firec_error_t *err);

#endif
