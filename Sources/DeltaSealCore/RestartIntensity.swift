/// A crash-loop breaker in the manner of OTP supervisors: more than `maxFailures` writer failures
/// within `windowMs` pause every writer start for `pauseMs`, so a broken writer command cannot
/// spin the host. A pure value: the caller supplies the clock.
public struct RestartIntensity: Sendable, Equatable {
    public var maxFailures: Int
    public var windowMs: Int64
    public var pauseMs: Int64
    /// Failure times inside the window, oldest first.
    public private(set) var failures: [Int64] = []
    /// Writers may not start before this time.
    public private(set) var pausedUntilMs: Int64?

    /// Defaults: more than 10 failures in 60 s pause writers for 30 s.
    public init(maxFailures: Int = 10, windowMs: Int64 = 60_000, pauseMs: Int64 = 30_000) {
        self.maxFailures = maxFailures
        self.windowMs = windowMs
        self.pauseMs = pauseMs
    }

    /// Records a failed writer at `nowMs`; true if it trips the breaker.
    public mutating func recordFailure(atMs nowMs: Int64) -> Bool {
        failures.removeAll { $0 <= nowMs - windowMs }
        failures.append(nowMs)
        guard failures.count > maxFailures else { return false }
        pausedUntilMs = nowMs + pauseMs
        failures.removeAll()
        return true
    }

    /// Records a writer that produced a delta: the loop, if any, is over.
    public mutating func recordSuccess() {
        failures.removeAll()
    }

    /// How long a writer must still wait at `nowMs` (0 when it may start).
    public func waitMs(atMs nowMs: Int64) -> Int64 {
        guard let until = pausedUntilMs else { return 0 }
        return max(0, until - nowMs)
    }
}

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
