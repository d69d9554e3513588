import DeltaSealCore
import DeltaSealPack
import DeltaSealSQLite
import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// Proves a delta directory is closed before a byte of it is read: no process holds any file in
/// it, every entry is a regular file of the writer's own with one link (so nothing outside the
/// spool can be reached through it), no journal or WAL with content remains, every SQLite file
/// passes `quick_check`; then fsyncs the files and makes them read-only. Nothing is changed
/// before every entry passed those checks.
public struct Sealer: Sendable {
    /// The uid that must own every file: the writer's.
    public var owner: uid_t

    public init(owner: uid_t = geteuid()) { self.owner = owner }

    /// Why a delta cannot be sealed.
    public struct Failure: Error, CustomStringConvertible {
        public var reason: String
        /// Processes still holding files, if that was the reason.
        public var holders: [OpenFileScan.Holder] = []
        /// Whether writing the delta again cannot help: the writer's output breaks a limit of
        /// the delta format (docs/formats.md, "Limits"), which the verifier would refuse.
        public var permanent = false
        public var description: String { reason }
    }

    /// Seals `directory` and returns its files with what SQLite said about them. `afterScan` runs
    /// once no process was found holding a file, before anything is checked or changed (the
    /// pipeline kills the writer's cgroup there).
    public func seal(_ directory: String, afterScan: () -> Void = {}) throws -> [Packer.Input] {
        let canonical = try Files.realPath(directory)
        let scan = OpenFileScan.scan(directory: canonical)
        if !scan.holders.isEmpty {
            let lines = scan.holders.map { "pid \($0.pid) (\(DisplayText.sanitize($0.command, limit: 200))) holds \(DisplayText.sanitize($0.path)) [\($0.how)]" }
            throw Failure(reason: "files still open: " + lines.joined(separator: "; "), holders: scan.holders)
        }
        afterScan()
        try checkEntries(canonical)
        try settleJournals(canonical)
        let files = try Files.walkBeneath(canonical).filter(\.isRegular)
        guard !files.isEmpty else { throw Failure(reason: "the writer produced no files") }
        if files.count > DeltaLimits.maxFiles {
            throw Failure(reason: "the writer produced \(files.count) files; a delta holds at most \(DeltaLimits.maxFiles)", permanent: true)
        }
        var inputs: [Packer.Input] = []
        for entry in files {
            let name = entry.path
            guard let path = RelativePath(name) else {
                throw Failure(reason: "\(DisplayText.quoted(name, limit: 128)) is not a shippable path (at most \(DeltaLimits.maxPathBytes) bytes, no '\\')",
                              permanent: true)
            }
            if let problem = DeltaLimits.pathProblem(path) { throw Failure(reason: problem, permanent: true) }
            // The very file that was checked: opened without following links, same inode.
            let file: PosixFile
            do { file = try PosixFile.openRegular(beneath: canonical, relative: name) } catch {
                throw Failure(reason: "\(DisplayText.sanitize(name)) changed while it was sealed: \(error)")
            }
            guard try file.inode() == entry.inode else { throw Failure(reason: "\(DisplayText.sanitize(name)) was replaced while it was sealed") }
            var info: Manifest.SQLiteInfo?
            if try isSQLite(file) {
                info = try check(canonical + "/" + name, name: name)
            }
            try file.sync()
            try file.makeReadOnly()
            try file.close()
            inputs.append(Packer.Input(path: path, sqlite: info))
        }
        for directory in Set(files.map { PathName.directory(of: canonical + "/" + $0.path) }) {
            try Files.syncDirectory(directory)
        }
        return inputs
    }

    /// Refuses anything but regular files of the writer's, with one link each, and directories.
    /// A hard link is how a writer would make the seal ship, chmod or checkpoint a file that is
    /// not its own (`/etc/shadow`, another application's database), so one is never touched.
    private func checkEntries(_ root: String) throws {
        for entry in try Files.walkBeneath(root) where !entry.isDirectory {
            let name = DisplayText.sanitize(entry.path)
            guard entry.isRegular else {
                throw Failure(reason: "\(name) is a \(PosixFile.kindName(entry.mode)), not a regular file (symlinks, sockets and devices are not shipped)")
            }
            guard entry.links == 1 else {
                throw Failure(reason: "\(name) has \(entry.links) hard links: a file linked from elsewhere is never shipped or changed")
            }
            guard entry.uid == owner else {
                throw Failure(reason: "\(name) belongs to uid \(entry.uid), not the writer's uid \(owner)")
            }
        }
    }

    /// Empty journals are removed; a hot rollback journal fails the seal (the writer died inside a
    /// transaction yet reported success); a WAL with committed frames is checkpointed into its
    /// database and the database switched to rollback mode, so the delta is one self-contained file.
    private func settleJournals(_ root: String) throws {
        for name in try Files.walk(root).files {
            let full = root + "/" + name
            for suffix in ["-journal", "-wal"] where name.hasSuffix(suffix) {
                let database = String(full.dropLast(suffix.count))
                guard Files.exists(database) else { continue }
                let size = try Files.size(full)
                if size == 0 {
                    unlink(full)
                } else if suffix == "-journal" {
                    throw Failure(reason: "\(name) is a hot journal (\(size) bytes): the writer stopped inside a transaction")
                } else {
                    do {
                        let db = try Database(path: database, mode: .readWrite)
                        try db.execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE;")
                        try db.close()
                    } catch let error as SQLiteError {
                        throw Failure(reason: "cannot checkpoint \(name): \(error.message)")
                    }
                    if Files.exists(full), try Files.size(full) > 0 {
                        throw Failure(reason: "\(name) still holds frames after a checkpoint")
                    }
                    unlink(full)
                }
            }
        }
        // Shared-memory index files mean nothing once no WAL remains.
        for name in try Files.walk(root).files where name.hasSuffix("-shm") {
            let database = String((root + "/" + name).dropLast(4))
            if Files.exists(database), !Files.exists(database + "-wal") { unlink(root + "/" + name) }
        }
    }

    private func isSQLite(_ file: PosixFile) throws -> Bool {
        var header = [UInt8](repeating: 0, count: 16)
        let n = try header.withUnsafeMutableBytes { try file.readFully(into: $0) }
        return n == 16 && SQLiteFile.isDatabaseHeader(header)
    }

    private func check(_ path: String, name: String) throws -> Manifest.SQLiteInfo {
        do {
            let db = try Database(path: path, mode: .untrustedImmutable)
            defer { try? db.close() }
            let problems = try SQLiteFile.check(db, full: false)
            guard problems.isEmpty else {
                throw Failure(reason: "\(name) fails quick_check: " + problems.prefix(3).joined(separator: "; "))
            }
            let description = try SQLiteFile.describe(db)
            return Manifest.SQLiteInfo(pageSize: description.pageSize, pageCount: description.pageCount,
                                       rowCounts: description.rowCounts)
        } catch let error as SQLiteError {
            throw Failure(reason: "\(name) does not open as SQLite: \(error.message)")
        }
    }
}
