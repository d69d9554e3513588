#define _GNU_SOURCE
#include <spawn.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <malloc.h>
#include <sys/inotify.h>
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

int dsl_fcntl_getfl(int fd) { return fcntl(fd, F_GETFL); }
int dsl_fcntl_setfl(int fd, int flags) { return fcntl(fd, F_SETFL, flags); }
int dsl_fcntl_setlease(int fd, int type) { return fcntl(fd, F_SETLEASE, type); }
int dsl_lease_read(void) { return F_RDLCK; }
int dsl_lease_unlock(void) { return F_UNLCK; }
int dsl_lease_write(void) { return F_WRLCK; }
int dsl_fcntl_setsig(int fd, int signal) { return fcntl(fd, F_SETSIG, signal); }

int dsl_inotify_init(void) { return inotify_init1(IN_NONBLOCK | IN_CLOEXEC); }
int dsl_inotify_watch(int fd, const char *path) {
    return inotify_add_watch(fd, path, IN_MOVED_TO | IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_DELETE);
}
uint32_t dsl_in_moved_to(void) { return IN_MOVED_TO; }
uint32_t dsl_in_create(void) { return IN_CREATE; }
uint32_t dsl_in_modify(void) { return IN_MODIFY; }
uint32_t dsl_in_close_write(void) { return IN_CLOSE_WRITE; }
uint32_t dsl_in_moved_from(void) { return IN_MOVED_FROM; }
uint32_t dsl_in_delete(void) { return IN_DELETE; }
uint32_t dsl_in_q_overflow(void) { return IN_Q_OVERFLOW; }

static int dsl_signal_pipe = -1;

static void dsl_signal_to_pipe(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    if (dsl_signal_pipe >= 0) { ssize_t ignored = write(dsl_signal_pipe, &byte, 1); (void)ignored; }
    errno = saved;
}

int dsl_signals_to_pipe(int fd) {
    dsl_signal_pipe = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = dsl_signal_to_pipe;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    int signals[] = { SIGTERM, SIGINT, SIGHUP };
    sigset_t unblock;
    sigemptyset(&unblock);
    for (unsigned i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        if (sigaction(signals[i], &action, NULL) != 0) return -1;
        sigaddset(&unblock, signals[i]);
    }
    // A parent may have started this process with them blocked; they must arrive.
    return pthread_sigmask(SIG_UNBLOCK, &unblock, NULL) == 0 ? 0 : -1;
}

int dsl_limit_malloc_arenas(int count) { return mallopt(M_ARENA_MAX, count); }
