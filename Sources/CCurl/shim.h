#ifndef DELTASEAL_CCURL_SHIM_H
#define DELTASEAL_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic: one typed wrapper per argument type.

typedef size_t (*dsc_data_callback)(char *buffer, size_t size, size_t count, void *context);

static inline CURLcode dsc_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsc_setopt_off(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsc_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsc_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsc_setopt_list(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsc_setopt_callback(CURL *handle, CURLoption option, dsc_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode dsc_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}
typedef int (*dsc_seek_callback)(void *context, curl_off_t offset, int origin);
static inline CURLcode dsc_setopt_seek(CURL *handle, dsc_seek_callback value) {
    return curl_easy_setopt(handle, CURLOPT_SEEKFUNCTION, value);
}
/// CURL_READFUNC_ABORT as a function (a macro Swift cannot see).
static inline size_t dsc_read_abort(void) { return CURL_READFUNC_ABORT; }
#endif
