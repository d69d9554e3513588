import DeltaSealSystem
import Synchronization

/// Where a store gets the credentials to sign each request with. Requests run on several
/// threads: implementations are thread-safe.
public protocol CredentialProvider: Sendable {
    /// Credentials to sign a request with now; may fetch them (a network call or a process).
    /// Errors are ``StoreError``s that say whether a retry helps.
    func credentials() throws -> S3Credentials

    /// The server refused `stale` as expired or invalid (`ExpiredToken`): forget them so the next
    /// ``credentials()`` fetches new ones.
    func invalidate(_ stale: S3Credentials)

    /// Where the credentials come from, for messages (never a secret).
    var source: String { get }
}

/// Long-term keys that never change (the environment's, a profile's, the supervisor's file).
public struct StaticCredentials: CredentialProvider {
    public let fixed: S3Credentials
    public init(_ credentials: S3Credentials) { fixed = credentials }
    public func credentials() throws -> S3Credentials { fixed }
    public func invalidate(_ stale: S3Credentials) {}
    public var source: String { fixed.source }
}

/// Temporary credentials from a source that can be asked again (STS, instance metadata, a
/// container endpoint, a process, SSO). They are fetched on first use and fetched again before
/// they expire: 5 minutes ahead, or halfway through a lifetime under 10 minutes, and at once
/// after ``invalidate(_:)``. One thread fetches while the others wait for its answer.
public final class RefreshingCredentials: CredentialProvider, Sendable {
    public let source: String
    private let fetch: @Sendable () throws -> S3Credentials
    private let now: @Sendable () -> Int64
    /// Held across a fetch too, so that one thread fetches while the others wait for its answer.
    private let cache = Mutex(Cache())

    private struct Cache {
        var credentials: S3Credentials?
        var refreshAt: Int64 = 0
        var fetches = 0
    }

    /// - Parameters:
    ///   - source: what `fetch` asks, for messages.
    ///   - now: the clock in Unix milliseconds (tests pass their own).
    public init(source: String, now: @escaping @Sendable () -> Int64 = { WallClock.nowMilliseconds() },
                fetch: @escaping @Sendable () throws -> S3Credentials) {
        self.source = source
        self.fetch = fetch
        self.now = now
    }

    public func credentials() throws -> S3Credentials {
        try cache.withLock { cache in
            let time = now()
            if let cached = cache.credentials, time < cache.refreshAt { return cached }
            do {
                let fresh = try fetch()
                cache.fetches += 1
                cache.credentials = fresh
                cache.refreshAt = Self.refreshTime(obtained: time, expiration: fresh.expiration)
                return fresh
            } catch {
                // Credentials that still work are better than none while the source is down.
                if let cached = cache.credentials, let expiration = cached.expiration, time < expiration - 10_000 { return cached }
                throw error
            }
        }
    }

    public func invalidate(_ stale: S3Credentials) {
        cache.withLock { cache in
            if cache.credentials == stale { cache.credentials = nil }
        }
    }

    /// Starts with credentials already fetched (the chain probing instance metadata).
    func prime(_ first: S3Credentials) {
        cache.withLock { cache in
            cache.credentials = first
            cache.refreshAt = Self.refreshTime(obtained: now(), expiration: first.expiration)
            cache.fetches += 1
        }
    }

    /// How many times the source was asked (for tests and diagnostics).
    public var fetchCount: Int { cache.withLock { $0.fetches } }

    /// When credentials obtained at `obtained` and expiring at `expiration` (Unix ms) are fetched
    /// again: 5 minutes before they expire, or halfway for lifetimes under 10 minutes.
    public static func refreshTime(obtained: Int64, expiration: Int64?) -> Int64 {
        guard let expiration else { return .max }
        let lifetime = expiration - obtained
        if lifetime < 10 * 60_000 { return obtained + max(0, lifetime / 2) }
        return expiration - 5 * 60_000
    }
}
