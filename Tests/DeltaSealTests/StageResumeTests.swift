import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// A delta resumes from its last durable state: a store failure, a verification that could not
/// check, or a crash at any store stage never runs the writer again; only output that is gone or
/// proved bad does.
@Suite struct StageResumeTests {
    /// A harness whose writer counts its runs in a file outside its output.
    func countingHarness(_ label: String = #function) throws -> (PipelineHarness, runs: () -> Int) {
        var harness = try PipelineHarness(label)
        harness.letWritersReportOutsideTheirOutput()
        let runs = harness.root + "/runs"
        harness.config.writerCommand = [try TestSupport.script("""
            echo run >> \(runs)
            exec \(TestSupport.writer) "$@"
            """, at: harness.root + "/counting.sh")]
        // The first store failure makes the store unavailable, so `--once` stops at once.
        harness.config.outageThresholdMs = 0
        try TestSupport.dropBatch(TestSupport.batch(records: 7), named: "b.ndjson", spool: harness.config.spool)
        return (harness, { ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count })
    }

    func record(_ harness: PipelineHarness) throws -> DeltaRecord {
        let id = try #require(try harness.spool.workInProgress().first)
        return try #require(try harness.spool.load(id))
    }

    /// Rewrites the saved state, as a crash just before the next save would have left it.
    func setState(_ harness: PipelineHarness, _ state: DeltaState, removing: [String] = []) throws {
        var saved = try record(harness)
        saved.state = state
        try harness.spool.save(saved)
        for path in removing { try Files.removeTree(harness.spool.directory(of: saved.id) + "/" + path) }
    }

    func shipsWithoutWriting(_ harness: PipelineHarness, runs: () -> Int, store: (any ObjectStore)? = nil, _ note: Comment) async throws {
        let summary = try await harness.runOnce(store: store)
        #expect(summary.shipped == 1, note)
        #expect(runs() == 1, "the writer ran again: \(note)")
        let id = try #require(try harness.shippedDeltas().first)
        await #expect(try harness.verify(id).status == 0)
        #expect(try harness.manifest(id).recordCount == 7)
        #expect(try Files.list(harness.spool.failed) == [])
    }

    @Test func storeDownDuringTheUploadResumesFromThePackedDelta() async throws {
        let (harness, runs) = try countingHarness()
        defer { harness.remove() }
        let down = FaultInjectingStore(FileStore(location: harness.config.store), failPuts: 1000)
        let first = try await harness.runOnce(store: down)
        #expect(first.deferred == 1 && first.failed == 0, "\(first)")
        #expect(try record(harness).state == .packed)
        #expect(try record(harness).attempt == 1)
        try await shipsWithoutWriting(harness, runs: runs, "after the store came back")
    }

    /// A claim recorded without the batches' digests (a supervisor died before it wrote them)
    /// takes them at the next start, writes from the batch as it is, and ships it.
    @Test func aClaimWithoutBatchDigestsTakesThemAndShips() async throws {
        let (harness, runs) = try countingHarness()
        defer { harness.remove() }
        let down = FaultInjectingStore(FileStore(location: harness.config.store), failPuts: 1000)
        _ = try await harness.runOnce(store: down)
        var saved = try record(harness)
        saved.state = .claimed
        saved.batchDigests = nil
        try harness.spool.save(saved)
        for path in ["out", "packed"] { try Files.removeTree(harness.spool.directory(of: saved.id) + "/" + path) }
        let batch = try Files.readAll(harness.spool.directory(of: saved.id) + "/batches/b.ndjson")
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1, "\(summary)")
        #expect(runs() == 2)
        let id = try #require(try harness.shippedDeltas().first)
        let source = try #require(try harness.manifest(id).sources.first)
        #expect(source.bytes == Int64(batch.count))
        #expect(source.records == 7)
    }

    @Test(arguments: [DeltaState.written, .sealed, .packed, .uploading])
    func crashAtAStoreStageResumesThere(_ state: DeltaState) async throws {
        let (harness, runs) = try countingHarness()
        defer { harness.remove() }
        let down = FaultInjectingStore(FileStore(location: harness.config.store), failPuts: 1000)
        _ = try await harness.runOnce(store: down)
        // written and sealed: packed/ not yet made; uploading: objects may or may not be there.
        try setState(harness, state, removing: state == .written || state == .sealed ? ["packed"] : [])
        try await shipsWithoutWriting(harness, runs: runs, "resumed at \(state.rawValue)")
    }

    @Test func verificationThatCouldNotCheckIsRetriedWithoutWritingOrUploadingAgain() async throws {
        var (harness, runs) = try countingHarness()
        defer { harness.remove() }
        let realVerifier = harness.config.verifierPath
        harness.config.verifierPath = try TestSupport.script("echo 'store unreachable' >&2; exit 2", at: harness.root + "/cannot.sh")
        // Counts every request (a plain store counts per session, one per delta).
        let store = FaultInjectingStore(FileStore(location: harness.config.store), failPuts: 0)
        let first = try await harness.runOnce(store: store)
        #expect(first.deferred == 1, "\(first)")
        #expect(try record(harness).state == .uploaded)
        // The object and the manifest (and the outage probe's tiny PUTs, if it probed).
        let puts = store.requestCounts["PUT"] ?? 0
        #expect(puts >= 2)
        harness.config.verifierPath = realVerifier
        try await shipsWithoutWriting(harness, runs: runs, store: store, "after the verifier could check again")
        // Nothing was uploaded again.
        #expect(store.requestCounts["PUT"] == puts)
    }

    @Test func crashAfterTheManifestWasUploadedVerifiesWhatIsThere() async throws {
        var (harness, runs) = try countingHarness()
        defer { harness.remove() }
        let realVerifier = harness.config.verifierPath
        harness.config.verifierPath = try TestSupport.script("exit 2", at: harness.root + "/cannot.sh")
        _ = try await harness.runOnce()
        try setState(harness, .uploading)
        harness.config.verifierPath = realVerifier
        try await shipsWithoutWriting(harness, runs: runs, "uploading with the manifest in the store")
    }

    @Test func invalidVerdictWritesTheDeltaAgain() async throws {
        var (harness, runs) = try countingHarness()
        defer { harness.remove() }
        let realVerifier = harness.config.verifierPath
        let once = harness.root + "/said-invalid"
        // Says "invalid" the first time: the uploaded delta is proved bad, so it is written again.
        // A verifier process per delta: the script counts calls, and a fork-server start is one.
        harness.config.verifierLaunch = "process"
        harness.config.verifierPath = try TestSupport.script("""
            if [ ! -e \(once) ]; then touch \(once); exit 1; fi
            exec \(realVerifier) "$@"
            """, at: harness.root + "/invalid-once.sh")
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1, "\(summary)")
        #expect(runs() == 2)
        #expect(try harness.shippedDeltas().count == 1)
    }
}
