import DeltaSealSystem

/// Requests by verb, counted by a store and read by whoever reports them.
public final class RequestCounters: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var counts: [String: Int] = [:]

    public init() {}

    /// Counts one request.
    public func count(_ verb: String) { lock.withLock { counts[verb, default: 0] += 1 } }

    /// The counts so far.
    public func snapshot() -> [String: Int] { lock.withLock { counts } }
}
