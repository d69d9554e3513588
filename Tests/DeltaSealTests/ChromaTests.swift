import DeltaSealCore
import DeltaSealDelta
import DeltaSealSystem
import Foundation
import Testing

/// A Python interpreter with chromadb, as bin/test installs it into the project's .venv.
enum ChromaEnvironment {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static let python: String? = {
        let candidate = ProcessInfo.processInfo.environment["DELTASEAL_CHROMA_PYTHON"] ?? root + "/.venv/bin/python3"
        // Asked once, from the suite's trait (synchronous), before any test runs.
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: candidate)
        probe.arguments = ["-c", "import chromadb"]
        probe.standardInput = FileHandle.nullDevice
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return nil }
        probe.waitUntilExit()
        return probe.terminationStatus == 0 ? candidate : nil
    }()

    static var available: Bool { python != nil }
}

/// bin/chroma-writer, a real ChromaDB program that never closes its client, as the writer.
@Suite(.enabled(if: ChromaEnvironment.available, "needs chromadb in .venv (bin/test installs it)"), .timeLimit(.minutes(5)))
struct ChromaTests {
    /// One process per delta, and the fork-server: chromadb imported once, a forked child per delta.
    @Test(arguments: ["process", "fork-server"])
    func chromaDeltasShipVerifyAndOpenWithChromaAfterRestore(_ mode: String) async throws {
        let python = try #require(ChromaEnvironment.python)
        let harness = try PipelineHarness()
        defer { harness.remove() }
        // Enough records per collection for chromadb to write its HNSW index files.
        var expected: [String: [String: Int]] = [:]
        for n in 0..<2 {
            var lines: [String] = []
            for i in 0..<(1100 + n * 100) {
                let collection = i % 3 == 0 ? "tickets" : "articles"
                lines.append(TestSupport.record("b\(n)-\(i)", collection: collection, dimension: 8))
                expected["chroma-\(n).ndjson", default: [:]][collection, default: 0] += 1
            }
            try TestSupport.dropBatch(lines.joined(separator: "\n") + "\n", named: "chroma-\(n).ndjson", spool: harness.config.spool)
        }
        let result = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
             "--host", "test-host", "--writer", "\(python) \(ChromaEnvironment.root)/bin/chroma-writer", "--writer-mode", mode,
             "--log-level", "warning"],
            cwd: harness.root)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("shipped 2, rejected 0, failed 0"))

        for id in try harness.shippedDeltas() {
            let manifest = try harness.manifest(id)
            let batch = try #require(manifest.sources.first?.name)
            // A SQLite file plus index files in one subdirectory per collection.
            let sqlite = manifest.files.filter { $0.kind == .sqlite }.map(\.path)
            #expect(sqlite == ["chroma.sqlite3"])
            let indexFiles = manifest.files.filter { $0.kind == .other }.map(\.path)
            #expect(Set(indexFiles.map { $0.split(separator: "/").count }) == [2])
            #expect(Set(indexFiles.compactMap { $0.split(separator: "/").last.map(String.init) })
                .isSuperset(of: ["data_level0.bin", "header.bin", "length.bin", "link_lists.bin"]))
            await #expect(try harness.verify(id).status == 0)

            let restored = harness.root + "/restored-" + id
            let restore = try await TestSupport.run([TestSupport.verifier, "restore", harness.deltaURL(id), "--out", restored])
            #expect(restore.status == 0, "\(restore.stdout)")
            let counts = try await TestSupport.run([python, "-c", """
                import chromadb, json, sys
                client = chromadb.PersistentClient(path=sys.argv[1])
                print(json.dumps({c.name: c.count() for c in client.list_collections()}))
                """, restored])
            #expect(counts.status == 0, "\(counts.stderr)")
            let opened = try JSONDecoder().decode([String: Int].self, from: Data(counts.stdout.utf8))
            #expect(opened == expected[batch])
        }
    }

    @Test func chromaWriterRejectsBadInputNamingTheLine() async throws {
        let python = try #require(ChromaEnvironment.python)
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try TestSupport.dropBatch(TestSupport.record("a") + "\n{\"collection\":\"docs\",\"id\":\"b\",\"embedding\":[1,\"x\"]}\n",
                                  named: "bad.ndjson", spool: harness.config.spool)
        let result = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
             "--writer", "\(python) \(ChromaEnvironment.root)/bin/chroma-writer"], cwd: harness.root)
        #expect(result.status == 1)
        let report = try String(contentsOfFile: harness.spool.rejected + "/bad.ndjson.report.json", encoding: .utf8)
        #expect(report.contains("\"line\" : 2"), "\(report)")
        #expect(report.contains("must be a non-empty array of finite numbers"))
    }
}
