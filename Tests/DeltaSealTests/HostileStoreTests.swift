import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
import DeltaSealZstd
import Foundation
import Testing

/// The verifier against a store an attacker (or a broken copy) prepared: links, FIFOs,
/// directories, forged sizes, sidecars, hostile SQLite schemas. Each case asserts the exit code,
/// the reason, that nothing hangs (every run is under `timeout`), and that the verifier's
/// temporary directory is gone afterwards.
@Suite struct HostileStoreTests {
    /// A shipped delta, the path of its one object, and a private TMPDIR for the verifier.
    struct Shipped {
        var harness: PipelineHarness
        var id: String
        var tmp: String
        var deltaDirectory: String { harness.storeRoot + "/" + harness.config.host + "/" + id }
        var object: String { deltaDirectory + "/files/delta.sqlite3.zst" }
        var manifestPath: String { deltaDirectory + "/manifest.json" }

        func remove() {
            harness.remove()
            try? Files.removeTree(tmp)
        }

        /// Runs the verifier (at most `seconds`, else `timeout` kills it: exit 124).
        func verify(_ extra: [String] = [], seconds: Int = 60) async throws -> TestSupport.Result {
            var environment = ProcessInfo.processInfo.environment
            environment["TMPDIR"] = tmp
            let result = try await TestSupport.run(["/usr/bin/timeout", "\(seconds)", TestSupport.verifier, harness.deltaURL(id)] + extra,
                                             environment: environment)
            #expect(result.status != 124, "the verifier hung")
            #expect((try? Files.list(tmp)) == [], "the verifier left its temporary directory behind")
            return result
        }

        func tamperManifest(_ change: (inout Manifest) -> Void) throws {
            var manifest = try harness.manifest(id)
            change(&manifest)
            try Data(StableJSON.encode(manifest)).write(to: URL(fileURLWithPath: manifestPath))
        }

        /// Replaces the object with `raw` compressed, and the manifest's entry to match it, so
        /// every checksum holds and only the content is hostile.
        func replaceObject(raw: [UInt8], sqlite: Manifest.SQLiteInfo?) throws {
            let compressor = try ZstdCompressor(level: 3, pledgedSize: Int64(raw.count))
            var packed: [UInt8] = []
            try raw.withUnsafeBytes { try compressor.compress($0) { packed.append(contentsOf: $0) } }
            try compressor.finish { packed.append(contentsOf: $0) }
            try Data(packed).write(to: URL(fileURLWithPath: object))
            try tamperManifest {
                $0.files[0].rawSize = Int64(raw.count)
                $0.files[0].rawSHA256 = SHA256Stream.hex(of: raw)
                $0.files[0].compressedSize = Int64(packed.count)
                $0.files[0].compressedSHA256 = SHA256Stream.hex(of: packed)
                $0.files[0].sqlite = sqlite
            }
        }
    }

    /// Lists the delta's first file again under `path` (an ordinary file, its object key derived).
    static func appendCopy(of manifest: inout Manifest, as path: String) {
        var copy = manifest.files[0]
        copy.path = path
        copy.objectKey = ObjectLayout.objectKey(for: RelativePath(path)!)
        copy.kind = .other
        copy.sqlite = nil
        manifest.files.append(copy)
    }

