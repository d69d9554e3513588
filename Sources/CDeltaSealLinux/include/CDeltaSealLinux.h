#ifndef DELTASEAL_LINUX_H
#define DELTASEAL_LINUX_H
#include <spawn.h>
#include <sys/types.h>
#include <stdint.h>

// glibc extensions that need _GNU_SOURCE, which Swift's Glibc module is built without.

/// posix_spawn_file_actions_addclosefrom_np: close every descriptor >= from in the child.
int dsl_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
/// posix_spawn_file_actions_addchdir_np: the child's working directory.
int dsl_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);
/// prlimit(2) on another process; resource is RLIMIT_*; returns 0 or -1 with errno.
int dsl_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard);
/// RLIMIT_NOFILE, RLIMIT_AS and RLIMIT_CPU as plain ints.
int dsl_rlimit_nofile(void);
int dsl_rlimit_as(void);
int dsl_rlimit_cpu(void);
#endif
