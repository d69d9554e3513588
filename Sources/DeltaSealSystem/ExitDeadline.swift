#if canImport(Glibc)
import Glibc
#endif

/// The timeout of a wait for a process to exit, shared by ``ChildProcess`` and ``ForkedProcess``:
/// at `timeout` SIGTERM to the process's group, after `grace` SIGKILL, and SIGKILL once more
/// after a timeout so no grandchild survives it.
enum ExitDeadline {
    /// Returns once `exited` has returned; whether the deadline passed first. A deadline whose
    /// timer runs after the process ended (on a busy executor the timer's task may run before
    /// the one the exit woke) is not a timeout, and the group is not signalled. In a cancelled
    /// task the deadline is not enforced (a drain's stop signals every child instead) and the
    /// wait goes on.
    static func wait(timeout: Duration, grace: Duration, exited: @escaping @Sendable () async -> Void,
                     hasEnded: @escaping @Sendable () -> Bool, signalGroup: @escaping @Sendable (Int32) -> Void) async -> Bool {
        let timedOut = OnceFlag()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await exited() }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    if hasEnded() { return }
                    timedOut.set()
                    signalGroup(SIGTERM)
                    try await Task.sleep(for: grace)
                    signalGroup(SIGKILL)
                } catch {}
            }
            // Whichever ends first, the timer is cancelled; the group still waits for the exit.
            await group.next()
            group.cancelAll()
        }
        if timedOut.isSet { signalGroup(SIGKILL) }
        return timedOut.isSet
    }

    /// Whether the process of `pidfd` has exited (its pidfd is readable), reaped or not.
    static func hasExited(pidfd: Int32) -> Bool {
        var descriptor = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 1
    }
}
