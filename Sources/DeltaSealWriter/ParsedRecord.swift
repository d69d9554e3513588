/// One record as the parser leaves it, in buffers that the next line reuses: once their capacity
/// has grown to the batch's records, a record costs no allocation. What ``Record`` holds, in the
/// form the writer binds: the embedding already as its BLOB (little-endian float32).
public struct ParsedRecord {
    /// The collection name's UTF-8 bytes.
    public internal(set) var collection: [UInt8] = []
    /// The id's UTF-8 bytes.
    public internal(set) var id: [UInt8] = []
    /// The document's UTF-8 bytes; meaningful only when ``hasDocument``.
    public internal(set) var document: [UInt8] = []
    /// Whether the record has a document (not absent, not null).
    public internal(set) var hasDocument = false
    /// Canonical metadata JSON; meaningful only when ``hasMetadata``.
    public internal(set) var metadata: [UInt8] = []
    /// Whether the record has metadata (not absent, not null).
    public internal(set) var hasMetadata = false

    // Which required fields the line set; the parser's business.
    var hasCollection = false
    var hasID = false
    var hasEmbedding = false

    /// The embedding's float32 bit patterns, little-endian whatever the host (the BLOB's bytes),
    /// in the first ``dimension`` elements; the rest is room for the next line's.
    var embeddingStorage: [UInt32] = []
    /// The number of values in the embedding.
    public internal(set) var dimension = 0

    // Scratch space of the parser: the current key, a string being decoded, metadata entries.
    var key: [UInt8] = []
    var text: [UInt8] = []
    var entryBytes: [UInt8] = []
    var entries: [MetadataEntry] = []

    /// A metadata member: its key and its value's JSON, as ranges of `entryBytes`.
    struct MetadataEntry {
        var key: Range<Int>
        var value: Range<Int>
    }

    public init() {}

    /// Calls `body` with the embedding as its BLOB: `dimension` little-endian float32 values.
    public func withEmbeddingBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try embeddingStorage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0.prefix(dimension * 4))) }
    }

    /// The record as a value of its own.
    public var record: Record {
        Record(collection: collection, id: id,
               embedding: embeddingStorage.prefix(dimension).map { Float(bitPattern: UInt32(littleEndian: $0)) },
               document: hasDocument ? document : nil, metadataJSON: hasMetadata ? metadata : nil)
    }

    /// The collection name, quoted for a message.
    public var collectionForDisplay: String { Record.display(collection) }
    /// The id, quoted for a message.
    public var idForDisplay: String { Record.display(id) }
}
