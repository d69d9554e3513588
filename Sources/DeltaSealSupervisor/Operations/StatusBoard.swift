import DeltaSealCore
import DeltaSealDelta
import DeltaSealSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What the running daemon knows and the spool does not: kept in memory, written to
/// `spool/status.json` (atomically) every poll.
final class StatusBoard: Sendable {
    static let fileName = "status.json"
    private struct State {
        var shippedTimes: [Int64] = []
        var totals: [String: Int] = [:]
        var failures: [SupervisorStatus.Failure] = []
        var intakePaused: String?
        var writersPausedMs: Int64 = 0
        var sandbox: String?
    }
    private let state = Mutex(State())
    private let startedAt = CivilTime.rfc3339(unixMilliseconds: WallClock.nowMilliseconds())

    var intakePaused: String? {
        get { state.withLock { $0.intakePaused } }
        set { state.withLock { $0.intakePaused = newValue } }
    }
    var writersPausedMs: Int64 {
        get { state.withLock { $0.writersPausedMs } }
        set { state.withLock { $0.writersPausedMs = newValue } }
    }
    var sandbox: String? {
        get { state.withLock { $0.sandbox } }
        set { state.withLock { $0.sandbox = newValue } }
    }

    func record(_ outcome: DeltaOutcome, id: DeltaID) {
        let now = WallClock.nowMilliseconds()
        state.withLock { state in
            switch outcome {
            case .shipped:
                state.shippedTimes.append(now)
                state.totals["shipped", default: 0] += 1
            case .deferred:
                break
            case .rejected(let reason), .failed(let reason):
                let name = { if case .rejected = outcome { return "rejected" } else { return "failed" } }()
                state.totals[name, default: 0] += 1
                state.failures.append(.init(deltaID: id.rawValue, outcome: name, reason: reason, at: CivilTime.rfc3339(unixMilliseconds: now)))
                if state.failures.count > 50 { state.failures.removeFirst(state.failures.count - 50) }
            }
        }
    }

    /// Writes the status file; a failure is not worth stopping for.
    func write(spool: Spool) {
        let now = WallClock.nowMilliseconds()
        let status = state.withLock { state -> SupervisorStatus in
            state.shippedTimes.removeAll { $0 < now - 3_600_000 }
            return SupervisorStatus(
                running: true, pid: getpid(), startedAt: startedAt, updatedAt: CivilTime.rfc3339(unixMilliseconds: now),
                intakePaused: state.intakePaused, writersPausedSeconds: Double(state.writersPausedMs) / 1000,
                shippedLastHour: state.shippedTimes.count, totals: state.totals, recentFailures: state.failures, stages: [:],
                inFlight: [], queues: [:], sandbox: state.sandbox)
        }
        if let bytes = try? StableJSON.encode(status) {
            try? Files.writeAtomically(bytes, to: spool.root + "/" + Self.fileName)
        }
    }
}
