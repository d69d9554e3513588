import DeltaSealSystem

/// Requests by verb, status and retry reason: the observer a ``CountingStore`` gives its store.
public final class RequestCounters: RequestObserver, @unchecked Sendable {
    private let lock = PThreadMutex()
    private var counts: [String: Int] = [:]
    private var statuses: [Outcome: Int] = [:]
    private var retryReasons: [String: Int] = [:]

    /// A verb and the status it got (`200`, `503`, `error` for no answer, `unknown` for local stores).
    public struct Outcome: Hashable, Sendable {
        public var verb: String
        public var status: String
        public init(verb: String, status: String) { self.verb = verb; self.status = status }
    }

    public init() {}

    public func requestSent(_ verb: String) { lock.withLock { counts[verb, default: 0] += 1 } }

    public func requestAnswered(_ verb: String, status: String) {
        lock.withLock { statuses[Outcome(verb: verb, status: status), default: 0] += 1 }
    }

    public func requestRetried(reason: String) { lock.withLock { retryReasons[reason, default: 0] += 1 } }

    /// The counts so far, by verb.
    public func snapshot() -> [String: Int] { lock.withLock { counts } }

    /// Retries so far, by reason.
    public func retries() -> [String: Int] { lock.withLock { retryReasons } }

    /// The counts so far, by verb and status.
    public func byStatus() -> [Outcome: Int] { lock.withLock { statuses } }
}
