import DeltaSealSystem

/// Requests by verb, counted by a store and read by whoever reports them.
public final class RequestCounters: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var counts: [String: Int] = [:]
    private var statuses: [Outcome: Int] = [:]
    private var retryReasons: [String: Int] = [:]

    /// A verb and the status it got (`200`, `503`, `error` for no answer, `ok` for local stores).
    public struct Outcome: Hashable, Sendable {
        public var verb: String
        public var status: String
    }

    public init() {}

    /// Counts one request.
    public func count(_ verb: String) { lock.withLock { counts[verb, default: 0] += 1 } }

    /// Records the status one request got.
    public func record(_ verb: String, status: String) { lock.withLock { statuses[Outcome(verb: verb, status: status), default: 0] += 1 } }

    /// The counts so far, by verb.
    public func snapshot() -> [String: Int] { lock.withLock { counts } }

    /// Counts one request that is tried again, by why (`throttled`, `server_error`, `connection`,
    /// `truncated`, `expired_token`).
    public func retried(_ reason: String) { lock.withLock { retryReasons[reason, default: 0] += 1 } }

    /// Retries so far, by reason.
    public func retries() -> [String: Int] { lock.withLock { retryReasons } }

    /// The counts so far, by verb and status.
    public func byStatus() -> [Outcome: Int] { lock.withLock { statuses } }
}
