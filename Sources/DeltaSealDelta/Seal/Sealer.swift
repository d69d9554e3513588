import DeltaSealCore
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
///
/// "No process holds any file" is proved in two parts whose cost follows the delta, not the host
/// (docs/reliability.md, "The seal's proof"). Processes that work inside the delta or hold its
/// directories or `O_PATH` descriptors of its files: the members of the writer's cgroup where it
/// cannot leave it (its own unprivileged user), read and then killed; else the processes of the
/// writer's user; every process only when the writer runs as root. Open files and mappings, in
/// any process of any user: a write lease on each file (``FileLease``). Only a refused lease scans
/// every process, to name the holder; where no lease can be taken, that scan is the proof.
public struct Sealer: Sendable {
    /// The uid that must own every file: the writer's.
    public var owner: uid_t
    /// The writer's cgroup v2 directory, if it ran in one: the seal reads its members, then
    /// kills and removes it before any file is checked.
    public var writerCgroup: String?
    /// Whether processes of the writer's user may run outside its cgroup: a fork-server, which
    /// forked the writer and joined no cgroup itself. The cgroup is still killed, but the scan
    /// reads every process of the user.
    public var userRunsOutsideCgroup: Bool

    public init(owner: uid_t = geteuid(), writerCgroup: String? = nil, userRunsOutsideCgroup: Bool = false) {
        self.owner = owner
        self.writerCgroup = writerCgroup
        self.userRunsOutsideCgroup = userRunsOutsideCgroup
    }

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

    /// How a seal proved that no process holds the delta, and what it cost.
    public struct Proof: Sendable, Equatable, CustomStringConvertible {
        /// Whose working directories, root directories and descriptors were read: what no lease
        /// sees (directories, `O_PATH` descriptors) and where a holder is named from.
        public enum Scope: Sendable, Equatable {
            /// The members of the writer's cgroup, which a writer of its own unprivileged user
            /// cannot leave; then the cgroup was killed and found empty.
            case writerCgroup
            /// Every process running as the writer's user (no cgroup it cannot leave).
            case writerUser(uid_t)
            /// Every process: the writer runs as root, which could become any user.
            case everyProcess
        }

        public var scope: Scope
        /// Regular files proved unshared by a write lease.
        public var leased = 0
        /// Why no lease could be taken, if none could: the scan of every process proved the files.
        public var leaseUnavailable: String?
        /// `/proc/<pid>` entries looked at (listed, or asked who they run as), all scans together.
        public var procEntries = 0
        /// Processes whose descriptors, maps and directories were read, all scans together.
        public var processesInspected = 0

        mutating func count(_ scan: OpenFileScan.Result) {
            procEntries += scan.seen
            processesInspected += scan.inspected
        }

        public var description: String {
            let whose = switch scope {
            case .writerCgroup: "the writer's cgroup"
            case .writerUser(let uid): "the processes of uid \(uid)"
            case .everyProcess: "every process"
            }
            let files = leaseUnavailable.map { "no lease (\($0)), every process scanned" } ?? "\(leased) file\(leased == 1 ? "" : "s") leased"
            return "\(files); \(whose); \(processesInspected) processes inspected, \(procEntries) /proc entries"
        }
    }

    /// What a seal returns: the files with what SQLite said about them, and how they were proved closed.
    public struct Sealed: Sendable {
        public var inputs: [Packer.Input]
        public var proof: Proof
    }

    /// Whose directories and descriptors are read (see ``Proof/Scope``).
    public var scope: Proof.Scope {
        if owner == 0 { return .everyProcess }
        // The supervisor made the cgroup: a writer of another, unprivileged user cannot write
        // any cgroup.procs to move out of it, whatever it forks, setsid or not.
        if writerCgroup != nil && owner != geteuid() && !userRunsOutsideCgroup { return .writerCgroup }
        return .writerUser(owner)
    }

