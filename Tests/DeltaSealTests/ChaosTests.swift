import DeltaSealCore
import DeltaSealDelta
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Testing

/// The promise under fire: the supervisor is SIGKILLed at random moments and restarted, the
/// store answers 503, resets connections mid-body, stalls and hands back flipped bytes, and the
/// writer crashes now and then. At the end every batch is shipped exactly once and verifies.
///
/// Size: `DELTASEAL_CHAOS_BATCHES` (default 40) and `DELTASEAL_CHAOS_KILLS` (default 8).
/// Every random choice (kill times, the proxy's faults, the writer's crashes) comes from one
/// seed, printed at the start and at the end; `DELTASEAL_CHAOS_SEED=N` runs the same choices
/// again (the daemon's own timing still varies with the machine).
@Suite(.enabled(if: S3TestServer.available, "needs the SeaweedFS server bin/test starts"), .timeLimit(.minutes(15)))
struct ChaosTests {
    let server = S3TestServer.current!

    @Test func everyBatchShipsExactlyOnceThroughKillsFaultsAndCrashes() async throws {
        let env = ProcessInfo.processInfo.environment
        let batchCount = Int(env["DELTASEAL_CHAOS_BATCHES"] ?? "") ?? 40
        let killCount = Int(env["DELTASEAL_CHAOS_KILLS"] ?? "") ?? 8
        let seed = UInt64(env["DELTASEAL_CHAOS_SEED"] ?? "") ?? UInt64.random(in: 1 ... 1 << 32)
        var random = SplitMix64(seed: seed)
        print("chaos: seed=\(seed) (DELTASEAL_CHAOS_SEED=\(seed) repeats its choices)")
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        let proxy = try FaultProxy(upstream: server.endpoint, seed: seed)
        try await proxy.set([
            .init(action: "status_503", times: nil, probability: 0.04),
            .init(action: "reset_body", method: "PUT", times: nil, probability: 0.04),
            .init(action: "flip_byte", method: "GET", contains: "/files/", times: nil, probability: 0.05),
            .init(action: "stall", method: "GET", times: nil, seconds: 4, probability: 0.01),
        ])
        // Crashes (SIGSEGV) on one run in ten, before or after writing: drawn from the seed, the
        // batch's name and the attempt, so the same seed crashes the same attempts.
        let writer = try TestSupport.script("""
            draw=$(printf '%s' "\(seed) $DELTASEAL_ATTEMPT $(basename "$2")" | cksum | cut -d' ' -f1)
            if [ $((draw % 20)) -eq 0 ]; then kill -SEGV $$; fi
            \(TestSupport.writer) "$@" || exit $?
            if [ $(((draw / 20) % 20)) -eq 0 ]; then kill -SEGV $$; fi
            exit 0
            """, at: harness.root + "/crashy-writer.sh")

        var expected: [String: Int] = [:]
        for n in 0..<batchCount {
            let name = String(format: "chaos-%05d.ndjson", n)
            let records = 3 + n % 17
            expected[name] = records
            try TestSupport.dropBatch(TestSupport.batch(records: records, prefix: "n\(n)-"), named: name, spool: harness.config.spool)
        }
        let arguments = [TestSupport.supervisor, "start", "--spool", harness.config.spool,
                         "--store", "s3://\(server.bucket)/\(prefix)", "--endpoint", proxy.endpoint, "--host", "chaos-host",
                         "--writer", writer, "--retry-base-delay", "0.05", "--max-attempts", "40", "--stall-timeout", "2",
                         "--max-in-flight", "4", "--log-level", "error"]
        let log = harness.root + "/supervisor.log"

        var kills = 0
        for _ in 0..<killCount {
            let daemon = try Daemon(arguments, environment: server.environment(), cwd: harness.root, log: log)
            try await Task.sleep(for: .milliseconds(200 + Int(random.next() % 1301)))
            daemon.kill()
            kills += 1
        }
        let final = try await TestSupport.run(arguments + ["--once"], cwd: harness.root, environment: server.environment())
        #expect(final.status == 0, "\(final.stderr.suffix(3000))")

        // Where every batch ended up.
        #expect(try Files.list(harness.spool.incoming) == [])
        #expect(try Files.list(harness.spool.work).filter { !$0.hasPrefix(".") } == [])
        #expect(try Files.list(harness.spool.failed) == [])
        #expect(try Files.list(harness.spool.rejected) == [])

        // The store holds each batch exactly once, under one delta, with exactly its records.
        let store = try server.store(prefix: prefix)
        var shipped: [String: Int] = [:]
        var records = 0
        let manifests = try await store.list(prefix: "chaos-host/").filter { $0.key.hasSuffix("/manifest.json") }
        for object in manifests {
            let manifest = try await StableJSON.decode(Manifest.self, from: store.getBytes(key: object.key))
            for source in manifest.sources {
                shipped[source.name, default: 0] += 1
                #expect(source.records == expected[source.name])
                records += source.records
            }
            #expect(manifest.files.first?.sqlite?.rowCounts["records"] == manifest.recordCount)
            let verify = try await TestSupport.run(
                [TestSupport.verifier, "s3://\(server.bucket)/\(prefix)/chaos-host/\(manifest.deltaID)", "--endpoint", server.endpoint],
                environment: server.environment())
            #expect(verify.status == 0, "\(verify.stdout)")
        }
        let lost = expected.keys.filter { shipped[$0] == nil }.count
        let duplicates = shipped.values.filter { $0 > 1 }.count
        #expect(lost == 0)
        #expect(duplicates == 0)
        #expect(records == expected.values.reduce(0, +))

        // gc leaves no object that a manifest does not account for.
        let gc = try await TestSupport.run([TestSupport.supervisor, "gc", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
                                      "--endpoint", server.endpoint, "--host", "chaos-host", "--grace", "0"],
                                     cwd: harness.root, environment: server.environment())
        #expect(gc.status == 0, "\(gc.stderr)")
        let withManifest = Set(manifests.map { $0.key.split(separator: "/")[1] })
        let orphans = try await store.list(prefix: "chaos-host/").filter { !withManifest.contains($0.key.split(separator: "/")[1]) }
        #expect(orphans.isEmpty, "\(orphans.map(\.key))")
        #expect(try await store.listPendingUploads(prefix: "chaos-host/").isEmpty)

        let faults = try await proxy.injected()
        print("chaos: seed=\(seed) batches=\(batchCount) kills=\(kills) faults=\(faults.values.reduce(0, +)) \(faults.sorted { $0.key < $1.key }) "
              + "lost=\(lost) duplicates=\(duplicates) orphans=\(orphans.count) records=\(records) gc=\(gc.stdout.trimmingCharacters(in: .newlines))")
    }
}

/// A supervisor daemon run as operators run it, to be killed without warning.
final class Daemon {
    private let process = Process()

    init(_ arguments: [String], environment: [String: String], cwd: String, log: String) throws {
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: cwd)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// SIGKILL: no handler runs, nothing is flushed, children are orphaned.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Waits for the daemon to exit; its exit status.
    func wait() async -> Int32 {
        await TestSupport.exitStatus(of: process)
    }

    deinit { if process.isRunning { kill() } }
}
