/// The one seam between DeltaSeal and object storage. The filesystem store and the S3 store both
/// conform and both pass the same conformance suite.
///
/// Calls are async and cancellation-aware: the file and S3 stores do their I/O on the process's
/// ``BlockingExecutor`` (never on the cooperative pool), and a call whose task is cancelled stops
/// its transfer and throws `CancellationError` (an object is then either whole or absent, as
/// after any failure). Keys are relative to the store's location, `/`-separated.
public protocol ObjectStore: Sendable {
    /// Where the store is, for logs and reports (never with credentials).
    var location: StoreURL { get }

    /// Uploads the file at `path` as `key`. The store checks the bytes it received against
    /// `sha256` (hex) and fails with `.checksumMismatch` rather than keep a damaged object.
    func put(key: String, file path: String, sha256: String) async throws

    /// Stores small `bytes` as `key`; with `ifAbsent`, fails with `.alreadyExists` if `key` exists.
    func put(key: String, bytes: [UInt8], ifAbsent: Bool) async throws

    /// Streams the object's bytes to `sink` in order; `.notFound` if it does not exist. `sink` is
    /// called one chunk after another, perhaps on another thread, and never after `get` returned.
    func get(key: String, into sink: @escaping (UnsafeRawBufferPointer) throws -> Void) async throws

    /// The object's size, or `nil` if it does not exist.
    func head(key: String) async throws -> ObjectInfo?

    /// Deletes `keys`; keys that do not exist are not an error.
    func delete(keys: [String]) async throws

    /// Objects whose keys start with `prefix` (used by garbage collection only, never to ship or verify).
    func list(prefix: String) async throws -> [ObjectInfo]

    /// A store on the same location with connections of its own, that tells `observer` of every
    /// request it sends (``CountingStore`` makes one per delta or verification).
    func session(observer: (any RequestObserver)?) -> any ObjectStore

    /// Uploads begun and not finished under `prefix` (garbage collection only).
    func listPendingUploads(prefix: String) async throws -> [PendingUpload]

    /// Aborts one pending upload, releasing what it holds; one already gone is not an error.
    func abortPendingUpload(_ upload: PendingUpload) async throws
}

extension ObjectStore {
    /// A store whose objects appear in one step (a file renamed into place) leaves none behind.
    public func listPendingUploads(prefix: String) async throws -> [PendingUpload] { [] }

    /// A store whose objects appear in one step has none to abort.
    public func abortPendingUpload(_ upload: PendingUpload) async throws {}
}

/// What a store knows of an object.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var size: Int64
    /// Unix milliseconds of the last modification, where the store tells.
    public var modifiedMs: Int64?
    public init(key: String, size: Int64, modifiedMs: Int64?) { self.key = key; self.size = size; self.modifiedMs = modifiedMs }
}

extension ObjectStore {
    /// Deletes a delta's objects, its manifest (if given) first: from the moment the manifest is
    /// gone, no reader takes the rest for a delta.
    public func deleteDelta(manifest: String?, objects: [String]) async throws {
        if let manifest { try await delete(keys: [manifest]) }
        let rest = objects.filter { $0 != manifest }
        if !rest.isEmpty { try await delete(keys: rest) }
    }

    /// Reads a whole small object (a manifest) into memory, refusing more than `limit` bytes.
    public func getBytes(key: String, limit: Int = 16 << 20) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        try await get(key: key) { chunk in
            guard bytes.count + chunk.count <= limit else {
                throw StoreError(.invalidObject, key: key, "object is larger than \(limit) bytes")
            }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }
}
