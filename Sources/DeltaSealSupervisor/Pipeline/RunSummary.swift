import DeltaSealCore
import DeltaSealStore

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
