import CDeltaSealLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The children this process started and has not reaped, by pid with their pidfds: what a
/// shutdown whose drain timed out stops, so that no writer or verifier outlives the daemon
/// (their deltas resume at the next start from the state on disk).
///
/// Reaping happens here and only here, under the same lock as every signal sent from here: a
/// pid in the table is a live child or its zombie, so its group id is still its own.
public enum RunningChildren {
    private static let children = Mutex<[pid_t: Int32]>([:])

    static func started(pid: pid_t, pidfd: Int32) { children.withLock { $0[pid] = pidfd } }

    /// The handle of `pid` is gone: reaps the child if it has exited and closes its pidfd; a
    /// child still running is reaped by ``ChildMonitor`` when it exits.
    static func release(pid: pid_t, pidfd: Int32) {
        if !reapIfExited(pid: pid, pidfd: pidfd) {
            ChildMonitor.shared.reapWhenExited(pid: pid, pidfd: pidfd)
        }
    }

    /// Reaps `pid` if it has exited; true if it did (and the pidfd is closed).
    static func reapIfExited(pid: pid_t, pidfd: Int32) -> Bool {
        children.withLock { children in
            var exitStatus: Int32 = 0
            var signal: Int32 = 0
            let result = dsl_pidfd_wait(pidfd, dsl_wait_nohang(), &exitStatus, &signal)
            // 0: still running. -1 (ECHILD): reaped already by nobody we know; the entry goes anyway.
            guard result != 0 else { return false }
            children[pid] = nil
            close(pidfd)
            return true
        }
    }

    /// Whether `pid` is a child of this process not reaped yet.
    public static func isUnreaped(_ pid: pid_t) -> Bool { children.withLock { $0[pid] != nil } }

    /// SIGTERM to every child's group, SIGKILL to every group still here after `grace` or once
    /// every child has exited, whichever comes first (a group whose leader exited may keep
    /// members). It waits on the blocking executor, so it does its work in a cancelled task too.
    public static func stopAll(grace: Duration) async {
        let pids = children.withLock { children -> [pid_t] in
            for pid in children.keys { kill(-pid, SIGTERM) }
            return Array(children.keys)
        }
        guard !pids.isEmpty else { return }
        let graceNanoseconds = UInt64(max(0, grace.components.seconds)) * 1_000_000_000
            + UInt64(max(0, grace.components.attoseconds) / 1_000_000_000)
        await Blocking.runQuietly {
            let deadline = WallClock.monotonicNanoseconds() + graceNanoseconds
            while WallClock.monotonicNanoseconds() < deadline {
                // By pid: a pidfd number is reused once its child is reaped, the pid is not before.
                let running = children.withLock { children in pids.contains { children[$0].map { !ExitDeadline.hasExited(pidfd: $0) } ?? false } }
                if !running { break }
                usleep(10_000)
            }
            children.withLock { children in
                for pid in children.keys { kill(-pid, SIGKILL) }
            }
        }
    }
}
