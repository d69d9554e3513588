import DeltaSealCore

/// A store failure, classified so callers know whether a retry can help.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The object does not exist.
        public static let notFound = Code(name: "not found")
        /// `ifAbsent` was asked and the object exists.
        public static let alreadyExists = Code(name: "already exists")
        /// The bytes received do not match the checksum sent with them.
        public static let checksumMismatch = Code(name: "checksum mismatch")
        /// A temporary fault: timeouts, resets, 5xx, throttling, a full or busy disk.
        public static let transient = Code(name: "transient")
        /// Credentials were missing or wrong.
        public static let unauthorized = Code(name: "unauthorized")
        /// The credentials are valid but lack the right.
        public static let accessDenied = Code(name: "access denied")
        /// The bucket or store root does not exist.
        public static let noSuchBucket = Code(name: "no such bucket")
        /// The request itself is wrong (a bad key, a bad URL, an unsupported option).
        public static let invalidRequest = Code(name: "invalid request")
        /// An object's content is unusable (too large, unreadable).
        public static let invalidObject = Code(name: "invalid object")
        /// A local failure that is not the store's (reading the file to upload).
        public static let local = Code(name: "local")
        public var description: String { name }
    }

    public let code: Code
    /// The key involved, if any.
    public let key: String?
    public let message: String
    /// Whether trying the same request again may succeed.
    public let isRetryable: Bool

    public init(_ code: Code, key: String?, _ message: String, retryable: Bool? = nil) {
        self.code = code
        self.key = key
        self.message = message
        self.isRetryable = retryable ?? (code == .transient || code == .checksumMismatch)
    }

    /// Key and message as safe text: both may come from the store (an S3 error's `<Message>`,
    /// a listed key), and a hostile store must not put control characters into a log or terminal.
    public var description: String {
        (key.map { "\(DisplayText.sanitize($0)): " } ?? "") + DisplayText.sanitize(message, limit: 2048) + (isRetryable ? " (retryable)" : "")
    }
}
