#ifndef DSL_PIDFD_H
#define DSL_PIDFD_H
#include <sys/types.h>

/// pidfd_open(pid, 0): a descriptor for the process (close-on-exec), -1 with errno.
int dsl_pidfd_open(pid_t pid);

/// pidfd_send_signal(pidfd, signal, NULL, 0): 0, or -1 with errno (ESRCH once the process is reaped).
int dsl_pidfd_signal(int pidfd, int signal);
/// waitid(P_PIDFD, pidfd, WEXITED | extra): `extra` is 0, WNOWAIT, WNOHANG or both (dsl_wait_*).
/// Returns 1 with the child's end in `exit_status` (or -1) and `signal` (or 0); 0 when WNOHANG
/// found it still running; -1 with errno (EINTR is retried here).
int dsl_pidfd_wait(int pidfd, int extra, int *exit_status, int *signal);
int dsl_wait_nowait(void);
int dsl_wait_nohang(void);

/// epoll_create1(EPOLL_CLOEXEC).
int dsl_epoll_create(void);
/// Adds `fd` for readability, reported once (EPOLLIN | EPOLLONESHOT), with `fd` as its data.
int dsl_epoll_add_oneshot(int epoll, int fd);
/// Removes `fd`.
int dsl_epoll_remove(int epoll, int fd);
/// epoll_wait: writes up to `max` ready descriptors to `fds`; returns how many, or -1 with errno.
int dsl_epoll_wait(int epoll, int *fds, int max, int timeout_ms);

/// eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC): each read takes one of the posted counts, blocking at 0.
int dsl_semaphore_eventfd(void);
#endif
