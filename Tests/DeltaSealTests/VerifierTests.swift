import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
import DeltaSealZstd
import Foundation
import Testing

/// The verifier binary against deltas shipped by the real pipeline and then damaged in the store.
@Suite struct VerifierTests {
    /// Ships one delta and returns the harness and its id.
    func shipOne(_ label: String = #function) async throws -> (PipelineHarness, String) {
        let harness = try PipelineHarness(label)
        try TestSupport.dropBatch(TestSupport.batch(records: 200), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1)
        let ids = try harness.shippedDeltas()
        try #require(ids.count == 1)
        return (harness, ids[0])
    }

    /// Rewrites a shipped delta's manifest in the store, as a hostile or buggy writer of it might.
    func tamperManifest(_ harness: PipelineHarness, _ id: String, _ change: (inout Manifest) -> Void) throws {
        var manifest = try harness.manifest(id)
        change(&manifest)
        let manifestPath = harness.storeRoot + "/" + harness.config.host + "/" + id + "/manifest.json"
        try Data(StableJSON.encode(manifest)).write(to: URL(fileURLWithPath: manifestPath))
    }

    func objectPath(_ harness: PipelineHarness, _ id: String) -> String {
        harness.storeRoot + "/" + harness.config.host + "/" + id + "/files/delta.sqlite3.zst"
    }

