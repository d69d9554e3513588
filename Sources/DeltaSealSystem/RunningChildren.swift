import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The process groups of the children this process started and has not reaped: what a shutdown
/// whose drain timed out stops, so that no writer or verifier outlives the daemon (their deltas
/// resume at the next start from the state on disk).
public enum RunningChildren {
    private static let groups = Mutex<Set<pid_t>>([])

    static func started(_ pid: pid_t) { groups.withLock { _ = $0.insert(pid) } }

    /// Called right after `waitpid` returned the child, before anything can reuse its pid.
    static func reaped(_ pid: pid_t) { groups.withLock { _ = $0.remove(pid) } }

    /// SIGTERM to every group, SIGKILL to every group after `grace` (at once when all are gone
    /// before). It waits on a thread of its own, so it does its work in a cancelled task too.
    public static func stopAll(grace: Duration) async {
        let pids = groups.withLock { Array($0) }
        guard !pids.isEmpty else { return }
        for pid in pids { kill(-pid, SIGTERM) }
        let graceNanoseconds = UInt64(max(0, grace.components.seconds)) * 1_000_000_000
            + UInt64(max(0, grace.components.attoseconds) / 1_000_000_000)
        await Blocking.runQuietly {
            let deadline = WallClock.monotonicNanoseconds() + graceNanoseconds
            while pids.contains(where: { kill(-$0, 0) == 0 }), WallClock.monotonicNanoseconds() < deadline {
                usleep(20_000)
            }
            for pid in pids { kill(-pid, SIGKILL) }
        }
    }
}
