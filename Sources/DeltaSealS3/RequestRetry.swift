import CCurl
import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// Request-level retries, like the AWS SDKs' "standard" mode: up to `maxAttempts` per request,
/// exponential backoff with full jitter (a random wait in `0 ..< min(cap, base · 2^(n-1))`),
/// for throttling, 5xx, connection failures and truncated bodies; never for other 4xx.
struct RequestRetry: Sendable {
    /// Why a request is tried again; the label of `deltaseal_store_retries_total{class}`.
    enum Reason: String, Sendable, CaseIterable {
        /// 503 SlowDown, 429, `Throttling`.
        case throttled
        /// Another 5xx, or `RequestTimeout`/`InternalError`.
        case serverError = "server_error"
        /// Connection refused or reset, timeouts, DNS: no answer at all.
        case connection
        /// The answer's body ended early.
        case truncated
    }

    var maxAttempts: Int
    var baseSeconds: Double = 0.1
    var capSeconds: Double = 20

    /// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) failed.
    func delay(afterAttempt attempt: Int) -> Double {
        let ceiling = min(capSeconds, baseSeconds * Double(1 << min(attempt - 1, 30)))
        return Double.random(in: 0..<max(ceiling, .leastNonzeroMagnitude))
    }

    /// Whether an HTTP answer is worth trying again, and why.
    static func reason(status: Int, code: String) -> Reason? {
        switch (status, code) {
        case (503, _), (429, _), (_, "SlowDown"), (_, "Throttling"), (_, "ThrottlingException"), (_, "RequestLimitExceeded"):
            return .throttled
        case (500..<600, _), (_, "RequestTimeout"), (_, "InternalError"):
            return .serverError
        default:
            return nil
        }
    }

    /// Whether a transport failure is worth trying again, and why.
    static func reason(_ error: TransportError) -> Reason? {
        guard error.isRetryable else { return nil }
        if error.code == CURLE_PARTIAL_FILE || error.delivered > 0 { return .truncated }
        return .connection
    }

    /// Codes with which the server says the session token is no longer good.
    static func isExpiredToken(_ code: String) -> Bool {
        code == "ExpiredToken" || code == "InvalidToken" || code == "ExpiredTokenException" || code == "TokenRefreshRequired"
    }
}
