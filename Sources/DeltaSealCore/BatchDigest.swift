/// What a batch was when it was claimed.
public struct BatchDigest: Codable, Sendable, Equatable {
    public var name: String
    public var bytes: Int64
    public var sha256: String
    public init(name: String, bytes: Int64, sha256: String) { self.name = name; self.bytes = bytes; self.sha256 = sha256 }
}
