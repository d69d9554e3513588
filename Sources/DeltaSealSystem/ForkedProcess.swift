import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// A process another process forked, named to us by its pid (a fork-server's child): held by a
/// pidfd, so it is that very process for as long as the handle lives, however its pid is reused
/// once its parent reaps it.
///
/// The pid is taken on trust only as far as it is checked: ``adopt(pid:parent:)`` refuses a
/// process that is not a child of `parent` leading a process group of its own, so a hostile
/// parent cannot make us signal a process of somebody else.
public final class ForkedProcess: Sendable {
    public let pid: pid_t
    private let pidfd: Int32

    /// Why a named pid was refused.
    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// Opens `pid`, then checks it is alive, a child of `parent` and the leader of its own process
    /// group (in that order: the checks read the process the descriptor already holds).
    public static func adopt(pid: pid_t, parent: pid_t) throws -> ForkedProcess {
        guard pid > 1 else { throw Refused(description: "pid \(pid) is not a process it could have forked") }
        let pidfd = dsl_pidfd_open(pid)
        guard pidfd >= 0 else { throw Refused(description: "pid \(pid): \(SystemError("pidfd_open", "\(pid)", errno: errno))") }
        let process = ForkedProcess(pid: pid, pidfd: pidfd)
        guard let lineage = ProcessIdentity.lineage(of: pid), process.isAlive else {
            throw Refused(description: "pid \(pid) had ended before it could be checked")
        }
        guard lineage.parent == parent else {
            throw Refused(description: "pid \(pid) is not its child (its parent is \(lineage.parent))")
        }
        guard lineage.group == pid else {
            throw Refused(description: "pid \(pid) does not lead a process group of its own (its group is \(lineage.group))")
        }
        return process
    }

    private init(pid: pid_t, pidfd: Int32) {
        self.pid = pid
        self.pidfd = pidfd
    }

    deinit { close(pidfd) }

    /// Whether the process exists (running, or a zombie its parent has not reaped).
    public var isAlive: Bool { dsl_pidfd_signal(pidfd, 0) == 0 }

    /// Returns once the process has exited (at once if it has). Holds no thread.
    public func exited() async { await ChildMonitor.shared.exited(pidfd) }

    /// Waits for the process to exit, enforcing `timeout` and `grace` on its group as
    /// ``ChildProcess/wait(timeout:grace:)`` does (``ExitDeadline``); whether it timed out.
    public func wait(timeout: Duration, grace: Duration) async -> Bool {
        await ExitDeadline.wait(timeout: timeout, grace: grace, exited: { await self.exited() },
                                hasEnded: { ExitDeadline.hasExited(pidfd: self.pidfd) },
                                signalGroup: { self.signalGroup($0) })
    }

    /// Sends `signal` to the process's group; false when the process itself is gone (reaped: its
    /// pid, and so its group id, may be somebody else's by now) or no member is left.
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        guard isAlive else { return false }
        return kill(-pid, signal) == 0
    }

    /// Whether any member of its group, the process included, has not exited (reads every
    /// process's /proc stat: for failure paths only).
    public var groupIsAlive: Bool {
        isAlive && ProcessIdentity.groupHasLiveMembers(pid, besides: -1)
    }
}
