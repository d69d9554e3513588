import CSQLite

/// A failed SQLite call: the result code, SQLite's message and the file.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code.
    public let code: Int32
    /// SQLite's message.
    public let message: String
    /// The database file.
    public let path: String

    public init(code: Int32, message: String, path: String) {
        self.code = code
        self.message = message
        self.path = path
    }

    /// Whether the file itself is damaged or not a database (never helped by a retry).
    public var isCorruption: Bool {
        let primary = code & 0xff
        return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB
    }

    /// Whether trying again may help (another connection held a lock, a transient I/O fault).
    public var isRetryable: Bool {
        let primary = code & 0xff
        return primary == SQLITE_BUSY || primary == SQLITE_LOCKED || primary == SQLITE_IOERR
            || primary == SQLITE_NOMEM || primary == SQLITE_FULL
    }

    /// The primary result code's name for the budget failures: `TOOBIG`, `NOMEM`, `INTERRUPT`.
    public var isTooBig: Bool { code & 0xff == SQLITE_TOOBIG }
    public var isOutOfMemory: Bool { code & 0xff == SQLITE_NOMEM }
    public var isInterrupted: Bool { code & 0xff == SQLITE_INTERRUPT }
    /// Whether a row was refused because its primary key is already in the table.
    public var isPrimaryKeyConflict: Bool { code == SQLITE_CONSTRAINT | 6 << 8 }  // SQLITE_CONSTRAINT_PRIMARYKEY, a macro Swift cannot import

    public var description: String { "sqlite \(path): \(message) (code \(code))" }
}
