/// The commit marker of a shipped delta: everything a reader needs to fetch and check it.
///
/// JSON with `format_version`; see docs/formats.md. Keys are snake_case and stable.
public struct Manifest: Codable, Sendable, Equatable {
    /// The format this code writes and the highest it reads.
    public static let currentFormatVersion = 1

    public var formatVersion: Int
    public var deltaID: DeltaID
    public var host: String
    /// RFC 3339, UTC.
    public var createdAt: String
    public var sources: [Source]
    public var writer: WriterRun
    public var compression: Compression
    public var files: [FileEntry]

    public init(deltaID: DeltaID, host: String, createdAt: String, sources: [Source], writer: WriterRun,
                compression: Compression, files: [FileEntry]) {
        formatVersion = Self.currentFormatVersion
        self.deltaID = deltaID
        self.host = host
        self.createdAt = createdAt
        self.sources = sources
        self.writer = writer
        self.compression = compression
        self.files = files
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", deltaID = "delta_id", host, createdAt = "created_at"
        case sources, writer, compression, files
    }

    /// One input batch of the delta.
    public struct Source: Codable, Sendable, Equatable {
        public var name: String
        public var records: Int
        public var bytes: Int64
        public var sha256: String
        public init(name: String, records: Int, bytes: Int64, sha256: String) {
            self.name = name; self.records = records; self.bytes = bytes; self.sha256 = sha256
        }
    }

    /// The writer process that produced the files.
    public struct WriterRun: Codable, Sendable, Equatable {
        public var command: [String]
        public var exitStatus: Int32
        public var durationMs: Int64
        public init(command: [String], exitStatus: Int32, durationMs: Int64) {
            self.command = command; self.exitStatus = exitStatus; self.durationMs = durationMs
        }
        enum CodingKeys: String, CodingKey { case command, exitStatus = "exit_status", durationMs = "duration_ms" }
    }

    /// How the objects are compressed.
    public struct Compression: Codable, Sendable, Equatable {
        public var algorithm: String
        public var level: Int
        public init(algorithm: String = "zstd", level: Int) { self.algorithm = algorithm; self.level = level }
    }

    /// What a file is, as far as verification is concerned.
    public enum FileKind: String, Codable, Sendable { case sqlite, other }

    /// One file of the delta and its object.
    public struct FileEntry: Codable, Sendable, Equatable {
        public var path: String
        public var kind: FileKind
        public var rawSize: Int64
        public var rawSHA256: String
        /// Relative to the delta's location; always `files/<path>.zst`.
        public var objectKey: String
        public var compressedSize: Int64
        public var compressedSHA256: String
        public var sqlite: SQLiteInfo?

        public init(path: String, kind: FileKind, rawSize: Int64, rawSHA256: String, objectKey: String,
                    compressedSize: Int64, compressedSHA256: String, sqlite: SQLiteInfo?) {
            self.path = path; self.kind = kind; self.rawSize = rawSize; self.rawSHA256 = rawSHA256
            self.objectKey = objectKey; self.compressedSize = compressedSize
            self.compressedSHA256 = compressedSHA256; self.sqlite = sqlite
        }

        enum CodingKeys: String, CodingKey {
            case path, kind, rawSize = "raw_size", rawSHA256 = "raw_sha256", objectKey = "object_key"
            case compressedSize = "compressed_size", compressedSHA256 = "compressed_sha256", sqlite
        }
    }

    /// Facts about a SQLite file, checked again after download.
    public struct SQLiteInfo: Codable, Sendable, Equatable {
        public var pageSize: Int
        public var pageCount: Int
        /// Rows per table, by table name.
        public var rowCounts: [String: Int]
        public init(pageSize: Int, pageCount: Int, rowCounts: [String: Int]) {
            self.pageSize = pageSize; self.pageCount = pageCount; self.rowCounts = rowCounts
        }
        enum CodingKeys: String, CodingKey { case pageSize = "page_size", pageCount = "page_count", rowCounts = "row_counts" }
    }

