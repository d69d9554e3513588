import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Testing

/// Garbage collection through the store protocol alone: what it does to pending uploads holds for
/// any store that has them (S3's multipart uploads; the memory store's, here).
@Suite struct GarbageCollectorTests {
    @Test func abortsStalePendingUploadsOfThisHostOnly() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let spool = Spool(root: dir + "/spool")
        try spool.prepare()
        let store = MemoryStore()
        let stale = store.beginPendingUpload(key: "test-host/20261125T140509123Z-0000000001/files/a.zst", initiatedMs: 1_000)
        let young = store.beginPendingUpload(key: "test-host/20261125T140509123Z-0000000002/files/b.zst", initiatedMs: 9_000)
        let other = store.beginPendingUpload(key: "other-host/20261125T140509123Z-0000000003/files/c.zst", initiatedMs: 1_000)
        var collector = GarbageCollector(store: store, host: "test-host", spool: spool, graceMs: 5_000, logger: PipelineHarness.logger)

        collector.dryRun = true
        let planned = try await collector.run(nowMs: 10_000)
        #expect(planned.abortedUploads == 1 && planned.removed == ["upload \(stale.key)"], "\(planned)")
        #expect(try await store.listPendingUploads(prefix: "").count == 3)

        collector.dryRun = false
        await #expect(try collector.run(nowMs: 10_000) == planned)
        #expect(try await store.listPendingUploads(prefix: "").map(\.key).sorted() == [other.key, young.key])
    }
}
