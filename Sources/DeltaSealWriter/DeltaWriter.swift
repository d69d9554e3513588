import DeltaSealCore
import DeltaSealSQLite
import DeltaSealSystem

/// The built-in writer: NDJSON batches into one SQLite file, in one transaction, or nothing at all.
///
/// Schema (docs/formats.md): `collections(id, name, dimension)` and
/// `records(collection_id, id, embedding BLOB of little-endian float32, document, metadata JSON)`.
public struct DeltaWriter {
    /// The database file's name inside `--out`.
    public static let databaseName = "delta.sqlite3"

    /// Longest accepted line, in bytes.
    public var maxLineBytes: Int

    public init(maxLineBytes: Int = 16 << 20) { self.maxLineBytes = maxLineBytes }

    /// Bad input: which file, which line (if one), and why. The writer exits 2 with this.
    public struct BadInput: Error, CustomStringConvertible {
        public var rejection: WriterContract.Rejection
        public var description: String { WriterContract.format(rejection) }
    }

    /// What was written.
    public struct Summary: Sendable {
        public var records: Int
        public var collections: Int
    }

    static let schema = """
        CREATE TABLE collections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            dimension INTEGER NOT NULL CHECK (dimension > 0)
        );
        CREATE TABLE records (
            collection_id INTEGER NOT NULL REFERENCES collections(id),
            id TEXT NOT NULL,
            embedding BLOB NOT NULL,
            document TEXT,
            metadata TEXT,
            PRIMARY KEY (collection_id, id)
        ) WITHOUT ROWID;
        """

    /// Writes `inputs` into `outputDirectory/delta.sqlite3`. On any error the file is removed.
    public func write(inputs: [String], outputDirectory: String) throws -> Summary {
        try Files.makeDirectories(outputDirectory)
        let path = outputDirectory + "/" + Self.databaseName
        guard !Files.exists(path) else {
            throw BadInput(rejection: .init(file: path, line: nil, reason: "output already exists; --out must not hold a delta"))
        }
        do {
            let summary = try writeDatabase(inputs: inputs, path: path)
            return summary
        } catch {
            try? Files.removeTree(path)
            try? Files.removeTree(path + "-journal")
            throw error
        }
    }

    private func writeDatabase(inputs: [String], path: String) throws -> Summary {
        let db = try Database(path: path, mode: .create)
        // Rollback journal: after commit nothing but the database file remains. No fsync here:
        // the supervisor fsyncs when it seals, and a crash before that rewrites the batch.
        try db.execute("PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; PRAGMA foreign_keys=ON;")
        // The transaction and the schema begin with the first record, which sets the page size.
        let summary = try insertAll(inputs: inputs, into: db)
        try db.execute("COMMIT")
        try db.close()
        return summary
    }

    /// The smallest page size, 4 to 64 KiB, on which a row of `rowBytes` stays on its B-tree
    /// page: SQLite keeps at most `(size - 12) * 64 / 255 - 23` bytes of a row of an index
    /// B-tree (a WITHOUT ROWID table is one) on the page and puts the rest in overflow pages,
    /// mostly empty. With 4 KiB pages a 384-dimension record (1.5 KiB of embedding) overflows:
    /// the database was 2.7 times the size, and slower to write, pack, ship and check.
    static func pageSize(forRowBytes rowBytes: Int) -> Int {
        [4096, 8192, 16384, 32768].first { ($0 - 12) * 64 / 255 - 23 >= rowBytes } ?? 65536
    }

    /// Begins the transaction and creates the schema on pages sized for rows like `first`
    /// (with a quarter more for the rows that differ); returns the two insert statements.
    private static func begin(_ db: Database, sizedFor first: ParsedRecord) throws -> (collection: Statement, record: Statement) {
        let rowBytes = first.id.count + 4 * first.dimension + first.document.count + first.metadata.count + 32
        try db.execute("PRAGMA page_size=\(pageSize(forRowBytes: rowBytes + rowBytes / 4))")
        try db.execute("BEGIN")
        try db.execute(schema)
        return (try db.prepare("INSERT INTO collections (name, dimension) VALUES (?, ?)"),
                try db.prepare("INSERT INTO records (collection_id, id, embedding, document, metadata) VALUES (?, ?, ?, ?, ?)"))
    }

