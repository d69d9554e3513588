/// What the verifier lets one SQLite check cost, so a hostile file (an expression index over
/// `zeroblob()`, a huge value) ends as "invalid" instead of taking the host's memory or hours.
///
/// The defaults pass any honest delta up to 10 GiB on this project's reference machine
/// (docs/formats.md, "Verifier budgets").
public struct SQLiteBudget: Sendable, Equatable {
    /// The largest string or blob a statement may make (`SQLITE_LIMIT_LENGTH`).
    public var valueBytes: Int32 = 256 << 20
    /// The most heap all SQLite work of the verifier may hold at once.
    public var heapBytes: Int64 = 1 << 30
    /// Time allowed for any file, in seconds ...
    public var baseSeconds: Double = 60
    /// ... plus this many per MiB of the file.
    public var secondsPerMiB: Double = 0.125

    public init() {}

    /// The time budget for a file of `bytes`.
    public func seconds(forBytes bytes: Int64) -> Double {
        baseSeconds + secondsPerMiB * Double(bytes) / Double(1 << 20)
    }
}