    /// Seals `directory`; see the type's description for what is proved, and in which order.
    public func seal(_ directory: String) throws -> Sealed {
        let canonical = try Files.realPath(directory)
        var proof = Proof(scope: scope)
        let processes = switch proof.scope {
        case .writerCgroup: OpenFileScan.scan(directory: canonical, pids: writerCgroup.map(CgroupDelegation.members) ?? [])
        case .writerUser(let uid): OpenFileScan.scan(directory: canonical, uid: uid)
        case .everyProcess: OpenFileScan.scan(directory: canonical)
        }
        proof.count(processes)
        try refuse(processes.holders)
        if let writerCgroup {
            // Nothing the writer left, a setsid daemon included, can change a file after this.
            CgroupDelegation.killAndRemove(writerCgroup)
            let left = CgroupDelegation.members(writerCgroup)
            if proof.scope == .writerCgroup, !left.isEmpty {
                throw Failure(reason: "the writer's cgroup still holds \(left.count) processes after cgroup.kill (pids "
                              + left.prefix(10).map(String.init).joined(separator: ", ") + ")")
            }
        }
        try leaseFiles(canonical, &proof)
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
            let size = try file.size()
            try file.close()
            inputs.append(Packer.Input(path: path, sqlite: info, size: size))
        }
        for directory in Set(files.map { PathName.directory(of: canonical + "/" + $0.path) }) {
            try Files.syncDirectory(directory)
        }
        return Sealed(inputs: inputs, proof: proof)
    }

    /// Fails naming `holders`, if there are any.
    private func refuse(_ holders: [OpenFileScan.Holder]) throws {
        guard !holders.isEmpty else { return }
        let lines = holders.map { "pid \($0.pid) (\(DisplayText.sanitize($0.command, limit: 200))) holds \(DisplayText.sanitize($0.path)) [\($0.how)]" }
        throw Failure(reason: "files still open: " + lines.joined(separator: "; "), holders: holders)
    }

    /// Takes and releases a write lease on each regular file of the writer's with one link (the
    /// others fail ``checkEntries(_:)`` next, untouched): granted, no open file description or
    /// mapping of it exists anywhere. A refused lease scans every process to name the holder.
    private func leaseFiles(_ root: String, _ proof: inout Proof) throws {
        var refused: [Files.Entry] = []
        for entry in try Files.walkBeneath(root) where entry.isRegular && entry.links == 1 && entry.uid == owner {
            switch try lease(root, entry) {
            case .unshared:
                proof.leased += 1
            case .shared:
                refused.append(entry)
            case .unavailable(let code):
                // Not the owner without CAP_LEASE, or no leases here: the scan of every process, as before leases.
                proof.leaseUnavailable = "\(DisplayText.sanitize(entry.path)): \(String(cString: strerror(code))) (errno \(code))"
                let scan = OpenFileScan.scan(directory: root)
                proof.count(scan)
                return try refuse(scan.holders)
            }
        }
        guard !refused.isEmpty else { return }
        let scan = OpenFileScan.scan(directory: root)
        proof.count(scan)
        try refuse(scan.holders)
        // No process shows a holder: it was gone by the scan (an exit, a descriptor released
        // late), or it is in no process at all. A second lease tells which.
        let still = try refused.filter { try lease(root, $0) != .unshared }
        proof.leased += refused.count - still.count
        guard still.isEmpty else {
            throw Failure(reason: "files still open: " + still.map { DisplayText.sanitize($0.path) }.joined(separator: ", ")
                          + " open or mapped where no process shows it (a descriptor passed over a unix socket and not yet received, "
                          + "or a process outside this /proc)")
        }
    }

    private func lease(_ root: String, _ entry: Files.Entry) throws -> FileLease.Answer {
        let file: PosixFile
        do { file = try PosixFile.openRegular(beneath: root, relative: entry.path) } catch {
            throw Failure(reason: "\(DisplayText.sanitize(entry.path)) changed while it was sealed: \(error)")
        }
        defer { try? file.close() }
        guard try file.inode() == entry.inode else { throw Failure(reason: "\(DisplayText.sanitize(entry.path)) was replaced while it was sealed") }
        return FileLease.probe(file.fd)
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
