import DeltaSealCore
import Foundation
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// The spool directory: where batches wait, where deltas are worked on, where the rejected and
/// failed ones are kept. A batch is in exactly one place at any moment: every move is a rename.
public struct Spool: Sendable {
    public let root: String
    public var incoming: String { root + "/incoming" }
    public var work: String { root + "/work" }
    public var rejected: String { root + "/rejected" }
    public var failed: String { root + "/failed" }
    /// The fork-server writer's log and private `tmp/` (`writer.mode: fork-server`).
    public var forkServer: String { root + "/fork-server" }
    /// The verifier fork-server's log and private `tmp/` (`verifier.launch: fork-server`).
    public var verifierServer: String { root + "/verifier-server" }

    public init(root: String) { self.root = root }

    /// Creates the directories.
    public func prepare() throws {
        for directory in [incoming, work, rejected, failed] { try Files.makeDirectories(directory) }
        // Writers (another user) may pass through to their own delta, never list or write here.
        _ = chmod(work, 0o711)
    }

    /// An entry of `incoming/` that looks like a batch but can never be claimed as one.
    public struct Unclaimable: Sendable, Equatable, Hashable {
        /// The name, sanitized for display (it may not be UTF-8).
        public var name: String
        public var reason: String
    }

    /// What `incoming/` holds: batches that can be claimed (`*.ndjson` regular files that are
    /// readable, not under a temporary dot name), oldest name first, and entries that cannot
    /// (a name that is not UTF-8, a `*.ndjson` that is not a regular file or cannot be read).
    public func scanIncoming() throws -> (batches: [String], unclaimable: [Unclaimable]) {
        var batches: [String] = []
        var unclaimable: [Unclaimable] = []
        for raw in try Files.listRaw(incoming) where raw.first != UInt8(ascii: ".") {
            guard let name = String(validating: raw, as: UTF8.self) else {
                unclaimable.append(.init(name: DisplayText.sanitize(bytes: raw), reason: "its name is not valid UTF-8"))
                continue
            }
            guard name.hasSuffix(".ndjson") else { continue }
            var st = stat()
            guard lstat(incoming + "/" + name, &st) == 0 else { continue }  // gone meanwhile
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                unclaimable.append(.init(name: DisplayText.sanitize(name), reason: "it is a \(PosixFile.kindName(st.st_mode)), not a regular file"))
                continue
            }
            guard access(incoming + "/" + name, R_OK) == 0 else {
                unclaimable.append(.init(name: DisplayText.sanitize(name), reason: "it cannot be read (\(String(cString: strerror(errno))))"))
                continue
            }
            batches.append(name)
        }
        return (batches, unclaimable)
    }

    /// Batches ready to claim (see ``scanIncoming()``).
    public func readyBatches() throws -> [String] { try scanIncoming().batches }

    /// Removes a delta's work directory so that no crash can leave half of it looking like a
    /// delta to resume: one rename out of the way, then the removal.
    public func discard(_ id: DeltaID) throws {
        let directory = self.directory(of: id)
        guard Files.exists(directory) else { return }
        let trash = work + "/" + Self.discardPrefix + id.rawValue
        try Files.rename(directory, trash)
        try Files.syncDirectory(work)
        try Files.removeTree(trash)
    }

    static let discardPrefix = ".discard-"

    /// Finishes removals a crash interrupted.
    public func removeDiscarded() throws {
        for name in try Files.list(work) where name.hasPrefix(Self.discardPrefix) {
            try Files.removeTree(work + "/" + name)
        }
    }

    /// Batches or deltas waiting in each spool directory: `incoming`, `work`, `rejected`, `failed`,
    /// and `unclaimable`, the entries of `incoming/` that can never be claimed.
    public func queueDepths() -> [String: Int] {
        let scan = try? scanIncoming()
        return [
            "incoming": scan?.batches.count ?? 0,
            "unclaimable": scan?.unclaimable.count ?? 0,
            "work": (try? workInProgress().count) ?? 0,
            "rejected": ((try? Files.list(rejected)) ?? []).filter { $0.hasSuffix(".ndjson") }.count,
            "failed": (try? failedDeltas().count) ?? 0,
        ]
    }

    /// Deltas in `failed/`, by id.
    public func failedDeltas() throws -> [DeltaID] { try Files.list(failed).compactMap(DeltaID.init) }

    /// The named delta is not in `failed/`.
    public struct NotFailed: Error, CustomStringConvertible {
        public let id: String
        public var description: String { "\(id) is not in failed/" }
    }

    /// Moves a failed delta back to `work/` under the same id with fresh attempts. If objects
    /// of its last attempt may remain in the store, it restarts in `uploading`, so they are
    /// removed (manifest first) before it is written again.
    public func retry(_ id: DeltaID) throws {
        let source = failed + "/" + id.rawValue
        guard Files.isDirectory(source) else { throw NotFailed(id: id.rawValue) }
        let reportPath = source + "/report.json"
        let report = (try? Files.readAll(reportPath)).flatMap { try? JSONSerialization.jsonObject(with: Data($0)) as? [String: Any] }
        let objectsMayRemain = report?["objects_may_remain"] as? Bool ?? true
        guard var record = try load(at: source) else { throw NotFailed(id: id.rawValue) }
        record.state = objectsMayRemain ? .uploading : .claimed
        record.attempt = 1
        record.notBeforeMs = nil
        record.writerPID = nil
        record.writerStartTime = nil
        try Files.writeAtomically(try StableJSON.encode(record), to: source + "/state.json", mode: 0o600)
        try? Files.removeTree(reportPath)
        try Files.rename(source, directory(of: id))
        try Files.syncDirectory(failed)
        try Files.syncDirectory(work)
    }
    public func workInProgress() throws -> [DeltaID] {
        try Files.list(work).compactMap(DeltaID.init)
    }

    /// The work directory of a delta.
    public func directory(of id: DeltaID) -> String { work + "/" + id.rawValue }

    /// Claims `batch` from `incoming/` into a new delta's work directory: one rename, so a crash
    /// leaves the batch in exactly one of the two places. Returns `nil` if another claimer won.
    /// The claimed copy is made read-only and its size and SHA-256 recorded, so every attempt can
    /// prove it unchanged.
    public func claim(_ batch: String, as id: DeltaID) throws -> DeltaRecord? {
        let directory = self.directory(of: id)
        // Traversable and readable for the writer, writable only by the supervisor.
        try Files.makeDirectories(directory + "/batches", mode: 0o755)
        _ = chmod(directory, 0o711)
        let claimed = directory + "/batches/" + batch
        do {
            try Files.rename(incoming + "/" + batch, claimed)
        } catch let error as SystemError where error.errno == ENOENT {
            try discard(id)
            return nil
        }
        try Files.makeReadOnly(claimed)
        var record = DeltaRecord(id: id, batches: [batch], claimedAtMs: WallClock.nowMilliseconds())
        record.batchDigests = try digests(of: record)
        try save(record)
        try Files.syncDirectory(incoming)
        return record
    }

    /// Puts a claimed batch back into `incoming/` and forgets the delta (a producer turned out
    /// to be still writing it).
    public func unclaim(_ record: DeltaRecord) throws {
        let directory = self.directory(of: record.id)
        for batch in record.batches { try Files.rename(directory + "/batches/" + batch, incoming + "/" + batch) }
        try Files.syncDirectory(incoming)
        try discard(record.id)
    }

    /// The path of a claimed batch.
    public func batchPath(_ record: DeltaRecord, _ batch: String) -> String {
        directory(of: record.id) + "/batches/" + batch
    }

    /// Size and SHA-256 of each batch of `record` as they are now.
    public func digests(of record: DeltaRecord) throws -> [BatchDigest] {
        try record.batches.map { name in
            let source = try Self.describeBatch(batchPath(record, name), name: name)
            return BatchDigest(name: name, bytes: source.bytes, sha256: source.sha256)
        }
    }

    /// A claimed batch that is not what was claimed.
    public struct BatchChanged: Error, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Throws ``BatchChanged`` unless every batch is still what was claimed.
    public func checkBatches(_ record: DeltaRecord) throws {
        guard let claimed = record.batchDigests else { return }
        for expected in claimed {
            let path = batchPath(record, expected.name)
            guard Files.exists(path) else {
                throw BatchChanged(reason: "batch \(expected.name) is gone from the delta's work directory; it was \(expected.bytes) bytes at the claim")
            }
            let now = try Self.describeBatch(path, name: expected.name)
            if now.bytes != expected.bytes || now.sha256 != expected.sha256 {
                throw BatchChanged(reason: "batch \(expected.name) changed after it was claimed: it was \(expected.bytes) bytes, sha256 \(expected.sha256); " +
                    "it is \(now.bytes) bytes, sha256 \(now.sha256). Something other than the producer (the writer command?) modified it; " +
                    "it is kept as it is now, not rejected")
            }
        }
    }

    /// Name, record count (non-blank lines), size and SHA-256 of one batch file.
    public static func describeBatch(_ path: String, name: String) throws -> Manifest.Source {
        let file = try PosixFile.openForReading(path)
        var hash = SHA256Stream()
        var records = 0
        var lineHasContent = false
        try file.forEachChunk { chunk in
            hash.update(chunk)
            for byte in chunk {
                if byte == 10 {
                    if lineHasContent { records += 1 }
                    lineHasContent = false
                } else if byte != 32 && byte != 9 && byte != 13 {
                    lineHasContent = true
                }
            }
        }
        if lineHasContent { records += 1 }
        return Manifest.Source(name: name, records: records, bytes: hash.count, sha256: hash.hex())
    }

    /// The longest name DeltaSeal gives a file it derives from an input name, in bytes: room for
    /// a `.report.json` beside it and a temporary suffix while it is written, under NAME_MAX.
    public static let maxDerivedNameBytes = 200

    /// `name` if it fits ``maxDerivedNameBytes``, else its start (cut at a character boundary)
    /// and the first 16 hex digits of its SHA-256, so distinct long names stay distinct.
    public static func boundedName(_ name: String) -> String {
        guard name.utf8.count > maxDerivedNameBytes else { return name }
        let suffix = "~" + SHA256Stream.hex(of: Array(name.utf8)).prefix(16) + (name.hasSuffix(".ndjson") ? ".ndjson" : "")
        var kept = ""
        for character in name where kept.utf8.count + character.utf8.count + suffix.utf8.count <= maxDerivedNameBytes {
            kept.append(character)
        }
        return kept + suffix
    }

    /// Persists a delta's record atomically.
    public func save(_ record: DeltaRecord) throws {
        try Files.writeAtomically(try StableJSON.encode(record), to: directory(of: record.id) + "/state.json", mode: 0o600)
    }

    /// Loads a delta's record; a directory without one (a crash between claim and first save) is
    /// reconstructed from its batches, and one without batches is not a delta at all (`nil`).
    public func load(_ id: DeltaID) throws -> DeltaRecord? {
        try load(at: directory(of: id))
    }

    private func load(at directory: String) throws -> DeltaRecord? {
        let id = DeltaID(PathName.lastComponent(of: directory))!
        if Files.exists(directory + "/state.json") {
            return try StableJSON.decode(DeltaRecord.self, from: Files.readAll(directory + "/state.json"))
        }
        let batches = (try? Files.list(directory + "/batches")) ?? []
        guard !batches.isEmpty else { return nil }
        return DeltaRecord(id: id, batches: batches, claimedAtMs: WallClock.nowMilliseconds())
    }
}
