import DeltaSealSystem
import Synchronization

/// Requests by verb, status and retry reason: the observer a ``CountingStore`` gives its store.
public final class RequestCounters: RequestObserver, Sendable {
    private struct State {
        var counts: [String: Int] = [:]
        var statuses: [Outcome: Int] = [:]
        var retryReasons: [String: Int] = [:]
    }
    private let state = Mutex(State())

    /// A verb and the status it got (`200`, `503`, `error` for no answer, `unknown` for local stores).
    public struct Outcome: Hashable, Sendable {
        public var verb: String
        public var status: String
        public init(verb: String, status: String) { self.verb = verb; self.status = status }
    }

    public init() {}

    public func requestSent(_ verb: String) { state.withLock { $0.counts[verb, default: 0] += 1 } }

    public func requestAnswered(_ verb: String, status: String) {
        state.withLock { $0.statuses[Outcome(verb: verb, status: status), default: 0] += 1 }
    }

    public func requestRetried(reason: String) { state.withLock { $0.retryReasons[reason, default: 0] += 1 } }

    /// The counts so far, by verb.
    public func snapshot() -> [String: Int] { state.withLock { $0.counts } }

    /// Retries so far, by reason.
    public func retries() -> [String: Int] { state.withLock { $0.retryReasons } }

    /// The counts so far, by verb and status.
    public func byStatus() -> [Outcome: Int] { state.withLock { $0.statuses } }
}
