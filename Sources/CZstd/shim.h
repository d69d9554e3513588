#ifndef DELTASEAL_CZSTD_SHIM_H
#define DELTASEAL_CZSTD_SHIM_H
// The memory estimates (ZSTD_getCParams, ZSTD_estimateCStreamSize_usingCParams) are in the
// "static linking only" section; Debian's shared libzstd exports them.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>
#endif
