import DeltaSealCore
import DeltaSealDelta
import DeltaSealS3
import DeltaSealSystem
import Foundation
import Testing

/// One store fault at a time, through the fault-injection proxy in front of SeaweedFS: each is
/// retried, the attempt it spoiled is cleaned up, and the delta ships once. Request-level retries
/// are off (`--s3-max-attempts 1`) so every fault reaches the pipeline; RequestRetryTests covers
/// the store's own retries.
@Suite(.enabled(if: S3TestServer.available, "needs the SeaweedFS server bin/test starts"), .timeLimit(.minutes(3)))
struct FaultInjectionTests {
    let server = S3TestServer.current!

    struct Fault: CustomTestStringConvertible, Sendable {
        var rule: FaultProxy.Rule
        var symptom: String
        var testDescription: String { rule.action }
    }

    static let faults: [Fault] = [
        .init(rule: .init(action: "status_503", method: "PUT"), symptom: "SlowDown"),
        .init(rule: .init(action: "reset_body", method: "PUT", contains: "/files/"), symptom: "upload failed"),
        .init(rule: .init(action: "stall", method: "PUT", contains: "/files/", seconds: 30), symptom: "upload failed"),
        // A rotten object: the bytes the verifier reads differ from what was uploaded.
        .init(rule: .init(action: "flip_byte", method: "GET", contains: "/files/"), symptom: "compressed sha256 is"),
    ]

    @Test(arguments: faults) func faultIsRetriedCleanedUpAndTheDeltaShipsOnce(_ fault: Fault) async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([fault.rule])
        try TestSupport.dropBatch(TestSupport.batch(records: 12), named: "b.ndjson", spool: harness.config.spool)
        let result = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
             "--endpoint", proxy.endpoint, "--host", "test-host", "--retry-base-delay", "0.05", "--stall-timeout", "1", "--s3-max-attempts", "1",
             "--log-level", "warning"],
            cwd: harness.root, environment: server.environment())
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try await proxy.injected() == [fault.rule.action: 1])
        #expect(result.stderr.contains("attempt failed, retrying"))
        #expect(result.stderr.contains(fault.symptom), "\(result.stderr)")
        // Exactly one delta, complete, and nothing else under the host.
        let store = try server.store(prefix: prefix)
        let objects = try await store.list(prefix: "test-host/").map(\.key)
        let ids = Set(objects.map { $0.split(separator: "/")[1] })
        #expect(ids.count == 1)
        let id = try #require(ids.first)
        #expect(objects.sorted() == ["test-host/\(id)/files/delta.sqlite3.zst", "test-host/\(id)/manifest.json"])
        let verify = try await TestSupport.run([TestSupport.verifier, "s3://\(server.bucket)/\(prefix)/test-host/\(id)", "--endpoint", server.endpoint],
                                         environment: server.environment())
        #expect(verify.status == 0, "\(verify.stdout)")
    }
}
