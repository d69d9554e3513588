#include "build_info.h"

/* Package.swift defines DELTASEAL_GIT_COMMIT from SwiftPM's view of the checkout; a build
   outside a git checkout (a source tarball) has none. */
#ifndef DELTASEAL_GIT_COMMIT
#define DELTASEAL_GIT_COMMIT "unknown"
#endif

const char *deltaseal_git_commit(void) { return DELTASEAL_GIT_COMMIT; }
