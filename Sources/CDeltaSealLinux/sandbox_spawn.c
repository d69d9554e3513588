#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "CDeltaSealLinux.h"

// Debian 12's kernel headers stop at Landlock ABI 2; the bits are fixed by the kernel ABI.
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

// Every filesystem right of ABI 1: EXECUTE through MAKE_SYM.
#define DSL_FS_ABI1 ((LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1)
#define DSL_FS_READ (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

int dsl_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? -errno : (int)abi;
}

int dsl_set_dumpable(int dumpable) {
    return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0);
}

int dsl_name_thread(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}

int dsl_get_no_new_privs(void) {
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
}

static int add_rule(int ruleset, const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -1;
    struct landlock_path_beneath_attr rule = { .allowed_access = access, .parent_fd = fd };
    long result = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return result < 0 ? -1 : 0;
}

// Built in the parent, where allocating and opening are allowed; the child only enforces it.
static int build_ruleset(const char *const *writable, struct dsl_sandbox_outcome *outcome) {
    int abi = dsl_landlock_abi();
    if (abi < 0) {
        outcome->failed_stage = DSL_STAGE_RULESET;
        outcome->failed_errno = -abi;
        return -1;
    }
    uint64_t all = DSL_FS_ABI1;
    // REFER handled means a link or rename from outside into a writable directory is refused.
    if (abi >= 2) all |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3) all |= LANDLOCK_ACCESS_FS_TRUNCATE;
    struct landlock_ruleset_attr attr = { .handled_access_fs = all };
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) {
        outcome->failed_stage = DSL_STAGE_RULESET;
        outcome->failed_errno = errno;
        return -1;
    }
    if (add_rule(ruleset, "/", DSL_FS_READ) != 0) {
        outcome->failed_stage = DSL_STAGE_RULE;
        outcome->failed_errno = errno;
        outcome->failed_index = -1;
        close(ruleset);
        return -1;
    }
    // Programs open /dev/null for writing (often with O_TRUNC); a system without one just lacks the rule.
    uint64_t devnull = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
    if (abi >= 3) devnull |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (add_rule(ruleset, "/dev/null", devnull) != 0 && errno != ENOENT) {
        outcome->failed_stage = DSL_STAGE_RULE;
        outcome->failed_errno = errno;
        outcome->failed_index = -2;
        close(ruleset);
        return -1;
    }
    for (int i = 0; writable != NULL && writable[i] != NULL; i++) {
        if (add_rule(ruleset, writable[i], all) != 0) {
            outcome->failed_stage = DSL_STAGE_RULE;
            outcome->failed_errno = errno;
            outcome->failed_index = i;
            close(ruleset);
            return -1;
        }
    }
    return ruleset;
}

// From here to execve only async-signal-safe calls: the parent may have other threads holding
// locks. The child also runs in the parent's memory (CLONE_VM, below): it writes nothing but its
// own stack and the kernel's state of its own task (descriptors, credentials, signal actions).
static void __attribute__((noreturn)) fail(int report_fd, int stage) {
    int message[2] = { stage, errno };
    ssize_t ignored = write(report_fd, message, sizeof message);
    (void)ignored;
    _exit(127);
}

static int set_limit(int resource, uint64_t value) {
    if (value == 0) return 0;
    struct rlimit limit = { .rlim_cur = value, .rlim_max = value };
    return setrlimit((__rlimit_resource_t)resource, &limit);
}

void dsl_close_above(int last_kept) {
    if (syscall(SYS_close_range, (unsigned)last_kept + 1, ~0U, 0) == 0) return;
    struct rlimit limit;
    rlim_t top = 1 << 20;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_max != RLIM_INFINITY && limit.rlim_max < top) top = limit.rlim_max;
    for (rlim_t fd = (rlim_t)last_kept + 1; fd < top; fd++) close((int)fd);
}

