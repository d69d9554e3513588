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
