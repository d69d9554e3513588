/// What happened to a delta, as the pipeline tells ``DeltaStateMachine``: the result of the
/// action it performed last, or the start of a run.
public enum DeltaEvent: Sendable, Equatable {
    /// A run takes the delta up: at a start, after a wait, after a failed attempt.
    case resumed(DeltaDisk)
    /// The writer runs (its pid is also its process group): recorded so a later start can kill it.
    case writerStarted(pid: Int32, startTime: UInt64?)
    /// The writer exited.
    case writerExited(WriterExit)
    /// A batch is no longer what was claimed (checked before and after every writer).
    case batchesChanged(reason: String)
    case sealed
    /// Something still held the output, or it is not a delta (`permanent`: it never will be).
    case sealFailed(reason: String, permanent: Bool)
    case packed
    case packFailed(reason: String, retryable: Bool)
    /// The store can take work now.
    case storeReady
    /// Whether the manifest in the store is the one packed here (after a crash during the upload).
    case uploadedManifest(matches: Bool)
    case uploaded
    /// Another manifest is in the store under this delta's name: never overwritten.
    case manifestConflict(reason: String)
    /// What an earlier attempt uploaded is gone (manifest first).
    case objectsDeleted(DeltaDisk)
    /// A request of `stage` failed.
    case storeFailed(StoreStage, StoreFailure)
    case verified(Verdict)
    /// A local operation failed (disk full, permissions): retried like any attempt.
    case localFailure(reason: String, retryable: Bool)
    /// The action could not go on because of a stop (the drain killed the writer, or `--once`
    /// met an unavailable store): nothing was spent, the delta resumes at the next start.
    case stopped

    /// What the spool holds for the delta, looked at when a run takes it up.
    public struct DeltaDisk: Sendable, Equatable {
        /// The writer's output directory exists.
        public var hasOutput: Bool
        /// A packed delta with its manifest exists.
        public var hasPacked: Bool
        /// A stop was requested: no new attempt starts after a wait.
        public var stopRequested: Bool
        /// The batches' digests, when the record has none yet (claimed by a supervisor that died
        /// before it recorded them).
        public var batchDigests: [BatchDigest]?
        /// Why a batch is no longer what was claimed, if it is not.
        public var batchProblem: String?
        public init(hasOutput: Bool, hasPacked: Bool, stopRequested: Bool = false, batchDigests: [BatchDigest]? = nil,
                    batchProblem: String? = nil) {
            self.hasOutput = hasOutput; self.hasPacked = hasPacked; self.stopRequested = stopRequested
            self.batchDigests = batchDigests; self.batchProblem = batchProblem
        }
    }

    /// How a writer ended, read through the writer contract.
    public enum WriterExit: Sendable, Equatable {
        case complete(durationMs: Int64)
        /// It said the batch is bad: the batch is rejected, never retried.
        case badInput(reason: String)
        case failed(reason: String)
    }

    /// The store requests of a delta, by what they were for.
    public enum StoreStage: String, Sendable, Equatable, CaseIterable {
        case upload, readManifest = "read_manifest", deleteObjects = "delete_objects"
    }

    /// A failed store request, with what the store's health knows about it.
    public struct StoreFailure: Sendable, Equatable {
        public var reason: String
        /// Whether another try can help (a timeout, a 503) or not (access denied).
        public var retryable: Bool
        /// The store is available (no outage): a failure then spends a store attempt.
        public var storeAvailable: Bool
        /// The first permanent refusal the store's health saw: this delta fails for it; others
        /// that meet the same refusal wait for the store instead.
        public var firstRefusal: Bool
        public init(reason: String, retryable: Bool, storeAvailable: Bool = true, firstRefusal: Bool = false) {
            self.reason = reason; self.retryable = retryable; self.storeAvailable = storeAvailable; self.firstRefusal = firstRefusal
        }
    }

    /// The verifier's answer.
    public enum Verdict: Sendable, Equatable {
        case valid
        /// What was uploaded is bad: the delta is written again.
        case invalid(reason: String)
        /// Nothing is known about the delta (a crash, a timeout, the store failed): verify again.
        case couldNotCheck(reason: String, storeAvailable: Bool)
    }
}
