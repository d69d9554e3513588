import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// One SQLite connection. Not shared between threads; closed on `close()` or deinit.
public final class Database {
    private var handle: OpaquePointer?
    /// The file this connection is on.
    public let path: String

    /// How to open a file.
    public enum Mode: Sendable {
        /// Read-write, creating the file if missing.
        case create
        /// Read-write on an existing file.
        case readWrite
        /// Read-only on a file that may still have a journal to honour.
        case readOnly
        /// Read-only, hardened for untrusted input, `immutable` (no locks, no journal): only for a
        /// private copy nothing else can touch.
        case untrustedImmutable
    }

    /// Opens `path` in `mode`.
    public init(path: String, mode: Mode) throws {
        self.path = path
        var flags: Int32 = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE
        var name = path
        switch mode {
        case .create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .untrustedImmutable:
            flags |= SQLITE_OPEN_READONLY
            name = "file:" + Self.uriEscape(path) + "?immutable=1"
        }
        if mode != .untrustedImmutable { name = "file:" + Self.uriEscape(path) }
        let rc = sqlite3_open_v2(name, &handle, flags, nil)
        if rc != SQLITE_OK {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(handle)
            handle = nil
            throw SQLiteError(code: rc, message: message, path: path)
        }
        sqlite3_extended_result_codes(handle, 1)
        if mode == .untrustedImmutable { try harden() }
    }

    deinit {
        sqlite3_close_v2(handle)
        deadline?.release()
    }

    /// The deadline the progress handler enforces, owned by this connection.
    private var deadline: Unmanaged<Deadline>?

