/// How to reach an S3-compatible server and how to upload to it.
public struct S3Options: Sendable, Equatable {
    /// How bucket names go into URLs.
    public enum Addressing: String, Sendable, CaseIterable {
        /// Path style for custom endpoints, virtual-hosted for AWS.
        case auto
        /// `https://endpoint/bucket/key`.
        case path
        /// `https://bucket.endpoint/key`.
        case virtual
    }

    /// `https://host[:port]`; `nil` means AWS (`https://s3.<region>.amazonaws.com`).
    public var endpoint: String?
    /// The signing region; `nil` means the environment's, or `us-east-1`.
    public var region: String?
    public var addressing: Addressing = .auto
    /// Objects at least this large are uploaded in parts.
    public var multipartThreshold: Int64 = 64 << 20
    /// Size of each part but the last (S3's minimum is 5 MiB).
    public var partSize: Int64 = 16 << 20
    /// Parts uploaded at once.
    public var partConcurrency = 4
    public var connectTimeoutSeconds = 10
    /// A transfer that moves no byte for this long (seconds, fractions allowed) is abandoned.
    public var stallTimeoutSeconds: Double = 30

    /// The stall timeout in whole seconds, rounded up: curl's low-speed timer counts seconds.
    public var stallTimeoutWholeSeconds: Int { max(1, Int(stallTimeoutSeconds.rounded(.up))) }
    /// Attempts per request (the first included) on throttling, 5xx, connection failures and
    /// truncated bodies; 1 turns request-level retries off.
    public var maxAttempts = 3

    public init() {}

    /// Command-line arguments that give a verifier process the same settings.
    public var arguments: [String] {
        var out: [String] = []
        if let endpoint { out += ["--endpoint", endpoint] }
        if let region { out += ["--region", region] }
        if addressing != .auto { out += ["--addressing", addressing.rawValue] }
        if stallTimeoutSeconds != S3Options().stallTimeoutSeconds { out += ["--stall-timeout", "\(stallTimeoutSeconds)"] }
        if maxAttempts != S3Options().maxAttempts { out += ["--s3-max-attempts", "\(maxAttempts)"] }
        return out
    }
}
