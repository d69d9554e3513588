import DeltaSealCore
import DeltaSealStore

/// How one delta ended in this run.
public enum DeltaOutcome: Sendable, Equatable {
    /// Verified in the store.
    case shipped(records: Int, rawBytes: Int64, compressedBytes: Int64)
    /// The writer rejected the batch; it is in `rejected/`.
    case rejected(reason: String)
    /// Attempts exhausted or a permanent failure; it is in `failed/`.
    case failed(reason: String)
    /// A stop was requested before its next attempt; it stays in `work/` for the next start.
    case deferred
}

/// Totals of a run, for `--once` and the demo.
public struct RunSummary: Sendable, Equatable {
    public var shipped = 0
    public var rejected = 0
    public var failed = 0
    /// Left in `work/` by a stop, to be resumed.
    public var deferred = 0
    /// Entries of `incoming/` that can never be claimed (not UTF-8, not a regular file,
    /// unreadable), as last seen.
    public var unclaimable = 0
    public var records = 0
    public var rawBytes: Int64 = 0
    public var compressedBytes: Int64 = 0

    public init() {}

    mutating func add(_ outcome: DeltaOutcome) {
        switch outcome {
        case let .shipped(records, raw, compressed):
            shipped += 1; self.records += records; rawBytes += raw; compressedBytes += compressed
        case .rejected: rejected += 1
        case .failed: failed += 1
        case .deferred: deferred += 1
        }
    }

    /// Whether everything shipped and nothing was left behind in `incoming/`.
    public var allShipped: Bool { rejected == 0 && failed == 0 && deferred == 0 && unclaimable == 0 }
}

/// One failed attempt: why, whether another attempt can help, and where it starts.
struct AttemptFailure: Error, CustomStringConvertible {
    var reason: String
    var retryable: Bool
    /// Where the next attempt starts: `claimed` (write again), `packed` (upload the packed delta
    /// again), `uploaded` (verify again). The writer runs again only when its output is gone or
    /// was proved bad.
    var resumeAt: DeltaState = .claimed
    /// The store's error behind it, if any: it tells outage mode about the store.
    var storeError: StoreError?
    /// Whether repeating it may use up `retry.max_attempts`; false for the store's own requests
    /// (uploads, reads, deletes): a store that fails and recovers never fails a delta.
    var canExhaust = true
    var description: String { reason }

    /// Whether the failure is the store's stage (upload, verification), not the writer's.
    var isStoreStage: Bool { resumeAt != .claimed }
}

/// The attempt stops without failing and without spending an attempt: a stop was requested
/// (a writer killed by the drain, a delta waiting for the store); it resumes at the next start.
struct Deferred: Error {}
