#ifndef DELTASEAL_CZSTD_SHIM_H
#define DELTASEAL_CZSTD_SHIM_H
#include <zstd.h>
#include <zstd_errors.h>
#endif