    /// Largest string or blob any statement may make, in bytes (`SQLITE_LIMIT_LENGTH`); a
    /// larger one fails with `SQLITE_TOOBIG`.
    public func limitValueLength(_ bytes: Int32) {
        sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, bytes)
    }

    /// Interrupts any statement still running `seconds` from now (`SQLITE_INTERRUPT`).
    public func limitTime(seconds: Double) {
        deadline?.release()
        let box = Unmanaged.passRetained(Deadline(nanoseconds: Deadline.now() + UInt64(max(0, seconds) * 1e9)))
        deadline = box
        sqlite3_progress_handler(handle, 100, { context in
            guard let context else { return 0 }
            return Unmanaged<Deadline>.fromOpaque(context).takeUnretainedValue().passed ? 1 : 0
        }, box.toOpaque())
    }

    /// Caps the heap all SQLite connections of this process may use (`sqlite3_hard_heap_limit64`);
    /// an allocation past it fails with `SQLITE_NOMEM`.
    public static func limitHeap(bytes: Int64) {
        _ = sqlite3_hard_heap_limit64(bytes)
    }

    /// Closes the connection; later calls fail.
    public func close() throws {
        guard let h = handle else { return }
        let rc = sqlite3_close(h)
        if rc != SQLITE_OK { throw error(rc) }
        handle = nil
    }

    /// The settings SQLite recommends for databases of unknown origin.
    private func harden() throws {
        for (op, value) in [(SQLITE_DBCONFIG_DEFENSIVE, 1), (SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0),
                            (SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0), (SQLITE_DBCONFIG_ENABLE_TRIGGER, 0),
                            (SQLITE_DBCONFIG_ENABLE_VIEW, 0)] {
            let rc = dsq_db_config_flag(handle, op, Int32(value))
            if rc != SQLITE_OK { throw error(rc) }
        }
        try execute("PRAGMA cell_size_check=ON; PRAGMA mmap_size=0;")
        // Bound what a hostile file can make a query allocate.
        sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, 1 << 30)
        sqlite3_limit(handle, SQLITE_LIMIT_SQL_LENGTH, 1 << 20)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: text, path: path)
        }
    }

    /// Compiles `sql`.
    public func prepare(_ sql: String) throws -> Statement {
        var statement: OpaquePointer?
        var text = sql
        // An explicit length: SQL (a quoted table name) may hold a NUL, which must not end it.
        let rc = text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) {
                sqlite3_prepare_v3(handle, $0.baseAddress, Int32($0.count), UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
            }
        }
        if rc != SQLITE_OK { throw error(rc) }
        guard let statement else { throw SQLiteError(code: SQLITE_MISUSE, message: "no statement in the SQL", path: path) }
        return Statement(statement: statement, database: self)
    }

    /// Rows of `sql` as text columns (small queries only: pragmas, schema).
    public func rows(_ sql: String) throws -> [[String?]] {
        let statement = try prepare(sql)
        var out: [[String?]] = []
        while try statement.step() {
            out.append((0..<statement.columnCount).map { statement.text($0) })
        }
        return out
    }

    /// The first column of the first row of `sql` as an integer.
    public func scalarInt(_ sql: String) throws -> Int64 {
        let statement = try prepare(sql)
        guard try statement.step() else {
            throw SQLiteError(code: SQLITE_ERROR, message: "no row from \(sql)", path: path)
        }
        return statement.int64(0)
    }

    func error(_ rc: Int32) -> SQLiteError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "closed"
        return SQLiteError(code: rc, message: message, path: path)
    }

    private static func uriEscape(_ path: String) -> String {
        var out = ""
        for ch in path.unicodeScalars {
            switch ch {
            case "?", "#", "%":
                let hex = String(ch.value, radix: 16, uppercase: true)
                out += "%" + (hex.count < 2 ? "0" : "") + hex
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}

/// A point on the monotonic clock, read by the progress handler.
private final class Deadline {
    let nanoseconds: UInt64
    init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    var passed: Bool { Self.now() >= nanoseconds }
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// A compiled statement.
public final class Statement {
    private let statement: OpaquePointer
    private let database: Database

    init(statement: OpaquePointer, database: Database) {
        self.statement = statement
        self.database = database
    }

    deinit { sqlite3_finalize(statement) }

    /// Advances; true while a row is available.
    public func step() throws -> Bool {
        let rc = sqlite3_step(statement)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw database.error(rc)
    }

    /// Resets for reuse and clears bindings.
    public func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    /// Binds text (1-based index), every byte of it: a NUL inside the text is kept.
    public func bind(_ index: Int32, text: String?) throws {
        guard var text else { return try bindNull(index) }
        try text.withUTF8 { try bind(index, utf8: UnsafeRawBufferPointer($0)) }
    }

    /// Binds UTF-8 bytes as text (1-based index), with their explicit length.
    public func bind(_ index: Int32, utf8: UnsafeRawBufferPointer) throws {
        // A non-nil pointer even for empty text, or SQLite binds NULL.
        let base = utf8.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        let rc = sqlite3_bind_text64(statement, index, base.assumingMemoryBound(to: CChar.self), sqlite3_uint64(utf8.count),
                                     dsq_transient(), UInt8(SQLITE_UTF8))
        if rc != SQLITE_OK { throw database.error(rc) }
    }

    /// Binds UTF-8 bytes as text (1-based index) without copying them: they must stay valid and
    /// unchanged until the statement is reset (``reset()``) or finalized.
    public func bind(_ index: Int32, borrowedUTF8 utf8: UnsafeRawBufferPointer) throws {
        // SQLite binds a nil pointer as NULL; empty text takes the copying path, which handles it.
        guard let base = utf8.baseAddress, utf8.count > 0 else { return try bind(index, utf8: utf8) }
        let rc = sqlite3_bind_text64(statement, index, base.assumingMemoryBound(to: CChar.self), sqlite3_uint64(utf8.count),
                                     nil, UInt8(SQLITE_UTF8))
        if rc != SQLITE_OK { throw database.error(rc) }
    }

    /// Binds a blob (1-based index) without copying it: it must stay valid and unchanged until
    /// the statement is reset (``reset()``) or finalized.
    public func bind(_ index: Int32, borrowedBlob blob: UnsafeRawBufferPointer) throws {
        guard let base = blob.baseAddress, blob.count > 0 else { return try bind(index, blob: blob) }
        let rc = sqlite3_bind_blob64(statement, index, base, sqlite3_uint64(blob.count), nil)
        if rc != SQLITE_OK { throw database.error(rc) }
    }

    /// Binds UTF-8 bytes as text, or NULL for `nil` (1-based index).
    public func bind(_ index: Int32, utf8 bytes: [UInt8]?) throws {
        guard let bytes else { return try bindNull(index) }
        try bytes.withUnsafeBytes { try bind(index, utf8: $0) }
    }

    /// Binds NULL (1-based index).
    public func bindNull(_ index: Int32) throws {
        let rc = sqlite3_bind_null(statement, index)
        if rc != SQLITE_OK { throw database.error(rc) }
    }

    /// Binds an integer (1-based index).
    public func bind(_ index: Int32, int: Int64) throws {
        let rc = sqlite3_bind_int64(statement, index, int)
        if rc != SQLITE_OK { throw database.error(rc) }
    }

    /// Binds a blob (1-based index).
    public func bind(_ index: Int32, blob: UnsafeRawBufferPointer) throws {
        let base = blob.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        let rc = sqlite3_bind_blob64(statement, index, base, sqlite3_uint64(blob.count), dsq_transient())
        if rc != SQLITE_OK { throw database.error(rc) }
    }

    /// Number of result columns.
    public var columnCount: Int32 { sqlite3_column_count(statement) }

    /// Column as text, `nil` for NULL (0-based index); every byte, a NUL inside included.
    public func text(_ column: Int32) -> String? {
        bytes(column).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Column as the bytes of its text, `nil` for NULL (0-based index).
    public func bytes(_ column: Int32) -> [UInt8]? {
        guard let p = sqlite3_column_text(statement, column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        return Array(UnsafeBufferPointer(start: p, count: count))
    }

    /// Column as an integer (0-based index).
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
}
