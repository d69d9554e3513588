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
