import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Synchronization
import Testing

/// One suite, every store: the filesystem store, the memory store and the S3 store against
/// SeaweedFS.
@Suite struct StoreConformanceTests {
    enum Kind: String, CaseIterable, Sendable { case file, memory, s3 }

    /// The kinds this run can test: S3 whenever bin/test started the server.
    static let kinds: [Kind] = S3TestServer.available ? [.file, .memory, .s3] : [.file, .memory]

    /// A fresh, empty store of `kind`, and a cleanup.
    func makeStore(_ kind: Kind) throws -> (any ObjectStore, () -> Void) {
        switch kind {
        case .file:
            let dir = try TestSupport.temporaryDirectory("store")
            return (FileStore(location: StoreURL(scheme: .file, root: dir, prefix: "")), { try? Files.removeTree(dir) })
        case .memory:
            return (MemoryStore(), {})
        case .s3:
            let server = try #require(S3TestServer.current)
            // Every object from 1 MiB goes up in parts of 5 MiB, the least S3 (and SeaweedFS) takes:
            // the suite's 3 MiB object in one part, its 5 MiB + 17 bytes in two.
            var options = S3Options()
            options.multipartThreshold = 1 << 20
            options.partSize = 5 << 20
            let store = try server.store(prefix: S3TestServer.uniquePrefix(), options: options)
            // Nothing to clean: the prefix is this test's own, on the run's throwaway server.
            return (store, {})
        }
    }

    func randomFile(bytes: Int, in dir: String) throws -> (path: String, sha256: String) {
        var data = [UInt8](repeating: 0, count: bytes)
        for i in data.indices { data[i] = UInt8.random(in: 0 ... 255) }
        let path = dir + "/object-\(UInt32.random(in: 0 ... .max)).bin"
        try Data(data).write(to: URL(fileURLWithPath: path))
        return (path, SHA256Stream.hex(of: data))
    }

    func sha(of store: any ObjectStore, _ key: String) async throws -> (String, Int64) {
        let hash = Hashed()
        try await store.get(key: key) { hash.stream.update($0) }
        return (hash.stream.hex(), hash.stream.count)
    }

    @Test(arguments: kinds) func streamsAFileUpAndDownWithItsChecksum(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let file = try randomFile(bytes: 3 << 20 + 17, in: dir)
        try await store.put(key: "h/d/files/data.bin.zst", file: file.path, sha256: file.sha256)
        let (digest, count) = try await sha(of: store, "h/d/files/data.bin.zst")
        #expect(digest == file.sha256)
        #expect(count == 3 << 20 + 17)
        #expect(try await store.head(key: "h/d/files/data.bin.zst")?.size == 3 << 20 + 17)
    }

    @Test(arguments: kinds) func streamsAnObjectOfSeveralParts(_ kind: Kind) async throws {
        let (plain, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let store = CountingStore(plain)
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let size = 5 << 20 + 17
        var generator = SystemRandomNumberGenerator()
        var data = [UInt8](repeating: 0, count: size)
        data.withUnsafeMutableBytes { raw in
            for offset in stride(from: 0, to: size - 7, by: 8) { raw.storeBytes(of: generator.next(), toByteOffset: offset, as: UInt64.self) }
        }
        let path = dir + "/parts.bin"
        try Data(data).write(to: URL(fileURLWithPath: path))
        try await store.put(key: "h/d/files/parts.bin.zst", file: path, sha256: SHA256Stream.hex(of: data))
        let (digest, count) = try await sha(of: store, "h/d/files/parts.bin.zst")
        #expect(digest == SHA256Stream.hex(of: data))
        #expect(count == Int64(size))
        if kind == .s3 {
            // Create, two parts, complete: the multipart path, not one PUT.
            #expect(store.requestCounts["POST"] == 2 && store.requestCounts["PUT"] == 2, "\(store.requestCounts)")
        }
    }

    @Test(arguments: kinds) func wrongChecksumIsRefusedAndNothingIsStored(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let file = try randomFile(bytes: 1000, in: dir)
        let wrong = String(file.sha256.reversed())
        await #expect {
            try await store.put(key: "k.zst", file: file.path, sha256: wrong)
        } throws: { error in
            (error as? StoreError)?.code == .checksumMismatch && (error as? StoreError)?.isRetryable == true
        }
        #expect(try await store.head(key: "k.zst") == nil)
    }

