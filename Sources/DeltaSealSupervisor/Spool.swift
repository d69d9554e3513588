import DeltaSealCore
import Foundation
import DeltaSealPack
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

    public init(root: String) { self.root = root }

    /// Creates the directories.
    public func prepare() throws {
        for directory in [incoming, work, rejected, failed] { try Files.makeDirectories(directory) }
        _ = chmod(work, 0o700)
    }

    /// Batches ready to claim: `*.ndjson` regular files not under a temporary (dot) name, oldest name first.
    public func readyBatches() throws -> [String] {
        try Files.list(incoming).filter { name in
            name.hasSuffix(".ndjson") && !name.hasPrefix(".") && {
                var st = stat()
                return lstat(incoming + "/" + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
            }()
        }
    }

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

    /// Batches or deltas waiting in each spool directory: `incoming`, `work`, `rejected`, `failed`.
    public func queueDepths() -> [String: Int] {
        [
            "incoming": (try? readyBatches().count) ?? 0,
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
    public func claim(_ batch: String, as id: DeltaID) throws -> DeltaRecord? {
        let directory = self.directory(of: id)
        try Files.makeDirectories(directory + "/batches", mode: 0o700)
        do {
            try Files.rename(incoming + "/" + batch, directory + "/batches/" + batch)
        } catch let error as SystemError where error.errno == ENOENT {
            try discard(id)
            return nil
        }
        let record = DeltaRecord(id: id, batches: [batch], claimedAtMs: WallClock.nowMilliseconds())
        try save(record)
        try Files.syncDirectory(incoming)
        return record
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