// `cgroup` is the writer cgroup's directory (or -1); `placed`, whether the child already started in it.
static void __attribute__((noreturn)) child(const struct dsl_sandbox_spec *spec, int report_fd, int ruleset, int cgroup, int placed) {
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    // glibc refuses its two internal signals with EINVAL; every other one starts at its default.
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &fallback, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) fail(report_fd, DSL_STAGE_SIGNALS);
    if (setpgid(0, 0) != 0) fail(report_fd, DSL_STAGE_SETPGID);
    if (cgroup >= 0 && !placed) {
        // "0" moves the writing process: from here on the child and all it forks are in the
        // writer's own cgroup, which cgroup.kill empties whatever they do (setsid included).
        int procs = openat(cgroup, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (procs < 0) fail(report_fd, DSL_STAGE_CGROUP);
        ssize_t wrote = write(procs, "0\n", 2);
        int saved = errno;
        close(procs);
        if (wrote != 2) { errno = wrote < 0 ? saved : EIO; fail(report_fd, DSL_STAGE_CGROUP); }
    }

    // Lift every descriptor we keep above 4 first, so placing them on 0..4 never overwrites one
    // that is still to be placed, whatever numbers the parent handed us.
    int sources[5] = { spec->stdin_fd, spec->stdout_fd, spec->stderr_fd, report_fd, ruleset };
    int count = ruleset >= 0 ? 5 : 4;
    int lifted[5];
    for (int i = 0; i < count; i++) {
        lifted[i] = fcntl(sources[i], F_DUPFD_CLOEXEC, 5);
        if (lifted[i] < 0) fail(report_fd, DSL_STAGE_DESCRIPTORS);
    }
    report_fd = lifted[3];
    for (int target = 0; target < 3; target++) {
        // dup2 clears close-on-exec on the target: 0, 1 and 2 are the only ones the program gets.
        if (dup2(lifted[target], target) < 0) fail(report_fd, DSL_STAGE_DESCRIPTORS);
    }
    if (dup3(lifted[3], 3, O_CLOEXEC) < 0) fail(report_fd, DSL_STAGE_DESCRIPTORS);
    report_fd = 3;
    if (ruleset >= 0) {
        if (dup3(lifted[4], 4, O_CLOEXEC) < 0) fail(report_fd, DSL_STAGE_DESCRIPTORS);
        ruleset = 4;
    }
    if (chdir(spec->working_directory) != 0) fail(report_fd, DSL_STAGE_CHDIR);
    // The error pipe (3) and the ruleset (4) are close-on-exec, so nothing but 0, 1, 2 reaches the program.
    dsl_close_above(ruleset >= 0 ? 4 : 3);

    if (set_limit(RLIMIT_NOFILE, spec->rlimit_nofile) != 0
        || set_limit(RLIMIT_AS, spec->rlimit_as) != 0
        || set_limit(RLIMIT_CPU, spec->rlimit_cpu) != 0
        || set_limit(RLIMIT_FSIZE, spec->rlimit_fsize) != 0) fail(report_fd, DSL_STAGE_RLIMIT);

    if (spec->uid >= 0 || spec->gid >= 0) {
        // Raw system calls: glibc's wrappers would try to signal the parent's other threads,
        // which do not exist in this child. Groups first, then gid, then uid, or we lose the right.
        if (syscall(SYS_setgroups, 0, NULL) != 0) fail(report_fd, DSL_STAGE_SETGROUPS);
        if (syscall(SYS_getgroups, 0, NULL) != 0) { errno = EPERM; fail(report_fd, DSL_STAGE_SETGROUPS); }
        if (spec->gid >= 0) {
            gid_t gid = (gid_t)spec->gid, real, effective, saved;
            if (syscall(SYS_setresgid, gid, gid, gid) != 0) fail(report_fd, DSL_STAGE_SETGID);
            if (syscall(SYS_getresgid, &real, &effective, &saved) != 0) fail(report_fd, DSL_STAGE_SETGID);
            if (real != gid || effective != gid || saved != gid) { errno = EPERM; fail(report_fd, DSL_STAGE_SETGID); }
        }
        if (spec->uid >= 0) {
            uid_t uid = (uid_t)spec->uid, real, effective, saved;
            if (syscall(SYS_setresuid, uid, uid, uid) != 0) fail(report_fd, DSL_STAGE_SETUID);
            if (syscall(SYS_getresuid, &real, &effective, &saved) != 0) fail(report_fd, DSL_STAGE_SETUID);
            if (real != uid || effective != uid || saved != uid) { errno = EPERM; fail(report_fd, DSL_STAGE_SETUID); }
        }
    }
    if (spec->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(report_fd, DSL_STAGE_NO_NEW_PRIVS);
    // No PR_SET_PDEATHSIG: a writer outlives a supervisor restart, which finds it by its recorded group.
    if (ruleset >= 0) {
        if (syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) fail(report_fd, DSL_STAGE_LANDLOCK);
        close(ruleset);
    }
    execve(spec->program, spec->argv, spec->envp);
    fail(report_fd, DSL_STAGE_EXECVE);
}

struct child_start { const struct dsl_sandbox_spec *spec; int report_fd; int ruleset; int cgroup; int placed; };

static int child_entry(void *argument) {
    const struct child_start *start = argument;
    child(start->spec, start->report_fd, start->ruleset, start->cgroup, start->placed);
}

#if defined(__x86_64__)
// clone3 with CLONE_INTO_CGROUP (Linux 5.7): the child starts in the writer's cgroup. Writing its
// pid to cgroup.procs instead migrates it, which takes the cgroup hierarchy's global threadgroup
// lock for writing and waits for an RCU grace period: 9 ms per writer measured here (strace), all
// of it the supervisor waiting. glibc 2.36 has no clone3 wrapper that runs a function on a new
// stack, so the child's first instructions are here: on the stack the kernel gave it, call
// child_entry(start) (it execs or _exits; the exit is a guard).
struct dsl_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define DSL_HAVE_CLONE3 1

// Returns the child's pid, or -errno.
static long clone3_into_cgroup(struct dsl_clone_args *args, struct child_start *start) {
    register long rax __asm__("rax") = SYS_clone3;
    register struct dsl_clone_args *rdi __asm__("rdi") = args;
    register unsigned long rsi __asm__("rsi") = sizeof *args;
    register int (*r12)(void *) __asm__("r12") = child_entry;
    register struct child_start *r13 __asm__("r13") = start;
    __asm__ volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "xor %%ebp, %%ebp\n\t"
        "mov %%r13, %%rdi\n\t"
        "call *%%r12\n\t"
        "mov $127, %%edi\n\t"
        "mov $231, %%eax\n\t"   /* exit_group */
        "syscall\n\t"
        "hlt\n\t"
        "1:\n\t"
        : "+r"(rax)
        : "r"(rdi), "r"(rsi), "r"(r12), "r"(r13)
        : "rcx", "r11", "memory", "cc");
    return rax;
}
#endif

