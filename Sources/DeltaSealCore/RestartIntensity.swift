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