    /// Total records over all sources (saturating: a hostile manifest cannot overflow it;
    /// ``structuralProblems()`` refuses one whose totals do not fit).
    public var recordCount: Int { Self.total(sources.map(\.records)) }
    /// Total raw bytes over all files (saturating).
    public var rawBytes: Int64 { Int64(Self.total(files.map { Int($0.rawSize) })) }
    /// Total compressed bytes over all files (saturating).
    public var compressedBytes: Int64 { Int64(Self.total(files.map { Int($0.compressedSize) })) }

    /// The sum of `values`, or nil when it overflows or a value is negative.
    static func checkedTotal(_ values: [Int]) -> Int? {
        var sum = 0
        for value in values {
            guard value >= 0 else { return nil }
            let (next, overflow) = sum.addingReportingOverflow(value)
            if overflow { return nil }
            sum = next
        }
        return sum
    }

    private static func total(_ values: [Int]) -> Int { checkedTotal(values) ?? .max }
}

extension Manifest {
    /// Problems that make a manifest unusable, whatever its objects hold; empty when it is sound.
    ///
    /// Checks the format version, that every path is a safe relative path, that paths are unique,
    /// that every object key is the one the layout derives from its path, and that sizes and
    /// digests are well-formed.
    public func structuralProblems() -> [String] {
        var problems: [String] = []
        if formatVersion < 1 || formatVersion > Self.currentFormatVersion {
            problems.append("unsupported format_version \(formatVersion) (this verifier reads 1...\(Self.currentFormatVersion))")
        }
        if compression.algorithm != "zstd" { problems.append("unsupported compression \(compression.algorithm)") }
        if files.isEmpty { problems.append("manifest lists no files") }
        if Self.checkedTotal(sources.map(\.records)) == nil { problems.append("sources' record counts are negative or do not add up in 64 bits") }
        if Self.checkedTotal(files.map { Int($0.rawSize) }) == nil || Self.checkedTotal(files.map { Int($0.compressedSize) }) == nil {
            problems.append("file sizes are negative or do not add up in 64 bits")
        }
        if files.count > DeltaLimits.maxFiles {
            problems.append("manifest lists \(files.count) files (at most \(DeltaLimits.maxFiles))")
        }
        var seen = Set<String>()
        for file in files {
            guard let path = RelativePath(file.path) else {
                problems.append("file path \(DisplayText.quoted(file.path, limit: 128)) is absolute, empty, too long or contains '..' or '.'")
                continue
            }
            if !seen.insert(path.rawValue).inserted { problems.append("file path \(file.path) is listed twice") }
            if let problem = DeltaLimits.pathProblem(path) { problems.append("\(file.path): \(problem)") }
            if file.objectKey != ObjectLayout.objectKey(for: path) {
                problems.append("\(file.path): object key \(String(reflecting: file.objectKey)) is not \(ObjectLayout.objectKey(for: path))")
            }
            if file.rawSize < 0 || file.compressedSize < 0 { problems.append("\(file.path): negative size") }
            if !Hex.isSHA256(file.rawSHA256) || !Hex.isSHA256(file.compressedSHA256) {
                problems.append("\(file.path): a sha256 is not 64 lowercase hex digits")
            }
            if file.kind == .sqlite, file.sqlite == nil { problems.append("\(file.path): sqlite file without sqlite facts") }
        }
        // A path that is also a directory of another path cannot be restored.
        for file in files where RelativePath(file.path) != nil {
            let parts = file.path.split(separator: "/")
            for depth in 1..<max(parts.count, 1) where seen.contains(parts[..<depth].joined(separator: "/")) {
                problems.append("\(parts[..<depth].joined(separator: "/")) is listed as a file and as a directory of \(file.path)")
            }
        }
        // One self-contained file per database: the seal never ships a journal, WAL or shared
        // memory file beside its database, and a reader must not be handed one.
        let databases = Set(files.filter { $0.kind == .sqlite }.map(\.path))
        for file in files {
            for suffix in SQLiteSidecar.suffixes where file.path.hasSuffix(suffix) && databases.contains(String(file.path.dropLast(suffix.count))) {
                problems.append("\(file.path) is a \(suffix) sidecar of the listed database \(file.path.dropLast(suffix.count)); a delta ships each database as one self-contained file")
            }
        }
        return problems
    }
}