    func shipOne(_ label: String = #function) async throws -> Shipped {
        let harness = try PipelineHarness(label)
        try TestSupport.dropBatch(TestSupport.batch(records: 50), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        try #require(summary.shipped == 1)
        let id = try #require(try harness.shippedDeltas().first)
        return Shipped(harness: harness, id: id, tmp: try TestSupport.temporaryDirectory(label + "tmp"))
    }

    @Test func manifestThatIsAFIFOIsInvalidAndDoesNotBlock() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        try Files.removeTree(shipped.manifestPath)
        #expect(mkfifo(shipped.manifestPath, 0o644) == 0)
        let result = try await shipped.verify()
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("fifo"), "\(result.stdout)")
    }

    @Test(arguments: ["fifo", "symlink", "directory"])
    func objectThatIsNotARegularFileIsInvalid(_ kind: String) async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        let copy = shipped.tmp + "-outside.zst"
        try FileManager.default.copyItem(atPath: shipped.object, toPath: copy)
        defer { try? Files.removeTree(copy) }
        try Files.removeTree(shipped.object)
        switch kind {
        case "fifo": #expect(mkfifo(shipped.object, 0o644) == 0)
        case "symlink": #expect(symlink(copy, shipped.object) == 0)  // the very bytes, but outside the store
        default: try Files.makeDirectories(shipped.object)
        }
        let result = try await shipped.verify()
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("not an object") || result.stdout.contains(kind), "\(result.stdout)")
    }

    @Test func directoryOnTheWayToAnObjectThatIsASymlinkIsInvalid() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        let outside = shipped.tmp + "-files"
        try FileManager.default.moveItem(atPath: shipped.deltaDirectory + "/files", toPath: outside)
        defer { try? Files.removeTree(outside) }
        #expect(symlink(outside, shipped.deltaDirectory + "/files") == 0)
        let result = try await shipped.verify()
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("symlink"), "\(result.stdout)")
    }

    @Test func pathListedAsFileAndDirectoryIsInvalid() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        try shipped.tamperManifest { Self.appendCopy(of: &$0, as: "delta.sqlite3/y") }
        let result = try await shipped.verify()
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("listed as a file and as a directory"), "\(result.stdout)")
    }

    @Test(arguments: SQLiteSidecar.suffixes)
    func sidecarOfAListedDatabaseIsInvalid(_ suffix: String) async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        try shipped.tamperManifest { Self.appendCopy(of: &$0, as: "delta.sqlite3" + suffix) }
        let result = try await shipped.verify()
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("\(suffix) sidecar"), "\(result.stdout)")
    }

    @Test func forgedRawSizeStopsAtTheFrameHeaderBeforeAnyByteIsWritten() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        // Honest compressed checksums, a raw size of 1 TB: the frame header says otherwise.
        try shipped.tamperManifest { $0.files[0].rawSize = 1 << 40 }
        let result = try await shipped.verify(seconds: 20)
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("the zstd frame header says"), "\(result.stdout)")
        #expect(result.stdout.contains("raw_size says 1099511627776"), "\(result.stdout)")
    }

    @Test func totalsThatOverflowAreInvalidNotACrash() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        try shipped.tamperManifest { manifest in
            manifest.sources.append(manifest.sources[0])
            manifest.sources[0].records = .max
            Self.appendCopy(of: &manifest, as: "second.bin")
            manifest.files[0].rawSize = .max
            manifest.files[1].rawSize = .max
        }
        let result = try await shipped.verify()
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("do not add up in 64 bits"), "\(result.stdout)")
    }

    @Test func objectWithoutAFrameHeaderIsInvalid() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        let junk = Array("this is not zstd at all, just text".utf8)
        try Data(junk).write(to: URL(fileURLWithPath: shipped.object))
        try shipped.tamperManifest {
            $0.files[0].compressedSize = Int64(junk.count)
            $0.files[0].compressedSHA256 = SHA256Stream.hex(of: junk)
        }
        let result = try await shipped.verify()
        #expect(result.status == 1)
        #expect(result.stdout.contains("does not start with a zstd frame header"), "\(result.stdout)")
    }

    @Test func dataAfterTheFrameIsInvalid() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        var bytes = try Files.readAll(shipped.object)
        bytes += bytes.prefix(64)
        try Data(bytes).write(to: URL(fileURLWithPath: shipped.object))
        try shipped.tamperManifest {
            $0.files[0].compressedSize = Int64(bytes.count)
            $0.files[0].compressedSHA256 = SHA256Stream.hex(of: bytes)
        }
        let result = try await shipped.verify()
        #expect(result.status == 1)
        #expect(result.stdout.contains("data after the end of the frame"), "\(result.stdout)")
    }

    /// A 12 KB database whose index is an expression over `zeroblob()` of each row's value,
    /// written out (`hex`): `integrity_check` must compute it for every row.
    static func zeroblobDatabase(at path: String, rows: Int, blobBytes: Int) async throws -> Manifest.SQLiteInfo {
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("create table t(x)")
            db.executemany("insert into t values (?)", [(int(sys.argv[3]),)] * int(sys.argv[2]))
            db.execute("create index i on t(x + 0)")
            db.commit()
            db.execute("pragma writable_schema = on")
            db.execute("update sqlite_schema set sql = 'CREATE INDEX i ON t(length(hex(zeroblob(x))))' where name = 'i'")
            db.commit()
            db.close()
            """
        let result = try await TestSupport.run(["/usr/bin/env", "python3", "-c", script, path, "\(rows)", "\(blobBytes)"])
        try #require(result.status == 0, "\(result.stderr)")
        let pages = Int(try Files.size(path)) / 4096
        return Manifest.SQLiteInfo(pageSize: 4096, pageCount: pages, rowCounts: ["t": rows])
    }

    @Test func hostileSchemaEndsAsInvalidWithinItsBudgets() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        let db = shipped.tmp + "-hostile.sqlite3"
        defer { try? Files.removeTree(db) }
        // A value past the length budget.
        let info = try await Self.zeroblobDatabase(at: db, rows: 200, blobBytes: 500_000_000)
        try shipped.replaceObject(raw: try Files.readAll(db), sqlite: info)
        let tooBig = try await shipped.verify(seconds: 60)
        #expect(tooBig.status == 1, "\(tooBig.stdout)")
        #expect(tooBig.stdout.contains("budget"), "\(tooBig.stdout)")
        // Values inside it, many of them: the time budget ends it.
        let slowInfo = try await Self.zeroblobDatabase(at: db + "2", rows: 2000, blobBytes: 20_000_000)
        defer { try? Files.removeTree(db + "2") }
        try shipped.replaceObject(raw: try Files.readAll(db + "2"), sqlite: slowInfo)
        let started = ContinuousClock.now
        let slow = try await shipped.verify(["--time-budget", "2"], seconds: 60)
        #expect(slow.status == 1, "\(slow.stdout)")
        #expect(slow.stdout.contains("budget"), "\(slow.stdout)")
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func sigtermRemovesTheTemporaryDirectory() async throws {
        let shipped = try await shipOne()
        defer { shipped.remove() }
        let db = shipped.tmp + "-slow.sqlite3"
        defer { try? Files.removeTree(db) }
        let info = try await Self.zeroblobDatabase(at: db, rows: 200, blobBytes: 100_000_000)
        try shipped.replaceObject(raw: try Files.readAll(db), sqlite: info)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestSupport.verifier)
        process.arguments = [shipped.harness.deltaURL(shipped.id), "--time-budget", "600", "--max-heap-bytes", "\(8 << 30)"]
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = shipped.tmp
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Its workspace appears, then the check runs for long.
        try await waitUntil(timeout: .seconds(30)) { ((try? Files.list(shipped.tmp)) ?? []).contains { $0.hasPrefix("deltaseal-verify-") } }
        try await waitUntil(timeout: .seconds(30)) {
            TestSupport.files(under: shipped.tmp).contains { $0.hasSuffix("delta.sqlite3") }
        }
        process.terminate()
        #expect(await TestSupport.exitStatus(of: process) == 128 + SIGTERM)
        #expect(try Files.list(shipped.tmp) == [])
    }

    @Test func storeTextIsSanitizedBeforeItReachesATerminal() {
        let hostile = "denied\n\u{1B}[2J\u{1B}[31mvalid: forged line\r\u{202E}txt"
        let error = StoreError(.accessDenied, key: "a\nb", hostile)
        let text = error.description
        #expect(!text.contains("\n") && !text.contains("\u{1B}") && !text.contains("\r") && !text.contains("\u{202E}"))
        #expect(text.contains("\\n") && text.contains("\\u{1b}[2J") && text.contains("\\u{202e}"))
        #expect(DisplayText.sanitize(String(repeating: "x", count: 5000)).count <= DisplayText.defaultLimit + 1)
        // Idempotent: passing twice changes nothing more.
        #expect(DisplayText.sanitize(DisplayText.sanitize(hostile)) == DisplayText.sanitize(hostile))
    }
}
