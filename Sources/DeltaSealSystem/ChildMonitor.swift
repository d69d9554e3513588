import CDeltaSealLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Tells tasks when child processes exit: one thread waits in `epoll_wait` on the children's
/// pidfds (a pidfd becomes readable when its process has exited), however many children there
/// are, so waiting for a child holds no thread of its own and none of the blocking executor's.
///
/// It only reports an exit; it never reaps. The child stays a zombie, which keeps its pid (and
/// so its process-group id) from being reused, until its ``ChildProcess`` handle reaps it.
public final class ChildMonitor: Sendable {
    /// The name of its one thread, as `top -H` shows it.
    public static let threadName = "ds-children"
    /// The process's monitor.
    public static let shared = ChildMonitor()

    private let epoll: Int32
    private let waiting = Mutex<[Int32: [CheckedContinuation<Void, Never>]]>([:])
    /// Children whose handle went while they ran: reaped here when they exit.
    private let orphans = Mutex<[Int32: pid_t]>([:])

    private init() {
        let fd = dsl_epoll_create()
        precondition(fd >= 0, "epoll_create1: \(String(cString: strerror(errno)))")
        epoll = fd
        NamedThread.start(Self.threadName, stackSize: 256 << 10) { [self] in watch() }
    }

    /// Returns once the process of `pidfd` has exited (at once if it has). The descriptor must
    /// stay open until this returns.
    public func exited(_ pidfd: Int32) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let first = waiting.withLock { waiting -> Bool in
                let first = waiting[pidfd] == nil
                waiting[pidfd, default: []].append(continuation)
                return first
            }
            guard first else { return }
            if dsl_epoll_add_oneshot(epoll, pidfd) != 0 {
                // Not watchable (cannot happen for a valid pidfd): report at once rather than hang;
                // the caller's wait on the status then tells what is true.
                resume(pidfd)
            }
        }
    }

    /// How many children tasks are waiting for now.
    public var watching: Int { waiting.withLock { $0.count } }

    /// Reaps `pid` (and closes its pidfd) once it exits: for a child whose handle is gone.
    func reapWhenExited(pid: pid_t, pidfd: Int32) {
        orphans.withLock { $0[pidfd] = pid }
        // Cannot fail for a valid pidfd; if it did, the child would stay an unreaped zombie.
        _ = dsl_epoll_add_oneshot(epoll, pidfd)
    }

    private func resume(_ pidfd: Int32) {
        let continuations = waiting.withLock { $0.removeValue(forKey: pidfd) } ?? []
        continuations.forEach { $0.resume() }
    }

    private func watch() {
        var ready = [Int32](repeating: -1, count: 64)
        while true {
            let count = ready.withUnsafeMutableBufferPointer { dsl_epoll_wait(epoll, $0.baseAddress, 64, -1) }
            if count < 0 { continue }  // EINTR
            for index in 0..<Int(count) {
                // Removed before anyone is resumed: the handle may close the descriptor right after.
                let pidfd = ready[index]
                _ = dsl_epoll_remove(epoll, pidfd)
                if let pid = orphans.withLock({ $0.removeValue(forKey: pidfd) }) {
                    _ = RunningChildren.reapIfExited(pid: pid, pidfd: pidfd)
                } else {
                    resume(pidfd)
                }
            }
        }
    }
}