    @Test(arguments: kinds) func createIfAbsentNeverOverwrites(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        try await store.put(key: "d/manifest.json", bytes: Array("first".utf8), ifAbsent: true)
        await #expect {
            try await store.put(key: "d/manifest.json", bytes: Array("second".utf8), ifAbsent: true)
        } throws: { error in
            (error as? StoreError)?.code == .alreadyExists && (error as? StoreError)?.isRetryable == false
        }
        #expect(try await store.getBytes(key: "d/manifest.json") == Array("first".utf8))
        try await store.put(key: "d/manifest.json", bytes: Array("third".utf8), ifAbsent: false)
        #expect(try await store.getBytes(key: "d/manifest.json") == Array("third".utf8))
    }

    @Test(arguments: kinds) func aReadWhoseTaskIsCancelledStopsWithCancellationError(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let size = 24 << 20
        let file = try randomFile(bytes: size, in: dir)
        try await store.put(key: "h/d/files/big.bin.zst", file: file.path, sha256: file.sha256)
        // The sink cancels its own task at the first chunk: the read stops there (the memory
        // store hands over the object in one chunk, and then throws all the same).
        let reader = Reader()
        let (start, go) = AsyncStream<Void>.makeStream()
        let task = Task {
            for await _ in start { break }  // until the sink can reach the task
            try await store.get(key: "h/d/files/big.bin.zst") { chunk in
                reader.received += chunk.count
                reader.task.withLock { $0 }?.cancel()
            }
        }
        reader.task.withLock { $0 = task }
        go.yield()
        go.finish()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(reader.received > 0)
        if kind != .memory { #expect(reader.received < size, "\(reader.received) of \(size) bytes read after the cancellation") }
        // The store itself is unharmed: the object reads whole.
        let (digest, count) = try await sha(of: store, "h/d/files/big.bin.zst")
        #expect(digest == file.sha256 && count == Int64(size))
    }

    @Test(arguments: kinds) func missingObjectsAreNotFound(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        await #expect {
            try await store.get(key: "nope/missing.zst") { _ in }
        } throws: { error in
            (error as? StoreError)?.code == .notFound
        }
        #expect(try await store.head(key: "nope/missing.zst") == nil)
        try await store.delete(keys: ["nope/missing.zst"])
    }

    @Test(arguments: kinds) func deletesManyAndListsByPrefix(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        for key in ["p/a", "p/b", "p/sub/c", "q/d"] {
            try await store.put(key: key, bytes: Array(key.utf8), ifAbsent: false)
        }
        #expect(try await store.list(prefix: "p/").map(\.key).sorted() == ["p/a", "p/b", "p/sub/c"])
        #expect(try await store.list(prefix: "p/").first { $0.key == "p/sub/c" }?.size == 7)
        try await store.delete(keys: ["p/a", "p/sub/c", "p/missing"])
        #expect(try await store.list(prefix: "").map(\.key).sorted() == ["p/b", "q/d"])
    }

    @Test(arguments: kinds) func keysWithUnusualCharactersRoundTrip(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        let key = "host-1/dir with space/ü+é=&~(1).bin.zst"
        try await store.put(key: key, bytes: [1, 2, 3], ifAbsent: true)
        #expect(try await store.getBytes(key: key) == [1, 2, 3])
        #expect(try await store.list(prefix: "host-1/").map(\.key) == [key])
    }

    @Test(arguments: kinds) func keysThatEscapeAreRefused(_ kind: Kind) async throws {
        let (store, cleanup) = try makeStore(kind)
        defer { cleanup() }
        await #expect {
            try await store.put(key: "../escape", bytes: [1], ifAbsent: false)
        } throws: { error in
            (error as? StoreError)?.code == .invalidRequest
        }
    }
}

/// A hash the sink of a GET updates.
private final class Hashed {
    var stream = SHA256Stream()
}

/// What the cancelling sink shares with its test.
private final class Reader: @unchecked Sendable {
    // Safe: `received` is touched only by the sink, one chunk after another, and read after the
    // read's task ended; `task` is behind its lock.
    var received = 0
    let task = Mutex<Task<Void, any Error>?>(nil)
}
