import Crypto
import DeltaSealCore

/// A running SHA-256 over a stream of chunks.
public struct SHA256Stream {
    private var hasher = SHA256()
    /// Bytes hashed so far.
    public private(set) var count: Int64 = 0

    public init() {}

    /// Adds a chunk.
    public mutating func update(_ chunk: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: chunk)
        count += Int64(chunk.count)
    }

    /// The digest as lowercase hex.
    public func hex() -> String { Hex.encode(hasher.finalize()) }

    /// The raw 32-byte digest.
    public func bytes() -> [UInt8] { Array(hasher.finalize()) }

    /// SHA-256 of `bytes` as lowercase hex.
    public static func hex(of bytes: [UInt8]) -> String { Hex.encode(SHA256.hash(data: bytes)) }
}
