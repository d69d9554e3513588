/// How often and how patiently a delta is retried: exponential backoff with jitter.
public struct RetryPolicy: Sendable, Equatable, Codable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    /// Delay before the second attempt, in seconds.
    public var baseDelay: Double
    /// Ceiling of any one delay, in seconds.
    public var maxDelay: Double

    /// Defaults: 5 attempts, 1 s doubling to at most 60 s.
    public init(maxAttempts: Int = 5, baseDelay: Double = 1, maxDelay: Double = 60) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Whether another attempt may follow attempt number `attempt` (1-based).
    public func allowsAttempt(after attempt: Int) -> Bool { attempt < maxAttempts }

    /// The wait after failed attempt `attempt` (1-based), given `jitter` in `0..<1`.
    ///
    /// "Equal jitter": half of the exponential step is fixed, half is random, so retries spread out
    /// but never collapse to zero.
    public func delay(afterAttempt attempt: Int, jitter: Double) -> Double {
        let exponent = Double(max(0, attempt - 1))
        let step = min(maxDelay, baseDelay * pow2(exponent))
        let j = min(max(jitter, 0), 1)
        return step / 2 + step / 2 * j
    }

    private func pow2(_ x: Double) -> Double {
        var result = 1.0
        var n = Int(min(x, 62))
        while n > 0 { result *= 2; n -= 1 }
        return result
    }
}
