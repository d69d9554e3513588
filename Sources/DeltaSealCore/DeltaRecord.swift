/// The durable record of one delta in the spool (`work/<id>/state.json`).
public struct DeltaRecord: Codable, Sendable, Equatable {
    public var id: DeltaID
    public var state: DeltaState
    /// The attempt in progress or last made, 1-based.
    public var attempt: Int
    /// Batch file names, as claimed from `incoming/`.
    public var batches: [String]
    /// Why the last attempt failed, if it did.
    public var lastError: String?
    /// Unix milliseconds of the claim.
    public var claimedAtMs: Int64
    /// Earliest Unix milliseconds at which the next attempt may start.
    public var notBeforeMs: Int64?
    /// The running writer's pid (also its process group) and start time, so a restarted
    /// supervisor can kill a writer its predecessor left behind.
    public var writerPID: Int32?
    public var writerStartTime: UInt64?
    /// Size and SHA-256 of each batch as claimed; every attempt checks the batches against them,
    /// so a batch changed after the claim is never written, rejected or deleted as if it were
    /// the producer's.
    public var batchDigests: [BatchDigest]?
    /// Failed attempts of the store stages (upload, verification) since the last success; they
    /// never re-run the writer, and none is counted while the store is unavailable.
    public var storeAttempts: Int?
    /// How long the writer took, for the manifest (kept so a resumed delta can be packed).
    public var writerDurationMs: Int64?
    /// What was uploaded was proved bad (or its batch must be written again): the objects go
    /// (manifest first) before the writer runs again, at whatever start comes next.
    public var writeAgain: Bool?
    /// The delta failed while objects of an attempt may be in the store, and removing them has not
    /// succeeded (yet): its failure report says so, and `gc` removes them.
    public var objectsMayRemain: Bool?

    public init(id: DeltaID, batches: [String], claimedAtMs: Int64) {
        self.id = id
        self.state = .claimed
        self.attempt = 1
        self.batches = batches
        self.claimedAtMs = claimedAtMs
    }

    enum CodingKeys: String, CodingKey {
        case id, state, attempt, batches, lastError = "last_error", claimedAtMs = "claimed_at_ms", notBeforeMs = "not_before_ms"
        case writerPID = "writer_pid", writerStartTime = "writer_start_time", batchDigests = "batch_digests"
        case storeAttempts = "store_attempts", writerDurationMs = "writer_duration_ms", writeAgain = "write_again"
        case objectsMayRemain = "objects_may_remain"
    }
}