    /// Inserts every record; the statements are finalized when this returns, so the database can close.
    private func insertAll(inputs: [String], into db: Database) throws -> Summary {
        var statements: (collection: Statement, record: Statement)?
        // Keyed by bytes, not String: Swift compares strings by canonical equivalence, SQLite
        // (and so the delta) by bytes; "é" and "e\u{301}" are two ids. A duplicate id is the
        // records table's primary key refusing the row.
        var collections: [[UInt8]: (id: Int64, dimension: Int)] = [:]
        var records = 0
        let parser = RecordParser()
        var record = ParsedRecord()
        for input in inputs {
            let file: PosixFile
            do { file = try PosixFile.openForReading(input) } catch {
                throw BadInput(rejection: .init(file: input, line: nil, reason: "cannot read: \(error)"))
            }
            let reader = LineReader(file: file, maxLineBytes: maxLineBytes)
            while true {
                var line: UnsafeBufferPointer<UInt8>
                do {
                    guard let next = try reader.next() else { break }
                    line = next
                    // A byte-order mark at the start of a file (Windows tools write one) is not data.
                    if reader.lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line = UnsafeBufferPointer(rebasing: line.dropFirst(3)) }
                } catch let error as LineReader.LineTooLong {
                    throw BadInput(rejection: .init(file: input, line: error.line, reason: "line is longer than \(maxLineBytes) bytes"))
                }
                if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
                do { try parser.parse(line, into: &record) } catch let invalid as RecordParser.Invalid {
                    throw BadInput(rejection: .init(file: input, line: reader.lineNumber, reason: invalid.reason))
                }
                if statements == nil { statements = try Self.begin(db, sizedFor: record) }
                let (insertCollection, insertRecord) = statements!
                let collection: (id: Int64, dimension: Int)
                if let known = collections[record.collection] {
                    guard known.dimension == record.dimension else {
                        throw BadInput(rejection: .init(file: input, line: reader.lineNumber,
                            reason: "embedding has dimension \(record.dimension), collection \(record.collectionForDisplay) has \(known.dimension)"))
                    }
                    collection = known
                } else {
                    insertCollection.reset()
                    try insertCollection.bind(1, utf8: record.collection)
                    try insertCollection.bind(2, int: Int64(record.dimension))
                    _ = try insertCollection.step()
                    collection = (Int64(collections.count + 1), record.dimension)
                    collections[record.collection] = collection
                }
                do {
                    try Self.insert(record, collection: collection.id, with: insertRecord)
                } catch let error as SQLiteError where error.isPrimaryKeyConflict {
                    throw BadInput(rejection: .init(file: input, line: reader.lineNumber,
                        reason: "duplicate id \(record.idForDisplay) in collection \(record.collectionForDisplay)"))
                }
                records += 1
            }
        }
        guard records > 0 else {
            throw BadInput(rejection: .init(file: inputs.first ?? "-", line: nil, reason: "batch has no records"))
        }
        return Summary(records: records, collections: collections.count)
    }

    /// One row, bound from the record's buffers without copying them; the statement lets go of
    /// them (reset) before this returns.
    private static func insert(_ record: ParsedRecord, collection: Int64, with statement: Statement) throws {
        try record.id.withUnsafeBytes { id in
            try record.withEmbeddingBytes { embedding in
                try record.document.withUnsafeBytes { document in
                    try record.metadata.withUnsafeBytes { metadata in
                        defer { statement.reset() }
                        try statement.bind(1, int: collection)
                        try statement.bind(2, borrowedUTF8: id)
                        try statement.bind(3, borrowedBlob: embedding)
                        if record.hasDocument { try statement.bind(4, borrowedUTF8: document) } else { try statement.bindNull(4) }
                        if record.hasMetadata { try statement.bind(5, borrowedUTF8: metadata) } else { try statement.bindNull(5) }
                        _ = try statement.step()
                    }
                }
            }
        }
    }
}
