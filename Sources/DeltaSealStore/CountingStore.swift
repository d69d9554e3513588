/// A store that counts the requests made through it, by verb, status and retry reason: a
/// session of the store it wraps, with its own connections, that reports to its own counters.
/// One per delta (the supervisor's upload) or per verification (the verifier's report).
public struct CountingStore: ObjectStore {
    private let base: any ObjectStore
    private let inner: any ObjectStore
    /// What the wrapped store reported so far.
    public let counters: RequestCounters

    /// Counts the requests made through this wrapper of `store` (not those made through `store` itself).
    public init(_ store: any ObjectStore) {
        let counters = RequestCounters()
        self.counters = counters
        base = store
        inner = store.session(observer: counters)
    }

    /// Requests made so far, by verb: `PUT`, `GET`, `HEAD`, `DELETE`, `POST`, `LIST`.
    public var requestCounts: [String: Int] { counters.snapshot() }

    /// Requests made so far, by verb and the status they got.
    public var requestOutcomes: [RequestCounters.Outcome: Int] { counters.byStatus() }

    /// Requests the store tried again on its own, by reason.
    public var retryCounts: [String: Int] { counters.retries() }

    public var location: StoreURL { inner.location }
    public func put(key: String, file path: String, sha256: String) async throws { try await inner.put(key: key, file: path, sha256: sha256) }
    public func put(key: String, bytes: [UInt8], ifAbsent: Bool) async throws { try await inner.put(key: key, bytes: bytes, ifAbsent: ifAbsent) }
    public func get(key: String, into sink: @escaping (UnsafeRawBufferPointer) throws -> Void) async throws { try await inner.get(key: key, into: sink) }
    public func head(key: String) async throws -> ObjectInfo? { try await inner.head(key: key) }
    public func delete(keys: [String]) async throws { try await inner.delete(keys: keys) }
    public func list(prefix: String) async throws -> [ObjectInfo] { try await inner.list(prefix: prefix) }
    public func listPendingUploads(prefix: String) async throws -> [PendingUpload] { try await inner.listPendingUploads(prefix: prefix) }
    public func abortPendingUpload(_ upload: PendingUpload) async throws { try await inner.abortPendingUpload(upload) }

    /// A session of the wrapped store whose requests count here as well as at `observer`.
    public func session(observer: (any RequestObserver)?) -> any ObjectStore {
        base.session(observer: observer.map { ObserverPair(first: counters, second: $0) } ?? counters)
    }
}

/// Tells two observers of every request.
private struct ObserverPair: RequestObserver {
    let first: any RequestObserver
    let second: any RequestObserver
    func requestSent(_ verb: String) { first.requestSent(verb); second.requestSent(verb) }
    func requestAnswered(_ verb: String, status: String) { first.requestAnswered(verb, status: status); second.requestAnswered(verb, status: status) }
    func requestRetried(reason: String) { first.requestRetried(reason: reason); second.requestRetried(reason: reason) }
}
