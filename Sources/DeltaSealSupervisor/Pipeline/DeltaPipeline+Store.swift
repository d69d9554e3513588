import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
import Logging

/// The store stages: upload the packed delta (manifest last), read back an uploaded manifest
/// after a crash, remove what an attempt uploaded. The store's calls are async (their I/O runs on
/// the blocking executor) and stop when the task is cancelled; local reads go through `Blocking`.
extension DeltaPipeline {
    /// Waits until the store can take work (the daemon) or says whether it can now (`--once`);
    /// false: stop here, the delta resumes at the next start.
    func storeIsAvailable() async -> Bool {
        once ? storeHealth.isAvailable : await storeHealth.waitUntilAvailable(stop: stop)
    }

    /// Uploads the packed delta; → `uploaded` / `manifestConflict` / `storeFailed(.upload)`.
    func upload(_ record: DeltaRecord, _ log: Logger) async throws -> DeltaEvent {
        let manifest = try localManifest(record)
        let uploadStarted = WallClock.monotonicNanoseconds()
        let requests: [String: Int]
        do {
            requests = try await uploads.withPermit { try await put(manifest, record: record) }
        } catch let conflict as ManifestConflict {
            return .manifestConflict(reason: conflict.reason)
        } catch let error as StoreError {
            return .storeFailed(.upload, storeFailure("upload failed: \(error)", error))
        }
        storeHealth.succeeded()
        SupervisorMetrics.stage("upload", nanoseconds: WallClock.monotonicNanoseconds() - uploadStarted)
        SupervisorMetrics.bytes("uploaded", manifest.compressedBytes)
        log.info("uploaded", metadata: [
            "objects": "\(manifest.files.count + 1)",
            "requests": "\(requests.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
        ])
        return .uploaded
    }

    /// Another manifest is in the store under this delta's name.
    struct ManifestConflict: Error { var reason: String }

    /// Objects first, each with its checksum; the manifest last, only if absent. Returns the
    /// requests it took, by verb (one session: its connections are reused across the delta).
    private func put(_ manifest: Manifest, record: DeltaRecord) async throws -> [String: Int] {
        let packed = spool.directory(of: record.id) + "/packed"
        let store = CountingStore(self.store)
        defer { Self.publish(store) }
        do {
            for file in manifest.files {
                try await store.put(key: deltaKey(record, file.objectKey), file: packed + "/" + file.objectKey, sha256: file.compressedSHA256)
            }
            let bytes = try await Blocking.run { try Files.readAll(packed + "/" + ObjectLayout.manifestKey) }
            try await store.put(key: deltaKey(record, ObjectLayout.manifestKey), bytes: bytes, ifAbsent: true)
            return store.requestCounts
        } catch let error as StoreError where error.code == .alreadyExists {
            // Ours, if an earlier attempt's manifest PUT succeeded but its answer was lost.
            if (try? await uploadedManifestMatchesLocal(record)) == true { return store.requestCounts }
            throw ManifestConflict(reason: "a manifest for \(record.id) already exists in \(store.location); refusing to overwrite it")
        }
    }

    /// Adds a session's requests to `deltaseal_store_requests_total`.
    private static func publish(_ session: CountingStore) {
        for (outcome, count) in session.requestOutcomes {
            SupervisorMetrics.storeRequests(verb: outcome.verb, status: outcome.status, count: count)
        }
        for (reason, count) in session.retryCounts { SupervisorMetrics.storeRetries(class: reason, count: count) }
    }

    /// After a crash during the upload: → `uploadedManifest` / `storeFailed(.readManifest)`.
    func readUploadedManifest(_ record: DeltaRecord) async throws -> DeltaEvent {
        do {
            return .uploadedManifest(matches: try await uploadedManifestMatchesLocal(record))
        } catch let error as StoreError {
            return .storeFailed(.readManifest, storeFailure("cannot read the uploaded manifest: \(error)", error))
        }
    }

    private func uploadedManifestMatchesLocal(_ record: DeltaRecord) async throws -> Bool {
        let path = spool.directory(of: record.id) + "/packed/" + ObjectLayout.manifestKey
        guard let local = try await Blocking.run({ Files.exists(path) ? try Files.readAll(path) : nil }) else { return false }
        do {
            return try await store.getBytes(key: deltaKey(record, ObjectLayout.manifestKey)) == local
        } catch let error as StoreError where error.code == .notFound {
            return false
        }
    }

    /// Removes what an attempt uploaded, manifest first: the keys its local manifest names, or,
    /// without one, every object under the delta's location. → `objectsDeleted` /
    /// `storeFailed(.deleteObjects)`.
    func deleteObjects(_ record: DeltaRecord) async throws -> DeltaEvent {
        let local = spool.directory(of: record.id) + "/packed/" + ObjectLayout.manifestKey
        do {
            let manifest = try await Blocking.run { try? StableJSON.decode(Manifest.self, from: Files.readAll(local)) }
            let keys: [String]
            if let manifest {
                keys = manifest.files.map { deltaKey(record, $0.objectKey) }
            } else {
                keys = try await store.list(prefix: deltaKey(record, "") + "/").map(\.key)
            }
            try await store.deleteDelta(manifest: deltaKey(record, ObjectLayout.manifestKey), objects: keys)
        } catch let error as StoreError {
            return .storeFailed(.deleteObjects, storeFailure("cannot remove the objects of the failed attempt: \(error)", error))
        }
        let directory = spool.directory(of: record.id)
        return .objectsDeleted(DeltaEvent.DeltaDisk(hasOutput: Files.isDirectory(directory + "/out"),
                                                    hasPacked: Files.exists(local), stopRequested: stop.isRequested))
    }

    /// A store error as the machine weighs it, told to the store's health first (outage mode).
    func storeFailure(_ reason: String, _ error: StoreError) -> DeltaEvent.StoreFailure {
        let firstRefusal = storeHealth.failed(error)
        return DeltaEvent.StoreFailure(reason: reason, retryable: error.isRetryable, storeAvailable: storeHealth.isAvailable,
                                       firstRefusal: firstRefusal)
    }

    func deltaKey(_ record: DeltaRecord, _ key: String) -> String {
        ObjectLayout.join(config.host, record.id.rawValue, key)
    }

    /// The manifest packed for this delta.
    func localManifest(_ record: DeltaRecord) throws -> Manifest {
        try StableJSON.decode(Manifest.self, from: Files.readAll(spool.directory(of: record.id) + "/packed/" + ObjectLayout.manifestKey))
    }
}
