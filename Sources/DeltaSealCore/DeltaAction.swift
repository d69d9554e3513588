/// What ``DeltaStateMachine`` asks the pipeline to do. At most one action of a step produces an
/// event (it is the last); `save` and `killLeftoverWriter` produce none.
public enum DeltaAction: Sendable, Equatable {
    /// Record the delta durably (`work/<id>/state.json`) before anything that depends on it.
    case save
    /// A writer started by a run that died: kill its process group if it is still that process.
    case killLeftoverWriter(pid: Int32, startTime: UInt64?)
    /// Wait until the time, or a stop; then resume.
    case wait(untilMs: Int64)
    /// Look at the spool and resume (a new attempt).
    case resume
    /// Run the writer into a fresh output directory → `writerStarted`, then `writerExited` or
    /// `batchesChanged` or `stopped`.
    case spawnWriter
    /// → `sealed` / `sealFailed`.
    case seal
    /// → `packed` / `packFailed`.
    case pack
    /// Wait until the store can take work → `storeReady` / `stopped`.
    case awaitStore
    /// → `uploadedManifest` / `storeFailed(.readManifest)`.
    case readUploadedManifest
    /// Objects first, each with its checksum, the manifest last and only if absent → `uploaded` /
    /// `manifestConflict` / `storeFailed(.upload)`.
    case upload
    /// Remove what an earlier attempt uploaded, manifest first → `objectsDeleted` / `storeFailed(.deleteObjects)`.
    case deleteObjects
    /// Run the verifier → `verified`.
    case verify
    /// The delta is decided: move its files (idempotent, safe to repeat after a crash).
    case finish(DeltaEnding)
}

/// How a delta leaves the pipeline in a run.
public enum DeltaEnding: String, Sendable, Equatable {
    /// Verified in the store: the local copy and the batch go.
    case shipped
    /// The writer said the batch is bad: it goes to `rejected/` with a report.
    case rejected
    /// Attempts exhausted or a permanent failure: the work directory goes to `failed/`.
    case failed
    /// Stopped before it was decided: it stays in `work/` and resumes at the next start.
    case deferred
}
