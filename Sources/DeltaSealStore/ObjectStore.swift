/// The one seam between DeltaSeal and object storage. The filesystem store and the S3 store both
/// conform and both pass the same conformance suite.
///
/// Calls block the calling thread (file and network I/O); the supervisor runs them through
/// `Blocking.run`. Keys are relative to the store's location, `/`-separated.
public protocol ObjectStore: Sendable {
    /// Where the store is, for logs and reports (never with credentials).
    var location: StoreURL { get }

    /// Uploads the file at `path` as `key`. The store checks the bytes it received against
    /// `sha256` (hex) and fails with `.checksumMismatch` rather than keep a damaged object.
    func put(key: String, file path: String, sha256: String) throws

    /// Stores small `bytes` as `key`; with `ifAbsent`, fails with `.alreadyExists` if `key` exists.
    func put(key: String, bytes: [UInt8], ifAbsent: Bool) throws

    /// Streams the object's bytes to `sink` in order; `.notFound` if it does not exist.
    func get(key: String, into sink: (UnsafeRawBufferPointer) throws -> Void) throws

    /// The object's size, or `nil` if it does not exist.
    func head(key: String) throws -> ObjectInfo?

    /// Deletes `keys`; keys that do not exist are not an error.
    func delete(keys: [String]) throws

    /// Objects whose keys start with `prefix` (used by garbage collection only, never to ship or verify).
    func list(prefix: String) throws -> [ObjectInfo]

    /// A store on the same location with connections of its own, that tells `observer` of every
    /// request it sends (``CountingStore`` makes one per delta or verification).
    func session(observer: (any RequestObserver)?) -> any ObjectStore

    /// Uploads begun and not finished under `prefix` (garbage collection only).
    func listPendingUploads(prefix: String) throws -> [PendingUpload]

    /// Aborts one pending upload, releasing what it holds; one already gone is not an error.
    func abortPendingUpload(_ upload: PendingUpload) throws
}

extension ObjectStore {
    /// A store whose objects appear in one step (a file renamed into place) leaves none behind.
    public func listPendingUploads(prefix: String) throws -> [PendingUpload] { [] }

    /// A store whose objects appear in one step has none to abort.
    public func abortPendingUpload(_ upload: PendingUpload) throws {}
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
    public func deleteDelta(manifest: String?, objects: [String]) throws {
        if let manifest { try delete(keys: [manifest]) }
        let rest = objects.filter { $0 != manifest }
        if !rest.isEmpty { try delete(keys: rest) }
    }

    /// Reads a whole small object (a manifest) into memory, refusing more than `limit` bytes.
    public func getBytes(key: String, limit: Int = 16 << 20) throws -> [UInt8] {
        var bytes: [UInt8] = []
        try get(key: key) { chunk in
            guard bytes.count + chunk.count <= limit else {
                throw StoreError(.invalidObject, key: key, "object is larger than \(limit) bytes")
            }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }
}
