import DeltaSealCore

/// One input record, validated. Text fields are the exact UTF-8 bytes of the JSON strings
/// (escapes decoded, NUL and all), so nothing is cut or normalised on the way into SQLite.
public struct Record: Sendable, Equatable {
    public var collection: [UInt8]
    public var id: [UInt8]
    public var embedding: [Float]
    public var document: [UInt8]?
    /// Flat metadata as canonical JSON (keys sorted by their UTF-8 bytes, numbers as written), or `nil`.
    public var metadataJSON: [UInt8]?

    /// The collection name, quoted for a message.
    public var collectionForDisplay: String { Self.display(collection) }
    /// The id, quoted for a message.
    public var idForDisplay: String { Self.display(id) }

    static func display(_ text: [UInt8]) -> String { DisplayText.quoted(String(decoding: text, as: UTF8.self)) }
}