    @Test func validDeltaIsExitZeroWithAJSONReport() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        let scratch = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(scratch) }
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = scratch
        let result = try await TestSupport.run([TestSupport.verifier, harness.deltaURL(id), "--json"], environment: environment)
        #expect(result.status == 0, "\(result.stdout)")
        let report = try StableJSON.decode(VerificationReport.self, from: Array(result.stdout.utf8))
        #expect(report.status == .valid)
        #expect(report.records == 200)
        #expect(report.files == 1)
        // It wrote only inside its own temporary directory, and removed that.
        #expect(try Files.list(scratch) == [])
        await #expect(try harness.verify(id, extra: ["--quick"]).status == 0)
    }

    @Test func reportsWithoutACheckStillDecodeAndOmitIt() async throws {
        // A report as verifiers before check commands wrote it.
        let old = """
            {"location":"file:///s/h/d","status":"valid","delta_id":"d","files":1,"records":2,"raw_bytes":3,
             "compressed_bytes":4,"problems":[],"requests":{"GET":2}}
            """
        let report = try StableJSON.decode(VerificationReport.self, from: Array(old.utf8))
        #expect(report.check == nil)
        #expect(!String(decoding: try StableJSON.encode(report), as: UTF8.self).contains("\"check\""))
        var checked = report
        checked.check = .init(command: "bin/chroma-check", verdict: .invalid, reason: "collection docs: truncated", durationMs: 12)
        let again = try StableJSON.decode(VerificationReport.self, from: StableJSON.encode(checked))
        #expect(again.check == checked.check)
        #expect(String(decoding: try StableJSON.encode(checked), as: UTF8.self).contains("\"duration_ms\" : 12"))
    }

    @Test func corruptedObjectIsInvalid() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        var bytes = try Files.readAll(objectPath(harness, id))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: objectPath(harness, id)))
        let result = try await harness.verify(id)
        #expect(result.status == 1)
        #expect(result.stdout.contains("delta.sqlite3: compressed sha256 is"), "\(result.stdout)")
    }

    @Test func truncatedObjectIsInvalid() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        let bytes = try Files.readAll(objectPath(harness, id))
        try Data(bytes.prefix(bytes.count / 2)).write(to: URL(fileURLWithPath: objectPath(harness, id)))
        let result = try await harness.verify(id)
        #expect(result.status == 1)
        #expect(result.stdout.contains("(truncated)"), "\(result.stdout)")
    }

    @Test func missingObjectIsInvalid() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        try Files.removeTree(objectPath(harness, id))
        let result = try await harness.verify(id)
        #expect(result.status == 1)
        #expect(result.stdout.contains("object files/delta.sqlite3.zst is missing"), "\(result.stdout)")
    }

    @Test func manifestPathWithDotDotIsInvalid() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        try tamperManifest(harness, id) { $0.files[0].path = "../../escape.sqlite3" }
        let result = try await harness.verify(id)
        #expect(result.status == 1)
        #expect(result.stdout.contains("contains '..'"), "\(result.stdout)")
        #expect(!Files.exists(harness.storeRoot + "/" + harness.config.host + "/escape.sqlite3"))
    }

    @Test func decompressionBombStopsAtTheManifestSize() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        // 64 MiB of zeros compress to a few KiB; the manifest still promises the real raw size.
        let compressor = try ZstdCompressor(level: 3)
        var bomb: [UInt8] = []
        let zeros = [UInt8](repeating: 0, count: 1 << 20)
        for _ in 0..<64 {
            try zeros.withUnsafeBytes { try compressor.compress($0) { bomb.append(contentsOf: $0) } }
        }
        try compressor.finish { bomb.append(contentsOf: $0) }
        try Data(bomb).write(to: URL(fileURLWithPath: objectPath(harness, id)))
        try tamperManifest(harness, id) {
            $0.files[0].compressedSize = Int64(bomb.count)
            $0.files[0].compressedSHA256 = SHA256Stream.hex(of: bomb)
        }
        let result = try await harness.verify(id)
        #expect(result.status == 1)
        // Stopped before a byte is decompressed: the frame does not promise the manifest's size.
        #expect(result.stdout.contains("the zstd frame header records no content size"), "\(result.stdout)")
        // And one that does promise it, honestly, is held to the manifest's size.
        let honest = try ZstdCompressor(level: 3, pledgedSize: 64 << 20)
        var pledged: [UInt8] = []
        for _ in 0..<64 {
            try zeros.withUnsafeBytes { try honest.compress($0) { pledged.append(contentsOf: $0) } }
        }
        try honest.finish { pledged.append(contentsOf: $0) }
        try Data(pledged).write(to: URL(fileURLWithPath: objectPath(harness, id)))
        try tamperManifest(harness, id) {
            $0.files[0].compressedSize = Int64(pledged.count)
            $0.files[0].compressedSHA256 = SHA256Stream.hex(of: pledged)
        }
        let second = try await harness.verify(id)
        #expect(second.status == 1)
        #expect(second.stdout.contains("the zstd frame header says 67108864 bytes"), "\(second.stdout)")
    }

    @Test func rowCountsThatDisagreeAreInvalid() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        try tamperManifest(harness, id) { $0.files[0].sqlite?.rowCounts["records"] = 199 }
        let result = try await harness.verify(id)
        #expect(result.status == 1)
        #expect(result.stdout.contains("records: 200 rows, manifest says 199"), "\(result.stdout)")
    }

    @Test func missingDeltaCannotBeChecked() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let result = try await TestSupport.run([TestSupport.verifier, "file://" + dir + "/host/20261125T140509123Z-3fa9c01b7e"])
        #expect(result.status == 2)
        #expect(result.stdout.contains("delta not found"))
        let garbage = try await TestSupport.run([TestSupport.verifier, "ftp://nowhere/x"])
        #expect(garbage.status == 2)
        #expect(garbage.stdout.contains("unsupported scheme"))
    }

    @Test func unreadableManifestIsInvalid() async throws {
        let (harness, id) = try await shipOne()
        defer { harness.remove() }
        let manifestPath = harness.storeRoot + "/" + harness.config.host + "/" + id + "/manifest.json"
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: manifestPath))
        let result = try await harness.verify(id)
        // What the store holds is the delta's fault: invalid, not "could not check".
        #expect(result.status == 1)
        #expect(result.stdout.contains("unreadable manifest"))
        // A manifest of a newer format is this verifier's limit: could not check.
        try Data("{\"format_version\": 99}".utf8).write(to: URL(fileURLWithPath: manifestPath))
        let newer = try await harness.verify(id)
        #expect(newer.status == 2)
        #expect(newer.stdout.contains("upgrade the verifier"), "\(newer.stdout)")
    }
}
