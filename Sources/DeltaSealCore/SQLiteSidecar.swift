/// The files SQLite keeps beside a database.
public enum SQLiteSidecar {
    /// Rollback journal, write-ahead log, WAL index.
    public static let suffixes = ["-journal", "-wal", "-shm"]
}
