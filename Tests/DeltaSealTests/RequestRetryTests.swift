import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Synchronization
import Testing

/// Request-level retries of the S3 store, through the fault proxy in front of SeaweedFS: what is
/// retried, what is not, and that a broken GET resumes without repeating or losing a byte.
@Suite(.enabled(if: S3TestServer.available, "needs the SeaweedFS server bin/test starts"), .timeLimit(.minutes(3)))
struct RequestRetryTests {
    let server = S3TestServer.current!

    func bytes(_ count: Int, seed: Int = 1) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7 &+ seed) } }

    func outcomes(_ store: CountingStore, _ verb: String) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: store.requestOutcomes.filter { $0.key.verb == verb }.map { ($0.key.status, $0.value) })
    }

    @Test func aSingle503IsRetriedOnce() async throws {
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "status_503", method: "PUT")])
        let prefix = S3TestServer.uniquePrefix()
        let store = CountingStore(try server.store(prefix: prefix, endpoint: proxy.endpoint))
        try await store.put(key: "a/b.json", bytes: Array("{}".utf8), ifAbsent: true)
        #expect(try await proxy.injected() == ["status_503": 1])
        #expect(store.requestCounts == ["PUT": 2])
        #expect(outcomes(store, "PUT") == ["503": 1, "200": 1])
        #expect(store.retryCounts == ["throttled": 1])
        #expect(try await server.store(prefix: prefix).getBytes(key: "a/b.json") == Array("{}".utf8))
    }

    @Test func aResetMidPutBodyIsRetriedFromTheFile() async throws {
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "reset_body", method: "PUT")])
        let prefix = S3TestServer.uniquePrefix()
        let store = CountingStore(try server.store(prefix: prefix, endpoint: proxy.endpoint))
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let content = bytes(3 << 20)
        try Data(content).write(to: URL(fileURLWithPath: dir + "/object.bin"))
        try await store.put(key: "a/files/object.bin", file: dir + "/object.bin", sha256: SHA256Stream.hex(of: content))
        #expect(try await proxy.injected() == ["reset_body": 1])
        #expect(store.requestCounts == ["PUT": 2])
        #expect(store.retryCounts == ["connection": 1])
        #expect(try await server.store(prefix: prefix).getBytes(key: "a/files/object.bin", limit: 4 << 20) == content)
    }

    @Test func aResetMidGetBodyResumesWithRangeAndTheBytesAreIdentical() async throws {
        let prefix = S3TestServer.uniquePrefix()
        let content = bytes(5 << 20, seed: 7)
        try await server.store(prefix: prefix).put(key: "a/files/object.bin", bytes: content, ifAbsent: false)
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "reset_response", method: "GET")])
        let store = CountingStore(try server.store(prefix: prefix, endpoint: proxy.endpoint))
        var received: [UInt8] = []
        var chunks = 0
        try await store.get(key: "a/files/object.bin") { chunk in
            received.append(contentsOf: chunk)
            chunks += 1
        }
        #expect(try await proxy.injected() == ["reset_response": 1])
        #expect(received.count == content.count)
        #expect(received == content, "the sink saw every byte exactly once, in order")
        #expect(store.requestCounts == ["GET": 2])
        #expect(store.retryCounts == ["truncated": 1])
        let log = try String(contentsOfFile: proxy.logPath, encoding: .utf8)
        let gets = log.split(separator: "\n").filter { $0.hasPrefix("GET ") }
        #expect(gets.count == 2)
        #expect(gets.first?.contains("range=-") == true)
        #expect(gets.last?.contains("range=bytes=") == true && gets.last?.contains("range=bytes=0-") == false, "\(gets)")
    }

    @Test func anObjectThatChangedBeforeTheResumeIsNotSpliced() async throws {
        let prefix = S3TestServer.uniquePrefix()
        let direct = try server.store(prefix: prefix)
        let original = bytes(4 << 20, seed: 1)
        try await direct.put(key: "a/object.bin", bytes: original, ifAbsent: false)
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "reset_response", method: "GET")])
        let store = CountingStore(try server.store(prefix: prefix, endpoint: proxy.endpoint))
        var received = 0
        var replaced = false
        await #expect {
            try await store.get(key: "a/object.bin") { chunk in
                received += chunk.count
                if !replaced {
                    // Someone replaces the object while the first answer is still arriving.
                    replaced = true
                    // The sink is synchronous (it runs on a thread of the blocking executor): the
                    // replacing PUT runs in a task of its own, on another of its threads, and the
                    // sink waits for it, so the resumed GET finds the new object.
                    let done = DispatchSemaphore(value: 0)
                    let failure = Mutex<(any Error)?>(nil)
                    Task {
                        do { try await direct.put(key: "a/object.bin", bytes: bytes(4 << 20, seed: 2), ifAbsent: false) } catch {
                            failure.withLock { $0 = error }
                        }
                        done.signal()
                    }
                    done.wait()
                    if let error = failure.withLock({ $0 }) { throw error }
                }
            }
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .invalidObject && error.message.contains("changed while it was read")
        }
        #expect(received < original.count)
        #expect(outcomes(store, "GET")["412"] == 1, "\(store.requestOutcomes)")
        #expect(store.requestCounts == ["GET": 2], "a 412 on the resumed GET is not retried")
    }

    @Test func threeConsecutive503sExhaustTheAttemptsAndAreRetryable() async throws {
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "status_503", method: "PUT", times: 3)])
        let store = CountingStore(try server.store(prefix: S3TestServer.uniquePrefix(), endpoint: proxy.endpoint))
        await #expect {
            try await store.put(key: "a/b.json", bytes: Array("{}".utf8), ifAbsent: true)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.isRetryable && error.code == .transient && error.message.contains("SlowDown")
        }
        #expect(try await proxy.injected() == ["status_503": 3])
        #expect(store.requestCounts == ["PUT": 3])
        #expect(store.retryCounts == ["throttled": 2])
    }

    @Test func maxAttemptsIsConfigurable() async throws {
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "status_503", method: "PUT", times: 4)])
        var options = S3Options()
        options.maxAttempts = 5
        let store = CountingStore(try server.store(prefix: S3TestServer.uniquePrefix(), endpoint: proxy.endpoint, options: options))
        try await store.put(key: "a/b.json", bytes: Array("{}".utf8), ifAbsent: true)
        #expect(store.requestCounts == ["PUT": 5])
        #expect(store.retryCounts == ["throttled": 4])
    }

    @Test func a403IsNotRetried() async throws {
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "status_403", method: "PUT")])
        let store = CountingStore(try server.store(prefix: S3TestServer.uniquePrefix(), endpoint: proxy.endpoint))
        await #expect {
            try await store.put(key: "a/b.json", bytes: Array("{}".utf8), ifAbsent: true)
        } throws: { error in
            (error as? StoreError)?.code == .accessDenied && (error as? StoreError)?.isRetryable == false
        }
        #expect(store.requestCounts == ["PUT": 1])
        #expect(store.retryCounts.isEmpty)
    }

    @Test func aMultipartPartIsRetriedAlone() async throws {
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "reset_body", method: "PUT", contains: "partNumber=2")])
        var options = S3Options()
        options.multipartThreshold = 1 << 20
        options.partSize = 5 << 20
        options.partConcurrency = 1
        let prefix = S3TestServer.uniquePrefix()
        let store = CountingStore(try server.store(prefix: prefix, endpoint: proxy.endpoint, options: options))
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let content = bytes(11 << 20, seed: 3)
        try Data(content).write(to: URL(fileURLWithPath: dir + "/big.bin"))
        try await store.put(key: "h/d/files/big.bin.zst", file: dir + "/big.bin", sha256: SHA256Stream.hex(of: content))
        #expect(try await proxy.injected() == ["reset_body": 1])
        // Create, 3 parts and one part again, complete.
        #expect(store.requestCounts == ["POST": 2, "PUT": 4])
        #expect(store.retryCounts == ["connection": 1])
        let direct = try server.store(prefix: prefix)
        #expect(try await direct.getBytes(key: "h/d/files/big.bin.zst", limit: 12 << 20) == content)
        #expect(try await direct.listPendingUploads(prefix: "").isEmpty)
    }

    @Test func anIfAbsentPutWhoseAnswerWasLostIsNotAConflictWithItself() async throws {
        // The first PUT reaches the server but its answer does not reach us: the retry finds the
        // object there (412), reads it, and it is ours.
        let prefix = S3TestServer.uniquePrefix()
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "drop_response", method: "PUT")])
        let store = CountingStore(try server.store(prefix: prefix, endpoint: proxy.endpoint))
        let manifest = Array("{\"delta\":1}".utf8)
        try await store.put(key: "h/d/manifest.json", bytes: manifest, ifAbsent: true)
        #expect(try await proxy.injected() == ["drop_response": 1])
        #expect(outcomes(store, "PUT") == ["error": 1, "412": 1])
        #expect(store.requestCounts == ["PUT": 2, "GET": 1])
        // Someone else's object is still a conflict.
        await #expect {
            try await store.put(key: "h/d/manifest.json", bytes: Array("{\"other\":2}".utf8), ifAbsent: true)
        } throws: { error in
            (error as? StoreError)?.code == .alreadyExists
        }
    }
}
