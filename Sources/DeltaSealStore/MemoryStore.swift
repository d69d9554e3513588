import DeltaSealCore
import DeltaSealSystem
import Synchronization

/// Objects in memory: the store for tests and tools that need one without a disk or a server,
/// with faults to inject at the seam. It passes the same conformance suite as the file and S3
/// stores, so what works against it is what the protocol promises, no more.
///
/// Its calls do their (memory) work in the calling task, after a cancellation check: a cancelled
/// task's call changes nothing and throws `CancellationError`.
///
/// Sessions share the objects, the faults and the call counts; each has its own observer, told of
/// every call as one request (`ok`, or `error` when it failed).
public final class MemoryStore: ObjectStore, Sendable {
    /// What the store reports itself as; nothing is read or written there.
    public let location: StoreURL
    private let shared: Shared
    private let observer: (any RequestObserver)?

    /// The calls faults can be injected into and that are counted.
    public enum Operation: String, Sendable, CaseIterable {
        case put, get, head, delete, list

        /// The verb a request of this kind is reported as, like the other stores.
        var verb: String { self == .list ? "LIST" : rawValue.uppercased() }
    }

    /// An empty store reporting `location` (by default `file:///memory`, which is never touched).
    public init(location: StoreURL = StoreURL(scheme: .file, root: "/memory", prefix: ""), observer: (any RequestObserver)? = nil) {
        self.location = location
        shared = Shared()
        self.observer = observer
    }

    private init(sharing other: MemoryStore, observer: (any RequestObserver)?) {
        location = other.location
        shared = other.shared
        self.observer = observer
    }

    public func session(observer: (any RequestObserver)?) -> any ObjectStore { MemoryStore(sharing: self, observer: observer) }

    // MARK: - Faults and counts

    /// The next `count` calls of `operation` (any session's) fail with `error`, changing nothing.
    public func failNext(_ operation: Operation, _ count: Int = 1, with error: StoreError) {
        shared.state.withLock { shared in shared.faults[operation, default: []] += Array(repeating: error, count: count) }
    }

    /// Calls of `operation` so far, every session's, injected failures included.
    public func calls(_ operation: Operation) -> Int { shared.state.withLock { shared in shared.calls[operation] ?? 0 } }

    /// Calls of `operation` that failed with an injected fault so far.
    public func injectedFailures(_ operation: Operation) -> Int { shared.state.withLock { shared in shared.injected[operation] ?? 0 } }

    /// Begins an upload that never finishes, as a crashed multipart upload leaves one, for
    /// garbage collection to find.
    @discardableResult
    public func beginPendingUpload(key: String, initiatedMs: Int64 = WallClock.nowMilliseconds()) -> PendingUpload {
        let upload = PendingUpload(key: key, id: "upload-\(UInt64.random(in: 0 ... .max))", initiatedMs: initiatedMs)
        shared.state.withLock { shared in shared.pending[upload.id] = upload }
        return upload
    }

    // MARK: - ObjectStore

    public func put(key: String, file path: String, sha256: String) async throws {
        try Task.checkCancellation()
        try call(.put) {
            try checked(key)
            var hash = SHA256Stream()
            var bytes: [UInt8] = []
            do {
                let file = try PosixFile.openForReading(path)
                try file.forEachChunk { chunk in
                    hash.update(chunk)
                    bytes.append(contentsOf: chunk)
                }
                try file.close()
            } catch let error as SystemError {
                throw StoreError(.local, key: key, error.description, retryable: error.isRetryable)
            }
            guard hash.hex() == sha256 else {
                throw StoreError(.checksumMismatch, key: key, "received bytes hash to \(hash.hex()), expected \(sha256)")
            }
            shared.state.withLock { shared in shared.objects[key] = Object(bytes: bytes, modifiedMs: WallClock.nowMilliseconds()) }
        }
    }

    public func put(key: String, bytes: [UInt8], ifAbsent: Bool) async throws {
        try Task.checkCancellation()
        try call(.put) {
            try checked(key)
            try shared.state.withLock { shared in
                if ifAbsent && shared.objects[key] != nil { throw StoreError(.alreadyExists, key: key, "object exists") }
                shared.objects[key] = Object(bytes: bytes, modifiedMs: WallClock.nowMilliseconds())
            }
        }
    }

    public func get(key: String, into sink: @escaping (UnsafeRawBufferPointer) throws -> Void) async throws {
        try Task.checkCancellation()
        try call(.get) {
            try checked(key)
            // Copied out first: the sink runs without the lock, and may be slow or throw.
            guard let object = shared.state.withLock({ shared in shared.objects[key] }) else {
                throw StoreError(.notFound, key: key, "no such object")
            }
            try object.bytes.withUnsafeBytes(sink)
            // One chunk, then the same answer as a transfer stopped midway.
            try Task.checkCancellation()
        }
    }

    public func head(key: String) async throws -> ObjectInfo? {
        try Task.checkCancellation()
        return try call(.head) {
            try checked(key)
            return shared.state.withLock { shared in shared.objects[key].map { ObjectInfo(key: key, size: Int64($0.bytes.count), modifiedMs: $0.modifiedMs) } }
        }
    }

    public func delete(keys: [String]) async throws {
        try Task.checkCancellation()
        try call(.delete) {
            for key in keys { try checked(key) }
            shared.state.withLock { shared in for key in keys { shared.objects[key] = nil } }
        }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try Task.checkCancellation()
        return try call(.list) {
            shared.state.withLock { shared in
                shared.objects.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key }
                    .map { ObjectInfo(key: $0.key, size: Int64($0.value.bytes.count), modifiedMs: $0.value.modifiedMs) }
            }
        }
    }

    public func listPendingUploads(prefix: String) async throws -> [PendingUpload] {
        try Task.checkCancellation()
        return try call(.list) { shared.state.withLock { shared in shared.pending.values.filter { $0.key.hasPrefix(prefix) }.sorted { $0.key < $1.key } } }
    }

    public func abortPendingUpload(_ upload: PendingUpload) async throws {
        try Task.checkCancellation()
        try call(.delete) { _ = shared.state.withLock { shared in shared.pending.removeValue(forKey: upload.id) } }
    }

    // MARK: - Internals

    private struct Object {
        var bytes: [UInt8]
        var modifiedMs: Int64
    }

    /// What every session of one store shares.
    private final class Shared: Sendable {
        struct State {
            var objects: [String: Object] = [:]
            var pending: [String: PendingUpload] = [:]
            var faults: [Operation: [StoreError]] = [:]
            var calls: [Operation: Int] = [:]
            var injected: [Operation: Int] = [:]
        }
        let state = Mutex(State())
    }

    /// Counts and reports one call, failing it first if a fault is due.
    private func call<T>(_ operation: Operation, _ body: () throws -> T) throws -> T {
        observer?.requestSent(operation.verb)
        let fault = shared.state.withLock { shared -> StoreError? in
            shared.calls[operation, default: 0] += 1
            guard var due = shared.faults[operation], !due.isEmpty else { return nil }
            let fault = due.removeFirst()
            shared.faults[operation] = due
            shared.injected[operation, default: 0] += 1
            return fault
        }
        do {
            if let fault { throw fault }
            let result = try body()
            observer?.requestAnswered(operation.verb, status: "ok")
            return result
        } catch {
            observer?.requestAnswered(operation.verb, status: "error")
            throw error
        }
    }

    /// The same keys as the other stores: relative, no `.` or `..`, no empty component.
    private func checked(_ key: String) throws {
        guard RelativePath(key) != nil else { throw StoreError(.invalidRequest, key: key, "not a valid object key") }
    }
}
