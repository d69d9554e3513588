#include "shim.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

// The functions used, resolved from libcurl.so.4 by dsc_load.
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[512];

static void *resolve(void *library, const char *name) {
    void *symbol = dlsym(library, name);
    if (symbol == NULL && failure[0] == '\0') snprintf(failure, sizeof failure, "libcurl.so.4 has no %s", name);
    return symbol;
}

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *message = dlerror();
        snprintf(failure, sizeof failure, "%s", message ? message : "libcurl.so.4 cannot be loaded");
        return;
    }
    api.global_init = (CURLcode (*)(long))resolve(library, "curl_global_init");
    api.easy_init = (CURL *(*)(void))resolve(library, "curl_easy_init");
    api.easy_cleanup = (void (*)(CURL *))resolve(library, "curl_easy_cleanup");
    api.easy_reset = (void (*)(CURL *))resolve(library, "curl_easy_reset");
    api.easy_perform = (CURLcode (*)(CURL *))resolve(library, "curl_easy_perform");
    api.easy_strerror = (const char *(*)(CURLcode))resolve(library, "curl_easy_strerror");
    api.slist_append = (struct curl_slist *(*)(struct curl_slist *, const char *))resolve(library, "curl_slist_append");
    api.slist_free_all = (void (*)(struct curl_slist *))resolve(library, "curl_slist_free_all");
    api.easy_setopt = (CURLcode (*)(CURL *, CURLoption, ...))resolve(library, "curl_easy_setopt");
    api.easy_getinfo = (CURLcode (*)(CURL *, CURLINFO, ...))resolve(library, "curl_easy_getinfo");
    // The library stays loaded for the life of the process: handles outlive any caller.
}

int dsc_load(char *error, size_t size) {
    pthread_once(&once, load);
    if (failure[0] == '\0') return 0;
    if (error != NULL && size > 0) snprintf(error, size, "%s", failure);
    return -1;
}

CURLcode dsc_global_init(long flags) { return api.global_init(flags); }
CURL *dsc_easy_init(void) { return api.easy_init(); }
void dsc_easy_cleanup(CURL *handle) { api.easy_cleanup(handle); }
void dsc_easy_reset(CURL *handle) { api.easy_reset(handle); }
CURLcode dsc_easy_perform(CURL *handle) { return api.easy_perform(handle); }
const char *dsc_easy_strerror(CURLcode code) { return api.easy_strerror(code); }
struct curl_slist *dsc_slist_append(struct curl_slist *list, const char *text) { return api.slist_append(list, text); }
void dsc_slist_free_all(struct curl_slist *list) { api.slist_free_all(list); }

CURLcode dsc_setopt_long(CURL *handle, CURLoption option, long value) { return api.easy_setopt(handle, option, value); }
CURLcode dsc_setopt_off(CURL *handle, CURLoption option, curl_off_t value) { return api.easy_setopt(handle, option, value); }
CURLcode dsc_setopt_string(CURL *handle, CURLoption option, const char *value) { return api.easy_setopt(handle, option, value); }
CURLcode dsc_setopt_pointer(CURL *handle, CURLoption option, void *value) { return api.easy_setopt(handle, option, value); }
CURLcode dsc_setopt_list(CURL *handle, CURLoption option, struct curl_slist *value) { return api.easy_setopt(handle, option, value); }
CURLcode dsc_setopt_callback(CURL *handle, CURLoption option, dsc_data_callback value) { return api.easy_setopt(handle, option, value); }
CURLcode dsc_setopt_seek(CURL *handle, dsc_seek_callback value) { return api.easy_setopt(handle, CURLOPT_SEEKFUNCTION, value); }
CURLcode dsc_setopt_progress(CURL *handle, dsc_progress_callback value, void *context) {
    CURLcode code = api.easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, value);
    if (code == CURLE_OK) code = api.easy_setopt(handle, CURLOPT_XFERINFODATA, context);
    if (code == CURLE_OK) code = api.easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    return code;
}
CURLcode dsc_getinfo_long(CURL *handle, CURLINFO info, long *value) { return api.easy_getinfo(handle, info, value); }
