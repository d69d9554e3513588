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
int dsl_rlimit_fsize(void);
/// pipe2(2) with flags such as O_CLOEXEC and O_NONBLOCK; returns 0 or -1 with errno.
int dsl_pipe2(int fds[2], int flags);

// A fork/exec spawn that can do what posix_spawn cannot: change identity, set no_new_privs and
// enter a Landlock domain in the child (sandbox_spawn.c).

/// Where dsl_sandbox_spawn failed: set up in the parent (PIPE..FORK) or in the child before execve.
#define DSL_STAGE_NONE 0
#define DSL_STAGE_PIPE 1
#define DSL_STAGE_RULESET 2
#define DSL_STAGE_RULE 3
#define DSL_STAGE_FORK 4
#define DSL_STAGE_SIGNALS 5
#define DSL_STAGE_SETPGID 6
#define DSL_STAGE_DESCRIPTORS 7
#define DSL_STAGE_CHDIR 8
#define DSL_STAGE_RLIMIT 9
#define DSL_STAGE_SETGROUPS 10
#define DSL_STAGE_SETGID 11
#define DSL_STAGE_SETUID 12
#define DSL_STAGE_NO_NEW_PRIVS 13
#define DSL_STAGE_LANDLOCK 14
#define DSL_STAGE_EXECVE 15
#define DSL_STAGE_CGROUP 16

/// What to run and how to confine it. Descriptors are the parent's; the child gets them on 0, 1, 2
/// and nothing else.
struct dsl_sandbox_spec {
    /// The program's path (no PATH search), its argv and envp, both NULL-terminated.
    const char *program;
    char *const *argv;
    char *const *envp;
    /// The child's working directory.
    const char *working_directory;
    /// Put on descriptors 0, 1 and 2 of the child.
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// RLIMIT_NOFILE, RLIMIT_AS, RLIMIT_CPU, RLIMIT_FSIZE set as soft and hard limit; 0 leaves one as is.
    uint64_t rlimit_nofile;
    uint64_t rlimit_as;
    uint64_t rlimit_cpu;
    uint64_t rlimit_fsize;
    /// The identity to switch to, -1 to keep; switching clears supplementary groups.
    int64_t uid;
    int64_t gid;
    /// Nonzero sets PR_SET_NO_NEW_PRIVS (which Landlock needs once the child has no CAP_SYS_ADMIN).
    int no_new_privs;
    /// Nonzero confines the child with Landlock: read and execute everywhere, writes only beneath
    /// writable_dirs (NULL-terminated, may be NULL) and to /dev/null.
    int landlock;
    const char *const *writable_dirs;
    /// A cgroup v2 directory the child starts in (clone3 with CLONE_INTO_CGROUP) or moves itself
    /// into through its `cgroup.procs` (while still privileged) before anything else it does;
    /// NULL for none.
    const char *cgroup_dir;
};

/// The result of dsl_sandbox_spawn.
struct dsl_sandbox_outcome {
    /// The child, which leads a process group of its own; -1 on failure.
    pid_t pid;
    /// A DSL_STAGE_* and its errno on failure.
    int failed_stage;
    int failed_errno;
    /// For DSL_STAGE_RULE: the index into writable_dirs, -1 for "/", -2 for /dev/null.
    int failed_index;
};

/// Forks and execs spec->program confined as spec says. Returns 0 once execve has succeeded, or -1
/// with the failing stage in outcome; a child that failed has been reaped.
int dsl_sandbox_spawn(const struct dsl_sandbox_spec *spec, struct dsl_sandbox_outcome *outcome);
/// The kernel's Landlock ABI version, or -errno when Landlock is unsupported or disabled.
int dsl_landlock_abi(void);
/// The Landlock ruleset dsl_sandbox_spawn enforces (read and execute everywhere, write only
/// beneath writable_dirs and to /dev/null), for a process that enforces it itself with
/// landlock_restrict_self (a fork-server's child): a close-on-exec descriptor, or -1 with the
/// failing stage (DSL_STAGE_RULESET or DSL_STAGE_RULE) in outcome.
int dsl_landlock_ruleset(const char *const *writable_dirs, struct dsl_sandbox_outcome *outcome);
/// sendmsg(2) of `length` bytes with `count` descriptors attached (SCM_RIGHTS, at most 8), EINTR
/// retried, MSG_NOSIGNAL: the bytes sent, or -1 with errno.
long dsl_send_with_fds(int socket, const void *bytes, unsigned long length, const int *fds, int count);
/// recvmsg(2) of one message into `bytes` with the descriptors attached (SCM_RIGHTS, close-on-exec,
/// at most `max_fds` kept and the rest closed), EINTR retried: the bytes received (0: the peer
/// closed), or -1 with errno. `truncated` is 1 when the message, its control data or its
/// descriptors did not fit.
long dsl_recv_with_fds(int socket, void *bytes, unsigned long capacity, int *fds, int max_fds, int *fd_count, int *truncated);
/// Closes every descriptor above `last_kept` (close_range, or one by one where the kernel lacks it).
void dsl_close_above(int last_kept);
/// prctl(PR_SET_DUMPABLE); returns 0 or -1 with errno.
int dsl_set_dumpable(int dumpable);
/// prctl(PR_GET_NO_NEW_PRIVS): 1 or 0, -1 with errno.
int dsl_get_no_new_privs(void);
/// mallopt(M_ARENA_MAX, count): at most `count` malloc arenas; 1 on success, 0 on failure.
int dsl_limit_malloc_arenas(int count);
/// prctl(PR_SET_NAME): names the calling thread (the kernel keeps the first 15 bytes).
int dsl_name_thread(const char *name);
/// fcntl(F_GETFL) and fcntl(F_SETFL, flags): fcntl is variadic.
int dsl_fcntl_getfl(int fd);
int dsl_fcntl_setfl(int fd, int flags);
/// fcntl(F_SETLEASE, type) and fcntl(F_GETLEASE): type is F_RDLCK, F_WRLCK or F_UNLCK.
int dsl_fcntl_setlease(int fd, int type);
int dsl_lease_read(void);
int dsl_lease_unlock(void);
int dsl_lease_write(void);
/// fcntl(F_SETSIG, signal): the signal a lease break (or other I/O event) sends the descriptor's owner; 0 is SIGIO.
int dsl_fcntl_setsig(int fd, int signal);
/// inotify_init1(IN_NONBLOCK | IN_CLOEXEC).
int dsl_inotify_init(void);
/// Watches `path` for entries moved in, created, written, closed after writing, moved out or deleted.
int dsl_inotify_watch(int fd, const char *path);
/// The event bits of that watch, and the queue-overflow bit.
uint32_t dsl_in_moved_to(void);
uint32_t dsl_in_create(void);
uint32_t dsl_in_modify(void);
uint32_t dsl_in_close_write(void);
uint32_t dsl_in_moved_from(void);
uint32_t dsl_in_delete(void);
uint32_t dsl_in_q_overflow(void);
/// Installs a handler for SIGTERM, SIGINT and SIGHUP that writes the signal's number as one byte
/// to `fd` (async-signal-safe), so a thread can clean up and exit. Returns 0 or -1.
int dsl_signals_to_pipe(int fd);
#include "dsl_pidfd.h"
#endif
