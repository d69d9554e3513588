/// Whether the supervisor may claim more batches: it pauses when its work area grows past a
/// size or free disk falls below a floor, and resumes by itself when both are fine again.
public struct IntakeLimits: Sendable, Equatable {
    /// Most bytes the deltas in `work/` may hold before intake pauses.
    public var maxWorkBytes: Int64
    /// Least free bytes on the spool's file system for intake to continue.
    public var minFreeBytes: Int64

    /// Defaults: 10 GiB of work, 1 GiB free.
    public init(maxWorkBytes: Int64 = 10 << 30, minFreeBytes: Int64 = 1 << 30) {
        self.maxWorkBytes = maxWorkBytes
        self.minFreeBytes = minFreeBytes
    }

    /// `nil` when intake may continue, else why it pauses.
    public func pauseReason(workBytes: Int64, freeBytes: Int64) -> String? {
        if freeBytes < minFreeBytes {
            return "free disk \(freeBytes) bytes is below the floor of \(minFreeBytes)"
        }
        if workBytes >= maxWorkBytes {
            return "work area holds \(workBytes) bytes, the limit is \(maxWorkBytes)"
        }
        return nil
    }
}
