import DeltaSealCore
import DeltaSealStore
import DeltaSealSystem
import Logging

/// Removes what failed or abandoned attempts left in the store under this host's prefix: objects
/// of deltas that have no manifest and are older than a grace period, every object of deltas this
/// spool gave up on (`failed/`), and stale multipart uploads. It never lists or touches another
/// host's prefix, nor a delta this spool is still working on.
public struct GarbageCollector: Sendable {
    public let store: any ObjectStore
    public let host: String
    public let spool: Spool
    /// Objects younger than this are left alone (an upload may be under way elsewhere).
    public let graceMs: Int64
    public let logger: Logger
    /// List what would be removed, remove nothing (`supervisor gc --dry-run`).
    public var dryRun = false

    public init(store: any ObjectStore, host: String, spool: Spool, graceMs: Int64, logger: Logger) {
        self.store = store
        self.host = host
        self.spool = spool
        self.graceMs = graceMs
        self.logger = logger
    }

    /// What one collection removed.
    public struct Result: Sendable, Equatable {
        public var deltas = 0
        public var objects = 0
        public var abortedUploads = 0
        /// What was removed (or, in a dry run, would be): object keys, and `upload KEY` for
        /// multipart uploads.
        public var removed: [String] = []
    }

    /// Collects once.
    public func run(nowMs: Int64 = WallClock.nowMilliseconds()) async throws -> Result {
        var result = Result()
        let (inFlight, gaveUp) = try await Blocking.run { [spool] in
            (Set(try spool.workInProgress().map(\.rawValue)), Set(try spool.failedDeltas().map(\.rawValue)))
        }
        var byDelta: [String: [ObjectInfo]] = [:]
        for object in try await store.list(prefix: host + "/") {
            let parts = object.key.split(separator: "/", maxSplits: 2)
            guard parts.count >= 2, parts[0] == host, DeltaID(String(parts[1])) != nil else { continue }
            byDelta[String(parts[1]), default: []].append(object)
        }
        for (id, objects) in byDelta.sorted(by: { $0.key < $1.key }) where !inFlight.contains(id) {
            let manifestKey = ObjectLayout.join(host, id, ObjectLayout.manifestKey)
            let hasManifest = objects.contains { $0.key == manifestKey }
            let newest = objects.compactMap(\.modifiedMs).max() ?? nowMs
            let abandoned = !hasManifest && nowMs - newest >= graceMs
            guard gaveUp.contains(id) || abandoned else { continue }
            result.deltas += 1
            result.objects += objects.count
            result.removed += objects.map(\.key).sorted()
            if dryRun { continue }
            try await store.deleteDelta(manifest: hasManifest ? manifestKey : nil, objects: objects.map(\.key))
            logger.notice("gc removed an orphaned delta", metadata: [
                "delta": "\(id)", "objects": "\(objects.count)", "reason": "\(gaveUp.contains(id) ? "failed" : "no manifest")",
            ])
        }
        for upload in try await store.listPendingUploads(prefix: host + "/") {
            let id = upload.key.split(separator: "/").dropFirst().first.map(String.init) ?? ""
            guard !inFlight.contains(id), nowMs - (upload.initiatedMs ?? nowMs) >= graceMs else { continue }
            result.abortedUploads += 1
            result.removed.append("upload \(upload.key)")
            if dryRun { continue }
            try await store.abortPendingUpload(upload)
            logger.notice("gc aborted a stale multipart upload", metadata: ["key": "\(upload.key)"])
        }
        return result
    }
}
