import DeltaSealCore
import DeltaSealDelta
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// The store goes away with writers busy, or starts refusing: the daemon (a real process, real
/// HTTP endpoints) waits it out through the fault proxy in front of SeaweedFS. Nothing goes to
/// `failed/` for an outage, no sealed delta is written again, `/readyz` tells the truth.
@Suite(.enabled(if: S3TestServer.available, "needs the SeaweedFS server bin/test starts"), .timeLimit(.minutes(4)), .serialized)
struct OutageTests {
    let server = S3TestServer.current!

    /// How many 503s the outage lasts (each probe and request takes one); DELTASEAL_OUTAGE_FAULTS
    /// makes it longer by hand.
    static let outageFaults = Int(ProcessInfo.processInfo.environment["DELTASEAL_OUTAGE_FAULTS"] ?? "") ?? 12

    struct Running {
        var harness: PipelineHarness
        var proxy: FaultProxy
        var daemon: Daemon
        var base: String
        var prefix: String
        var runs: () -> Int
    }

    func start(_ batches: Int, rules: [FaultProxy.Rule], label: String = #function) async throws -> Running {
        var harness = try PipelineHarness(label)
        harness.letWritersReportOutsideTheirOutput()
        let runs = harness.root + "/runs"
        let writer = try TestSupport.script("""
            echo "$*" >> \(runs)
            exec \(TestSupport.writer) "$@"
            """, at: harness.root + "/counting.sh")
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set(rules)
        let port = try TestSupport.freePort()
        var environment = server.environment().merging(PipelineHarness.writersReportOutside) { $1 }
        environment["DELTASEAL_OUTAGE_THRESHOLD"] = "1"
        environment["DELTASEAL_INTAKE_SETTLE"] = "0.1"
        let prefix = S3TestServer.uniquePrefix(label)
        let daemon = try Daemon([TestSupport.supervisor, "start", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
                                 "--endpoint", proxy.endpoint, "--host", "test-host", "--writer", writer, "--retry-base-delay", "0.05",
                                 "--metrics-address", "127.0.0.1:\(port)", "--log-level", "info"],
                                environment: environment, cwd: harness.root, log: harness.root + "/log")
        for n in 0..<batches {
            try TestSupport.dropBatch(TestSupport.batch(records: 5 + n), named: "b\(n).ndjson", spool: harness.config.spool)
        }
        return Running(harness: harness, proxy: proxy, daemon: daemon, base: "http://127.0.0.1:\(port)", prefix: prefix, runs: {
            ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
        })
    }

    func shipped(_ running: Running) async -> Int {
        guard let store = try? server.store(prefix: running.prefix), let objects = try? await store.list(prefix: "test-host/") else { return 0 }
        return objects.filter { $0.key.hasSuffix("/manifest.json") }.count
    }

    @Test func outageWithWritersBusyEndsWithEverythingShippedAndNothingWrittenTwice() async throws {
        let running = try await start(4, rules: [.init(action: "status_503", times: Self.outageFaults + 1000, probability: 1)])
        defer { running.harness.remove(); running.daemon.kill() }
        // Writers keep writing and sealing while the store is down; readiness says why not.
        try await waitUntil(timeout: .seconds(60)) {
            (try? await TestSupport.http(running.base + "/readyz"))?.body.contains("store unavailable") == true
        }
        let metrics = try await TestSupport.http(running.base + "/metrics").body
        #expect(metrics.contains("deltaseal_store_available 0"), "\(metrics)")
        try await waitUntil(timeout: .seconds(60)) { running.runs() == 4 }
        try await waitUntil(timeout: .seconds(60)) { ((try? await running.proxy.injected()["status_503"]) ?? 0) >= Self.outageFaults }
        #expect(await shipped(running) == 0)
        let status = try await TestSupport.run([TestSupport.supervisor, "status", "--json", "--spool", running.harness.config.spool])
        #expect(status.stdout.contains("store unavailable since"), "\(status.stdout)")
        // The store comes back.
        try await running.proxy.set([])
        try await waitUntil(timeout: .seconds(90)) { await shipped(running) == 4 }
        try await waitUntil(timeout: .seconds(30)) { (try? await TestSupport.http(running.base + "/readyz"))?.status == 200 }
        #expect(try await TestSupport.http(running.base + "/metrics").body.contains("deltaseal_store_available 1"))
        #expect(running.runs() == 4, "a sealed delta was written again")
        #expect(try Files.list(running.harness.spool.failed) == [])
        let log = try String(contentsOfFile: running.harness.root + "/log", encoding: .utf8)
        #expect(log.contains("store available again"))
    }

    @Test func permanentRefusalFailsOneDeltaPausesIntakeAndBurnsNoOther() async throws {
        let running = try await start(3, rules: [.init(action: "status_403", method: "PUT", times: 100_000, probability: 1)])
        defer { running.harness.remove(); running.daemon.kill() }
        try await waitUntil(timeout: .seconds(60)) {
            (try? await TestSupport.http(running.base + "/readyz"))?.body.contains("store refuses") == true
        }
        try await waitUntil(timeout: .seconds(60)) { ((try? Files.list(running.harness.spool.failed)) ?? []).count == 1 }
        // The rest wait (claimed and sealed, or still in incoming/), none failed behind the first.
        try await waitUntil(timeout: .seconds(30)) { ((try? await running.proxy.injected()["status_403"]) ?? 0) >= 4 }
        #expect(try Files.list(running.harness.spool.failed).count == 1)
        let report = try String(contentsOfFile: running.harness.spool.failed + "/" + (try Files.list(running.harness.spool.failed))[0]
                                + "/report.json", encoding: .utf8)
        #expect(report.contains("AccessDenied"), "\(report)")
        try await running.proxy.set([])
        try await waitUntil(timeout: .seconds(90)) { await shipped(running) == 2 }
        try await waitUntil(timeout: .seconds(30)) { (try? await TestSupport.http(running.base + "/readyz"))?.status == 200 }
        #expect(try Files.list(running.harness.spool.failed).count == 1)
    }
}
