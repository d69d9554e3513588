/// Where a delta is in the pipeline. Recorded durably before the step that depends on it.
///
/// ```
/// claimed -> written -> sealed -> packed -> uploading -> uploaded -> verified (shipped)
///    ^          |          |         |          |            |
///    +----------+----------+---------+----------+------------+  retry (new attempt)
/// claimed -> rejected      (writer said: bad input)
/// any     -> failed        (attempts exhausted)
/// ```
public enum DeltaState: String, Codable, Sendable, CaseIterable {
    case claimed, written, sealed, packed, uploading, uploaded, verified, rejected, failed

    /// Whether the delta needs no more work.
    public var isTerminal: Bool { self == .verified || self == .rejected || self == .failed }

    /// Whether objects of this attempt may exist in the store and must be removed before a retry.
    public var mayHaveObjects: Bool { self == .uploading || self == .uploaded }
}
