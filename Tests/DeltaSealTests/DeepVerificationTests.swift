import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// The check command (verifier --check-command, verify.check_command): bin/chroma-check, real
/// chromadb, real processes in the writer sandbox, against good deltas, deltas whose HNSW index
/// was damaged before the seal (so every checksum matches the damage), and hostile checks.
@Suite(.enabled(if: ChromaEnvironment.available, "needs chromadb in .venv (bin/test installs it)"), .timeLimit(.minutes(10)))
struct DeepVerificationTests {
    /// chromadb's default `hnsw:sync_threshold`: past it, the HNSW files hold the records and
    /// chromadb purges them from its SQLite log; below it, it rebuilds the index from that log.
    static let syncThreshold = 1000
    static let large = 6000

    var python: String { ChromaEnvironment.python ?? "python3" }
    var chromaWriter: [String] { [python, ChromaEnvironment.root + "/bin/chroma-writer"] }
    var chromaCheck: String { "\(python) \(ChromaEnvironment.root)/bin/chroma-check" }

    /// `count` records in one collection, each with an embedding of its own (a sample query
    /// must find the record itself, not one of many equal vectors).
    static func batch(_ count: Int, collection: String = "docs", seed: UInt64 = 7) -> String {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { i in
            let embedding = (0..<8).map { _ in String(format: "%.6f", random.nextUnit()) }.joined(separator: ",")
            return "{\"collection\":\"\(collection)\",\"id\":\"r\(i)\",\"embedding\":[\(embedding)],\"document\":\"d\(i)\"}"
        }.joined(separator: "\n") + "\n"
    }

    /// How a damaging writer spoils the index it wrote.
    enum Damage: String { case truncate, zero }

    /// A writer that runs bin/chroma-writer and then truncates every collection's
    /// `data_level0.bin` to half (or overwrites it with zeros, keeping its size), before the seal:
    /// the delta ships with checksums of the damage.
    func damagingWriter(_ harness: PipelineHarness, _ damage: Damage = .truncate) throws -> [String] {
        [try TestSupport.script("""
            "\(python)" "\(ChromaEnvironment.root)/bin/chroma-writer" "$@" || exit $?
            out=""; previous=""
            for argument in "$@"; do [ "$previous" = "--out" ] && out="$argument"; previous="$argument"; done
            for index in "$out"/*/data_level0.bin; do
                size=$(stat -c %s "$index")
                case \(damage.rawValue) in
                truncate) truncate -s $(( size / 2 )) "$index" || exit 3 ;;
                zero) head -c "$size" /dev/zero | dd of="$index" conv=notrunc status=none || exit 3 ;;
                esac
            done
            """, at: harness.root + "/damaging-writer")]
    }

    /// Ships the batches (one delta each) with `writer`; returns the delta ids by batch name.
    func ship(_ batches: [String: String], writer: [String], _ harness: inout PipelineHarness) async throws -> [String: String] {
        harness.config.writerCommand = writer
        for (name, text) in batches { try TestSupport.dropBatch(text, named: name, spool: harness.config.spool) }
        let summary = try await harness.runOnce()
        #expect(summary.shipped == batches.count)
        var ids: [String: String] = [:]
        for id in try harness.shippedDeltas() { ids[try harness.manifest(id).sources[0].name] = id }
        try #require(ids.count == batches.count)
        return ids
    }

