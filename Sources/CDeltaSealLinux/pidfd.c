#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "dsl_pidfd.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int dsl_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int dsl_pidfd_signal(int pidfd, int signal) { return (int)syscall(SYS_pidfd_send_signal, pidfd, signal, NULL, 0); }

int dsl_wait_nowait(void) { return WNOWAIT; }
int dsl_wait_nohang(void) { return WNOHANG; }

int dsl_pidfd_wait(int pidfd, int extra, int *exit_status, int *signal) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result;
    do result = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, WEXITED | extra);
    while (result == -1 && errno == EINTR);
    if (result == -1) return -1;
    if (info.si_pid == 0) return 0;  // WNOHANG: still running
    *exit_status = -1;
    *signal = 0;
    if (info.si_code == CLD_EXITED) *exit_status = info.si_status;
    else *signal = info.si_status;  // CLD_KILLED or CLD_DUMPED
    return 1;
}

int dsl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int dsl_epoll_add_oneshot(int epoll, int fd) {
    struct epoll_event event;
    memset(&event, 0, sizeof event);
    event.events = EPOLLIN | EPOLLONESHOT;
    event.data.fd = fd;
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int dsl_epoll_remove(int epoll, int fd) { return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL); }

int dsl_epoll_wait(int epoll, int *fds, int max, int timeout_ms) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epoll, events, max, timeout_ms);
    for (int i = 0; i < n; i++) fds[i] = events[i].data.fd;
    return n;
}

int dsl_semaphore_eventfd(void) { return eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC); }
