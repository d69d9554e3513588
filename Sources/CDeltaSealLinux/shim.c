#define _GNU_SOURCE
#include <spawn.h>
#include <sys/resource.h>
#include <unistd.h>
#include "CDeltaSealLinux.h"

int dsl_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}

int dsl_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int dsl_prlimit(pid_t pid, int resource, uint64_t soft, uint64_t hard) {
    struct rlimit limit = { .rlim_cur = soft, .rlim_max = hard };
    return prlimit(pid, (__rlimit_resource_t)resource, &limit, NULL);
}

int dsl_rlimit_nofile(void) { return RLIMIT_NOFILE; }
int dsl_rlimit_as(void) { return RLIMIT_AS; }
int dsl_rlimit_cpu(void) { return RLIMIT_CPU; }
int dsl_rlimit_fsize(void) { return RLIMIT_FSIZE; }

int dsl_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