    /// `verifier URL --json` with the check command; the exit status and the report.
    /// The verifier's JSON report; when it printed none, the failure says what it did print.
    static func report(_ result: TestSupport.Result, sourceLocation: SourceLocation = #_sourceLocation) throws -> VerificationReport {
        try #require(try? StableJSON.decode(VerificationReport.self, from: Array(result.stdout.utf8)),
                     "the verifier printed no report: exit \(result.status), stdout \(result.stdout.prefix(1000)), stderr \(result.stderr.suffix(3000))",
                     sourceLocation: sourceLocation)
    }

    func verify(_ harness: PipelineHarness, _ id: String, check: String?, extra: [String] = []) async throws -> (Int32, VerificationReport) {
        let result = try await harness.verify(id, extra: ["--json"] + (check.map { ["--check-command", $0] } ?? []) + extra)
        return (result.status, try Self.report(result))
    }

    @Test func goodChromaDeltasPassSmallAndLarge() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let ids = try await ship(["small.ndjson": Self.batch(5), "large.ndjson": Self.batch(Self.large)], writer: chromaWriter, &harness)

        // The large delta really keeps its records in the HNSW files, not in chromadb's log.
        let large = try harness.manifest(try #require(ids["large.ndjson"]))
        let sqlite = try #require(large.files.first { $0.path == "chroma.sqlite3" }?.sqlite)
        #expect(sqlite.rowCounts["embeddings"] == Self.large)
        #expect((sqlite.rowCounts["embeddings_queue"] ?? 0) < Self.syncThreshold, "\(sqlite.rowCounts)")
        let index = try #require(large.files.first { $0.path.hasSuffix("/data_level0.bin") })
        #expect(index.rawSize >= Int64(Self.large * 8 * 4))

        for (batch, id) in ids {
            let (status, report) = try await verify(harness, id, check: chromaCheck)
            #expect(status == 0, "\(batch): \(report.problems)")
            let check = try #require(report.check)
            #expect(check.verdict == .valid)
            #expect(check.reason?.hasPrefix("ok: 1 collections") == true, "\(check)")
            #expect(check.command == chromaCheck)
            #expect(check.durationMs > 0)
        }
    }

    @Test func aLargeDeltaWithATruncatedIndexIsInvalidNamingTheCollection() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let ids = try await ship(["large.ndjson": Self.batch(Self.large, collection: "tickets")], writer: try damagingWriter(harness), &harness)
        let id = try #require(ids["large.ndjson"])
        // Checksums and integrity_check prove only that the damage arrived as sealed.
        let (plain, plainReport) = try await verify(harness, id, check: nil)
        #expect(plain == 0, "\(plainReport.problems)")
        #expect(plainReport.check == nil)

        let (status, report) = try await verify(harness, id, check: chromaCheck)
        #expect(status == 1)
        #expect(report.status == .invalid)
        #expect(report.check?.verdict == .invalid)
        #expect(report.check?.reason?.contains("collection tickets") == true, "\(String(describing: report.check))")
        #expect(report.problems.contains { $0.reason.contains("collection tickets") && $0.reason.contains("data_level0.bin") }, "\(report.problems)")
    }

    @Test func aLargeDeltaWithAZeroedIndexIsInvalid() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let ids = try await ship(["large.ndjson": Self.batch(Self.large)], writer: try damagingWriter(harness, .zero), &harness)
        let id = try #require(ids["large.ndjson"])
        await #expect(try verify(harness, id, check: nil).0 == 0)
        // The sizes still agree with the header: what catches it is chromadb failing to answer.
        let (status, report) = try await verify(harness, id, check: chromaCheck)
        #expect(status == 1)
        #expect(report.check?.reason?.hasPrefix("collection docs: ") == true, "\(String(describing: report.check))")
    }

    @Test func theSupervisorWithACheckCommandDoesNotShipADamagedDelta() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.writerCommand = try damagingWriter(harness)
        harness.config.verifyCheckCommand = chromaCheck
        harness.config.retry = RetryPolicy(maxAttempts: 2, baseDelay: 0.05, maxDelay: 0.1)
        try TestSupport.dropBatch(Self.batch(Self.large, collection: "tickets"), named: "large.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 0)
        #expect(summary.failed == 1)
        #expect(try harness.shippedDeltas().isEmpty)
        let failed = try Files.list(harness.spool.failed)
        try #require(failed.count == 1)
        let report = try String(contentsOfFile: harness.spool.failed + "/" + failed[0] + "/report.json", encoding: .utf8)
        #expect(report.contains("collection tickets"), "\(report)")
        #expect(report.contains("\"attempts\" : 2"), "\(report)")
    }

    @Test func theSameDamageToASmallDeltaIsHarmlessAndPasses() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let ids = try await ship(["small.ndjson": Self.batch(5)], writer: try damagingWriter(harness), &harness)
        let id = try #require(ids["small.ndjson"])
        // The damage is there (the truncated file shipped), and chromadb rebuilds from its log.
        let index = try #require(try harness.manifest(id).files.first { $0.path.hasSuffix("/data_level0.bin") })
        #expect(index.rawSize > 0)
        let (status, report) = try await verify(harness, id, check: chromaCheck)
        #expect(status == 0, "\(report.problems)")
        #expect(report.check?.verdict == .valid)
    }

    /// Ships a delta of the built-in writer: the checks below do not need chromadb's content.
    func shipPlain(_ harness: inout PipelineHarness) async throws -> String {
        try TestSupport.dropBatch(TestSupport.batch(records: 20), named: "b.ndjson", spool: harness.config.spool)
        #expect(try await harness.runOnce().shipped == 1)
        return try #require(try harness.shippedDeltas().first)
    }

    @Test func aHangingCheckIsKilledAtItsTimeoutWithItsProcessGroup() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let id = try await shipPlain(&harness)
        let hang = try TestSupport.script("""
            sleep 300 &
            echo "pids $$ $!"
            wait
            """, at: harness.root + "/hanging-check")
        let started = WallClock.monotonicNanoseconds()
        let (status, report) = try await verify(harness, id, check: hang, extra: ["--check-timeout", "1"])
        let seconds = Double(WallClock.monotonicNanoseconds() - started) / 1e9
        #expect(status == 2)
        #expect(report.status == .couldNotCheck)
        let check = try #require(report.check)
        #expect(check.verdict == .couldNotCheck)
        let reason = try #require(check.reason)
        #expect(reason.contains("timeout of 1 s"), "\(reason)")
        #expect(seconds < 30)
        // The script and its grandchild are both gone: the group was killed, not just the child.
        let pids = reason.components(separatedBy: "pids ").last?.split(separator: " ").compactMap { Int32($0) } ?? []
        #expect(pids.count == 2, "\(reason)")
        for pid in pids { #expect(TestSupport.processIsGone(pid), "pid \(pid) survived its check's timeout") }
    }

    @Test func aCheckThatWritesIntoTheDeltaIsRefusedAndTheFilesStayAsShipped() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let id = try await shipPlain(&harness)
        let writer = try TestSupport.script("""
            exec python3 - "$@" <<'PY'
            import errno, os, sys
            delta = sys.argv[sys.argv.index("--delta") + 1]
            refused, wrote = [], []
            def attempt(what, action):
                try:
                    action()
                    wrote.append(what)
                except OSError as error:
                    refused.append(f"{what}={errno.errorcode.get(error.errno, error.errno)}")
            for root, _, names in os.walk(delta):
                for name in names:
                    path = os.path.join(root, name)
                    attempt("append", lambda: open(path, "ab").write(b"x"))
                    attempt("truncate", lambda: os.truncate(path, 0))
                    attempt("chmod", lambda: os.chmod(path, 0o666))
                    attempt("unlink", lambda: os.unlink(path))
            attempt("create", lambda: open(os.path.join(delta, "planted"), "wb").close())
            attempt("tmp", lambda: open(os.path.join(os.environ["TMPDIR"], "scratch"), "wb").close())
            print("wrote: " + ",".join(wrote) + " refused: " + ",".join(refused))
            sys.exit(0 if wrote == ["tmp"] else 1)
            PY
            """, at: harness.root + "/writing-check")
        let restored = harness.root + "/restored"
        let result = try await TestSupport.run([TestSupport.verifier, "restore", harness.deltaURL(id), "--out", restored, "--json",
                                          "--check-command", writer])
        let report = try Self.report(result)
        let reason = try #require(report.check?.reason)
        #expect(result.status == 0, "\(reason) \(report.problems)")
        #expect(reason.hasPrefix("wrote: tmp refused: "), "\(reason)")
        #expect(reason.contains("append=EACCES") || reason.contains("append=EPERM"), "\(reason)")
        #expect(reason.contains("create=EACCES") || reason.contains("create=EPERM"), "\(reason)")
        // Restored after the check, from the very files it ran on: byte for byte as shipped.
        let manifest = try harness.manifest(id)
        #expect(TestSupport.files(under: restored) == manifest.files.map(\.path).sorted())
        for entry in manifest.files {
            #expect(SHA256Stream.hex(of: try Files.readAll(restored + "/" + entry.path)) == entry.rawSHA256)
        }
    }
}
