import CSQLite

/// Facts about SQLite files: recognising them, describing them, checking them.
public enum SQLiteFile {
    /// The 16-byte header every SQLite 3 database starts with.
    public static let magic: [UInt8] = Array("SQLite format 3".utf8) + [0]

    /// Whether `header` (the file's first bytes) is a SQLite database header.
    public static func isDatabaseHeader(_ header: [UInt8]) -> Bool {
        header.count >= 16 && Array(header[0..<16]) == magic
    }

    /// Page size, page count and rows per ordinary table.
    public struct Description: Sendable, Equatable {
        public var pageSize: Int
        public var pageCount: Int
        public var rowCounts: [String: Int]
    }

    /// Describes an open database.
    public static func describe(_ db: Database) throws -> Description {
        let pageSize = try db.scalarInt("PRAGMA page_size")
        let pageCount = try db.scalarInt("PRAGMA page_count")
        // Virtual tables need their module to count; their shadow tables are ordinary and counted.
        let tables = try db.rows("""
            SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
            AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name
            """).compactMap { $0.first ?? nil }
        var counts: [String: Int] = [:]
        for table in tables {
            let quoted = "\"" + table.replacing("\"", with: "\"\"") + "\""
            counts[table] = Int(try db.scalarInt("SELECT count(*) FROM \(quoted)"))
        }
        return Description(pageSize: Int(pageSize), pageCount: Int(pageCount), rowCounts: counts)
    }

    /// Runs `quick_check` or `integrity_check`; returns the problems found, empty when sound.
    public static func check(_ db: Database, full: Bool) throws -> [String] {
        let rows = try db.rows(full ? "PRAGMA integrity_check(100)" : "PRAGMA quick_check(100)")
        let messages = rows.compactMap { $0.first ?? nil }
        return messages == ["ok"] ? [] : messages
    }
}
