#ifndef DELTASEAL_CCURL_SHIM_H
#define DELTASEAL_CCURL_SHIM_H
#include <curl/curl.h>
#include <stddef.h>

// libcurl is loaded when the first S3 store or credential request needs it (dsc_load), not when
// an executable starts: the verifier of a filesystem store, started once per delta, would
// otherwise load libcurl and its 30 shared libraries (OpenSSL, GnuTLS, Kerberos, LDAP) each time.
// Nothing here links against libcurl; Swift calls only the dsc_ functions below, never curl_*
// (a curl_* call would not link, which is the point).

/// Loads libcurl.so.4 and resolves what is used, once; 0 on success, else -1 with the loader's
/// message in `error` (at most `size` bytes, NUL-terminated). Every other dsc_ function requires
/// a successful dsc_load first.
int dsc_load(char *error, size_t size);

CURLcode dsc_global_init(long flags);
CURL *dsc_easy_init(void);
void dsc_easy_cleanup(CURL *handle);
void dsc_easy_reset(CURL *handle);
CURLcode dsc_easy_perform(CURL *handle);
const char *dsc_easy_strerror(CURLcode code);
struct curl_slist *dsc_slist_append(struct curl_slist *list, const char *text);
void dsc_slist_free_all(struct curl_slist *list);

// curl_easy_setopt and curl_easy_getinfo are variadic: one typed wrapper per argument type.

typedef size_t (*dsc_data_callback)(char *buffer, size_t size, size_t count, void *context);
typedef int (*dsc_seek_callback)(void *context, curl_off_t offset, int origin);

CURLcode dsc_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode dsc_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode dsc_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode dsc_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode dsc_setopt_list(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode dsc_setopt_callback(CURL *handle, CURLoption option, dsc_data_callback value);
CURLcode dsc_setopt_seek(CURL *handle, dsc_seek_callback value);
/// Sets CURLOPT_XFERINFOFUNCTION (and turns CURLOPT_NOPROGRESS off): a non-zero return aborts the transfer.
typedef int (*dsc_progress_callback)(void *context, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
CURLcode dsc_setopt_progress(CURL *handle, dsc_progress_callback value, void *context);
CURLcode dsc_getinfo_long(CURL *handle, CURLINFO info, long *value);

/// CURL_READFUNC_ABORT as a function (a macro Swift cannot see).
static inline size_t dsc_read_abort(void) { return CURL_READFUNC_ABORT; }
#endif
