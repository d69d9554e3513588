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
