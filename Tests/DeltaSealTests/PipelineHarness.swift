import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Logging

/// A spool, a filesystem store and a supervisor configuration in one temporary directory.
struct PipelineHarness {
    let root: String
    var config: SupervisorConfig
    var spool: Spool { Spool(root: config.spool) }
    var storeRoot: String { config.store.root }

    init(_ label: String = #function) throws {
        root = try TestSupport.temporaryDirectory(label)
        config = SupervisorConfig(workingDirectory: root, executableDirectory: TestSupport.binDirectory)
        config.host = "test-host"
        config.retry = RetryPolicy(maxAttempts: 3, baseDelay: 0.05, maxDelay: 0.2)
        config.pollInterval = .milliseconds(50)
        // Batches dropped before a run were not seen arriving by rename: a short settle time.
        config.intakeSettle = .milliseconds(100)
        config.killGrace = .milliseconds(500)
    }

    func remove() { try? Files.removeTree(root) }

    /// Lets writers write outside their output (marker and pid files the test reads): runs them
    /// as root without Landlock, which the default sandbox would refuse. Only for tests whose
    /// writer reports to the test through files; every other test runs the default sandbox.
    mutating func letWritersReportOutsideTheirOutput() {
        config.writerUser = "root"
        config.writerLandlock = false
    }

    /// The environment of a `supervisor` command that does the same.
    static let writersReportOutside = ["DELTASEAL_WRITER_USER": "root", "DELTASEAL_WRITER_LANDLOCK": "false"]

    /// A logger that keeps quiet unless something is badly wrong.
    static let logger: Logger = {
        var logger = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .critical
        return logger
    }()

    /// Runs `supervisor start --once` in-process over this harness.
    func runOnce(store: (any ObjectStore)? = nil, logger: Logger = PipelineHarness.logger) async throws -> RunSummary {
        try await Supervisor(config: config, logger: logger).run(once: true, store: store)
    }

    /// Delta ids shipped into the store.
    func shippedDeltas() throws -> [String] {
        let hostDirectory = storeRoot + "/" + config.host
        guard Files.isDirectory(hostDirectory) else { return [] }
        return try Files.list(hostDirectory)
    }

    /// The store URL of a shipped delta.
    func deltaURL(_ id: String) -> String { "file://" + storeRoot + "/" + config.host + "/" + id }

    /// The manifest of a shipped delta.
    func manifest(_ id: String) throws -> Manifest {
        try StableJSON.decode(Manifest.self, from: Files.readAll(storeRoot + "/" + config.host + "/" + id + "/manifest.json"))
    }

    /// Runs the verifier binary on a shipped delta.
    func verify(_ id: String, extra: [String] = []) async throws -> TestSupport.Result {
        try await TestSupport.run([TestSupport.verifier, deltaURL(id)] + extra)
    }
}

/// A real store with injected faults at the seam: the first `failPuts` object uploads fail as a
/// flaky network would, everything else reaches the real store. Its sessions (one per delta) share
/// the faults, and their requests also count in `requestCounts`, across every delta.
final class FaultInjectingStore: ObjectStore, @unchecked Sendable {
    private let counted: CountingStore
    private let inner: any ObjectStore
    private let faults: Faults

    private final class Faults: @unchecked Sendable {
        let lock = PThreadMutex()
        var putsToFail: Int
        var failedPuts = 0
        init(_ count: Int) { putsToFail = count }
    }

    convenience init(_ inner: any ObjectStore, failPuts: Int) {
        let counted = CountingStore(inner)
        self.init(counted: counted, inner: counted, faults: Faults(failPuts))
    }

    private init(counted: CountingStore, inner: any ObjectStore, faults: Faults) {
        self.counted = counted
        self.inner = inner
        self.faults = faults
    }

    var failedPuts: Int { faults.lock.withLock { faults.failedPuts } }
    var requestCounts: [String: Int] { counted.requestCounts }
    var location: StoreURL { inner.location }

    func put(key: String, file path: String, sha256: String) async throws {
        let fail = faults.lock.withLock { () -> Bool in
            guard faults.putsToFail > 0 else { return false }
            faults.putsToFail -= 1
            faults.failedPuts += 1
            return true
        }
        if fail { throw StoreError(.transient, key: key, "injected: connection reset by peer") }
        try await inner.put(key: key, file: path, sha256: sha256)
    }

    func put(key: String, bytes: [UInt8], ifAbsent: Bool) async throws { try await inner.put(key: key, bytes: bytes, ifAbsent: ifAbsent) }
    func get(key: String, into sink: @escaping (UnsafeRawBufferPointer) throws -> Void) async throws { try await inner.get(key: key, into: sink) }
    func head(key: String) async throws -> ObjectInfo? { try await inner.head(key: key) }
    func delete(keys: [String]) async throws { try await inner.delete(keys: keys) }
    func list(prefix: String) async throws -> [ObjectInfo] { try await inner.list(prefix: prefix) }
    func listPendingUploads(prefix: String) async throws -> [PendingUpload] { try await inner.listPendingUploads(prefix: prefix) }
    func abortPendingUpload(_ upload: PendingUpload) async throws { try await inner.abortPendingUpload(upload) }
    func session(observer: (any RequestObserver)?) -> any ObjectStore {
        FaultInjectingStore(counted: counted, inner: counted.session(observer: observer), faults: faults)
    }
}

/// Keeps every log message, for tests that assert what an operator would read.
final class LogRecorder: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var lines: [String] = []

    var messages: [String] { lock.withLock { lines } }

    func contains(_ text: String) -> Bool { messages.contains { $0.contains(text) } }

    var logger: Logger {
        var logger = Logger(label: "recorded") { _ in Handler(recorder: self) }
        logger.logLevel = .debug
        return logger
    }

    fileprivate func append(_ line: String) { lock.withLock { lines.append(line) } }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            recorder.append("\(event.level) \(event.message) " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
    }
}