// The child's stack while it shares the parent's memory, until execve: `child` needs a few KiB.
#define DSL_CHILD_STACK (256 << 10)

int dsl_landlock_ruleset(const char *const *writable_dirs, struct dsl_sandbox_outcome *outcome) {
    memset(outcome, 0, sizeof *outcome);
    outcome->pid = -1;
    return build_ruleset(writable_dirs, outcome);
}

long dsl_send_with_fds(int socket, const void *bytes, unsigned long length, const int *fds, int count) {
    if (count < 0 || count > 8) {
        errno = EINVAL;
        return -1;
    }
    struct iovec part = { .iov_base = (void *)bytes, .iov_len = length };
    union {
        char buffer[CMSG_SPACE(8 * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1 };
    if (count > 0) {
        message.msg_control = control.buffer;
        message.msg_controllen = CMSG_SPACE(count * sizeof(int));
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(count * sizeof(int));
        memcpy(CMSG_DATA(header), fds, count * sizeof(int));
    }
    ssize_t sent;
    do sent = sendmsg(socket, &message, MSG_NOSIGNAL); while (sent < 0 && errno == EINTR);
    return sent;
}

long dsl_recv_with_fds(int socket, void *bytes, unsigned long capacity, int *fds, int max_fds, int *fd_count, int *truncated) {
    *fd_count = 0;
    *truncated = 0;
    struct iovec part = { .iov_base = bytes, .iov_len = capacity };
    union {
        char buffer[CMSG_SPACE(8 * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr message = { .msg_iov = &part, .msg_iovlen = 1, .msg_control = control.buffer,
                              .msg_controllen = sizeof control.buffer };
    ssize_t received;
    do received = recvmsg(socket, &message, MSG_CMSG_CLOEXEC); while (received < 0 && errno == EINTR);
    if (received < 0) return -1;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *given = (int *)CMSG_DATA(header);
        for (int i = 0; i < count; i++) {
            // Every descriptor received is the caller's to close, or closed here when it has no room.
            if (*fd_count < max_fds) fds[(*fd_count)++] = given[i];
            else { close(given[i]); *truncated = 1; }
        }
    }
    if (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) *truncated = 1;
    return received;
}

int dsl_sandbox_spawn(const struct dsl_sandbox_spec *spec, struct dsl_sandbox_outcome *outcome) {
    memset(outcome, 0, sizeof *outcome);
    outcome->pid = -1;
    int ruleset = -1;
    if (spec->landlock) {
        ruleset = build_ruleset(spec->writable_dirs, outcome);
        if (ruleset < 0) return -1;
    }
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        outcome->failed_stage = DSL_STAGE_PIPE;
        outcome->failed_errno = errno;
        if (ruleset >= 0) close(ruleset);
        return -1;
    }
    // The child shares this memory until it execs and this thread waits for that (CLONE_VM |
    // CLONE_VFORK, as posix_spawn does), so the kernel copies no page tables and this process
    // takes no copy-on-write faults afterwards: fork() of the supervisor (a large address space)
    // cost milliseconds per writer. Its own stack, fresh for each child.
    void *stack = mmap(NULL, DSL_CHILD_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        outcome->failed_stage = DSL_STAGE_FORK;
        outcome->failed_errno = errno;
        close(report[0]);
        close(report[1]);
        if (ruleset >= 0) close(ruleset);
        return -1;
    }
    // The writer's cgroup, opened once: clone3 starts the child in it, or the child joins it.
    int cgroup = -1;
    if (spec->cgroup_dir) {
        cgroup = open(spec->cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgroup < 0) {
            outcome->failed_stage = DSL_STAGE_CGROUP;
            outcome->failed_errno = errno;
            munmap(stack, DSL_CHILD_STACK);
            close(report[0]);
            close(report[1]);
            if (ruleset >= 0) close(ruleset);
            return -1;
        }
    }
    struct child_start start = { .spec = spec, .report_fd = report[1], .ruleset = ruleset, .cgroup = cgroup, .placed = 0 };
    // Blocked across the clone so no handler of the parent runs in the child before it resets them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t pid = -1;
    int fork_errno = 0;
#ifdef DSL_HAVE_CLONE3
    if (cgroup >= 0) {
        struct dsl_clone_args args;
        memset(&args, 0, sizeof args);
        args.flags = CLONE_VM | CLONE_VFORK | CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.stack = (uint64_t)(uintptr_t)stack;
        args.stack_size = DSL_CHILD_STACK;
        args.cgroup = (uint64_t)cgroup;
        start.placed = 1;
        long result = clone3_into_cgroup(&args, &start);
        // Any refusal (an older kernel, a cgroup v1 path): the portable way below.
        if (result > 0) pid = (pid_t)result;
        else start.placed = 0;
    }
#endif
    if (pid < 0) {
        pid = clone(child_entry, (char *)stack + DSL_CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
        fork_errno = errno;
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, DSL_CHILD_STACK);
    if (cgroup >= 0) close(cgroup);
    close(report[1]);
    if (ruleset >= 0) close(ruleset);
    if (pid < 0) {
        close(report[0]);
        outcome->failed_stage = DSL_STAGE_FORK;
        outcome->failed_errno = fork_errno;
        return -1;
    }
    // Also from this side, so the group exists before we return whichever process runs first.
    setpgid(pid, pid);

    int message[2];
    ssize_t got;
    do got = read(report[0], message, sizeof message); while (got < 0 && errno == EINTR);
    int read_errno = errno;
    close(report[0]);
    if (got == 0) {
        // End of file: the close-on-exec pipe closed, so execve succeeded.
        outcome->pid = pid;
        return 0;
    }
    if (got < 0) {
        kill(pid, SIGKILL);
        outcome->failed_stage = DSL_STAGE_PIPE;
        outcome->failed_errno = read_errno;
    } else if (got != (ssize_t)sizeof message) {
        outcome->failed_stage = DSL_STAGE_PIPE;
        outcome->failed_errno = EPROTO;
    } else {
        outcome->failed_stage = message[0];
        outcome->failed_errno = message[1];
    }
    // The child has _exit-ed or is about to: reap it so no zombie is left.
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return -1;
}
