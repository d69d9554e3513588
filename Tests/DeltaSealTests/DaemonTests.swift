import DeltaSealCore
import DeltaSealDelta
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// The daemon as operators run it: status while it works, metrics scraped while it works,
/// SIGTERM and restart, retry of failed deltas, restore of shipped ones.
@Suite(.timeLimit(.minutes(3)))
struct DaemonTests {
    /// A writer that handles `b0.ndjson` at once and holds every other batch until the test
    /// creates `release`: the daemon is caught mid-work deterministically, whatever the load.
    func gatedWriter(_ harness: PipelineHarness) throws -> (writer: String, release: () -> Void) {
        let release = harness.root + "/release"
        let writer = try TestSupport.script("""
            case "$*" in *b0.ndjson*) ;; *) while [ ! -e \(release) ]; do sleep 0.05; done ;; esac
            exec \(TestSupport.writer) "$@"
            """, at: harness.root + "/gated.sh")
        return (writer, { _ = FileManager.default.createFile(atPath: release, contents: nil) })
    }

    func start(_ harness: PipelineHarness, _ extra: [String], log: String) throws -> Daemon {
        try Daemon([TestSupport.supervisor, "start", "--spool", harness.config.spool, "--store", harness.storeRoot, "--host", "test-host",
                    "--retry-base-delay", "0.05"] + extra,
                   environment: ProcessInfo.processInfo.environment, cwd: harness.root, log: log)
    }

    func status(_ harness: PipelineHarness) async throws -> SupervisorStatus {
        let result = try await TestSupport.run([TestSupport.supervisor, "status", "--json", "--spool", harness.config.spool], cwd: harness.root)
        return try StableJSON.decode(SupervisorStatus.self, from: Array(result.stdout.utf8))
    }

    @Test func statusShowsDeltasInFlightAndWhatShipped() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        for n in 0..<3 { try TestSupport.dropBatch(TestSupport.batch(records: 4), named: "b\(n).ndjson", spool: harness.config.spool) }
        let idle = try await status(harness)
        #expect(!idle.running)
        #expect(idle.queues["incoming"] == 3)
        let (writer, release) = try gatedWriter(harness)
        let daemon = try start(harness, ["--writer", writer, "--metrics-address", ""], log: harness.root + "/log")
        // b0 ships; b1 and b2 wait in their writers.
        try await waitUntil(timeout: .seconds(60)) { (try? await status(harness))?.shippedLastHour == 1 }
        let seen = try await status(harness)
        #expect(seen.running)
        #expect(seen.stages == ["claimed": 2], "\(seen)")
        #expect(Set(seen.inFlight.flatMap(\.batches)) == ["b1.ndjson", "b2.ndjson"])
        release()
        try await waitUntil(timeout: .seconds(60)) { (try? await status(harness))?.shippedLastHour == 3 }
        let done = try await status(harness)
        #expect(done.queues == ["incoming": 0, "unclaimable": 0, "work": 0, "rejected": 0, "failed": 0])
        #expect(done.intakePaused == nil)
        let table = try await TestSupport.run([TestSupport.supervisor, "status", "--spool", harness.config.spool], cwd: harness.root).stdout
        #expect(table.contains("supervisor: running (pid"))
        #expect(table.contains("shipped:    3 in the last hour"))
        daemon.kill()
    }

    @Test func metricsMoveDuringARunAndHealthEndpointsAnswer() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let port = try TestSupport.freePort()
        let base = "http://127.0.0.1:\(port)"
        for n in 0..<4 { try TestSupport.dropBatch(TestSupport.batch(records: 5), named: "b\(n).ndjson", spool: harness.config.spool) }
        let (writer, release) = try gatedWriter(harness)
        let daemon = try start(harness, ["--writer", writer, "--metrics-address", "127.0.0.1:\(port)",
                                         "--max-in-flight", "1"], log: harness.root + "/log")
        func shipped() async -> Int {
            let body = (try? await TestSupport.http(base + "/metrics").body) ?? ""
            let line = body.split(separator: "\n").first { $0.hasPrefix("deltaseal_deltas_total{outcome=\"shipped\"}") }
            return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        }
        try await waitUntil(timeout: .seconds(60)) { await shipped() >= 1 }
        #expect(await shipped() == 1)
        release()
        try await waitUntil(timeout: .seconds(60)) { await shipped() == 4 }
        let metrics = try await TestSupport.http(base + "/metrics").body
        for name in ["deltaseal_stage_duration_seconds_bucket{stage=\"write\"", "deltaseal_bytes_total{kind=\"raw\"}",
                     "deltaseal_writer_exits_total{code=\"0\"} 4", "deltaseal_store_requests_total{verb=\"PUT\",status=\"unknown\"} 8",
                     "deltaseal_spool_batches{dir=\"incoming\"}", "deltaseal_intake_paused{reason=\"free_disk\"} 0"] {
            #expect(metrics.contains(name), "\(name) missing from:\n\(metrics)")
        }
        #expect(try await TestSupport.http(base + "/healthz").status == 200)
        #expect(try await TestSupport.http(base + "/readyz").status == 200)
        #expect(try await TestSupport.http(base + "/nope").status == 404)
        daemon.kill()
    }

    @Test func sigtermDrainsInFlightDeltasAndARestartFinishesTheRest() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        for n in 0..<6 { try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b\(n).ndjson", spool: harness.config.spool) }
        let (writer, release) = try gatedWriter(harness)
        let daemon = try start(harness, ["--writer", writer, "--max-in-flight", "2", "--metrics-address", ""], log: harness.root + "/log")
        // b0 shipped, two more held in their writers: stop, then let those two finish.
        try await waitUntil(timeout: .seconds(60)) {
            // b0's objects are in the store from its upload on; it is shipped once it left work/.
            let inWork = ((try? harness.spool.workInProgress()) ?? []).compactMap { try? harness.spool.load($0) }.flatMap(\.batches)
            return ((try? harness.shippedDeltas()) ?? []).count == 1 && Set(inWork) == ["b1.ndjson", "b2.ndjson"]
        }
        daemon.signal(SIGTERM)
        try await waitUntil { ((try? String(contentsOfFile: harness.root + "/log", encoding: .utf8)) ?? "").contains("stop requested") }
        release()
        let status = await daemon.wait()
        #expect(status == 0)
        // Drained: nothing half-done in work/, the rest untouched in incoming/.
        #expect(try Files.list(harness.spool.work).filter { !$0.hasPrefix(".") } == [])
        let shippedFirst = try harness.shippedDeltas().count
        #expect(shippedFirst == 3)
        #expect(try Files.list(harness.spool.incoming).count == 3)
        let log = try String(contentsOfFile: harness.root + "/log", encoding: .utf8)
        #expect(log.contains("stop requested: intake stopped, draining in-flight deltas"))
        let rest = try await TestSupport.run([TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
                                        "--host", "test-host", "--writer", writer, "--metrics-address", ""], cwd: harness.root)
        #expect(rest.status == 0, "\(rest.stderr)")
        let manifests = try harness.shippedDeltas().map { try harness.manifest($0).sources[0].name }
        #expect(manifests.sorted() == (0..<6).map { "b\($0).ndjson" })
    }

    @Test func drainTimeoutStopsTheWriterAndTheDeltaResumesAtTheNextStart() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let fast = harness.root + "/fast"
        let writer = try TestSupport.script("""
            [ -e \(fast) ] || sleep 300
            exec \(TestSupport.writer) "$@"
            """, at: harness.root + "/stuck.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        var environment = ProcessInfo.processInfo.environment
        environment["DELTASEAL_SHUTDOWN_DRAIN_TIMEOUT"] = "0.5"
        let daemon = try Daemon([TestSupport.supervisor, "start", "--spool", harness.config.spool, "--store", harness.storeRoot,
                                 "--writer", writer, "--metrics-address", ""], environment: environment, cwd: harness.root, log: harness.root + "/log")
        var writerPID: Int32?
        try await waitUntil {
            // Nothing claimed yet is "not yet", not a crash.
            guard let id = (try? harness.spool.workInProgress())?.first, let record = try? harness.spool.load(id) else { return false }
            writerPID = record.writerPID
            return writerPID != nil
        }
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == 0)
        try await waitUntil { TestSupport.processIsGone(writerPID!) }
        #expect(try Files.list(harness.spool.work).filter { !$0.hasPrefix(".") }.count == 1)
        // Killed by the drain is not a failure: no attempt spent.
        let left = try #require(try harness.spool.workInProgress().first)
        #expect(try harness.spool.load(left)?.attempt == 1)
        _ = FileManager.default.createFile(atPath: fast, contents: nil)
        let rest = try await TestSupport.run([TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
                                        "--writer", writer, "--metrics-address", ""], cwd: harness.root)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(rest.stdout.contains("shipped 1, rejected 0, failed 0"))
    }

    @Test func sighupReloadsWhatIsSafeAndRefusesABadFile() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let file = harness.root + "/deltaseal.yaml"
        let log = harness.root + "/log"
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try TestSupport.write("spool: \(harness.config.spool)\nstore: \(harness.storeRoot)\nhost: one\nlog:\n  level: info\n", to: file)
        let daemon = try Daemon([TestSupport.supervisor, "start", "--config", file, "--metrics-address", ""],
                                environment: ProcessInfo.processInfo.environment, cwd: harness.root, log: log)
        try await waitUntil { logText().contains("supervisor started") }
        try TestSupport.write("spool: \(harness.config.spool)\nstore: \(harness.storeRoot)\nhost: two\nlog:\n  level: debug\nretry:\n  max_attempts: 7\n", to: file)
        daemon.signal(SIGHUP)
        try await waitUntil { logText().contains("configuration reloaded") }
        #expect(logText().contains("\"applied\":\"retry.max_attempts,log.level\""), "\(logText())")
        #expect(logText().contains("\"restart_needed\":\"host\""))
        // Debug lines now appear; the host stays what it was at start.
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        try await waitUntil(timeout: .seconds(30)) { logText().contains("\"msg\":\"shipped\"") }
        #expect(logText().contains("\"msg\":\"writer started\""))
        #expect(Files.isDirectory(harness.storeRoot + "/one"))
        try TestSupport.write("spool: \(harness.config.spool)\nwriter:\n  timout: 3\n", to: file)
        daemon.signal(SIGHUP)
        try await waitUntil { logText().contains("configuration reload refused") }
        #expect(logText().contains("writer.timout: unknown key"))
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == 0)
    }

    @Test func retryPutsAFailedDeltaBackUnderTheSameID() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let healed = harness.root + "/healed"
        let writer = try TestSupport.script("""
            [ -e \(healed) ] || { echo 'model file missing' >&2; exit 1; }
            exec \(TestSupport.writer) "$@"
            """, at: harness.root + "/flaky.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let args = ["start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot, "--host", "test-host",
                    "--writer", writer, "--max-attempts", "1", "--metrics-address", ""]
        #expect(try await TestSupport.run([TestSupport.supervisor] + args, cwd: harness.root).status == 1)
        let failed = try Files.list(harness.spool.failed)
        try #require(failed.count == 1)
        _ = FileManager.default.createFile(atPath: healed, contents: nil)
        let retry = try await TestSupport.run([TestSupport.supervisor, "retry", "--all-failed", "--spool", harness.config.spool], cwd: harness.root)
        #expect(retry.status == 0)
        #expect(retry.stdout.contains("requeued \(failed[0])"))
        #expect(try Files.list(harness.spool.failed) == [])
        #expect(try await TestSupport.run([TestSupport.supervisor] + args, cwd: harness.root).status == 0)
        #expect(try harness.shippedDeltas() == failed)
        let unknown = try await TestSupport.run([TestSupport.supervisor, "retry", "20261125T140509123Z-3fa9c01b7e", "--spool", harness.config.spool],
                                          cwd: harness.root)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("20261125T140509123Z-3fa9c01b7e is not in failed/"))
    }

    @Test func restoreIsByteIdenticalToWhatTheWriterProducedAndListShowsIt() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let copies = harness.root + "/writer-output"
        let writer = try TestSupport.script("""
            \(TestSupport.writer) "$@" || exit $?
            out="${@: -1}"
            mkdir -p \(copies)/$DELTASEAL_DELTA_ID && cp -a "$out/." \(copies)/$DELTASEAL_DELTA_ID/
            """, at: harness.root + "/copying.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 50), named: "b.ndjson", spool: harness.config.spool)
        // The writer keeps a copy of its output outside it, for the comparison.
        let run = try await TestSupport.run([TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
                                       "--host", "test-host", "--writer", writer, "--metrics-address", ""], cwd: harness.root,
                                      environment: ProcessInfo.processInfo.environment.merging(PipelineHarness.writersReportOutside) { $1 })
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(try harness.shippedDeltas().first)
        let restored = harness.root + "/restored"
        let restore = try await TestSupport.run([TestSupport.verifier, "restore", harness.deltaURL(id), "--out", restored])
        #expect(restore.status == 0, "\(restore.stdout)")
        let original = TestSupport.files(under: copies + "/" + id)
        #expect(original == ["delta.sqlite3"])
        #expect(TestSupport.files(under: restored) == original)
        for file in original {
            #expect(try Files.readAll(restored + "/" + file, limit: 1 << 30) == Files.readAll(copies + "/" + id + "/" + file, limit: 1 << 30))
        }
        // A second restore into a non-empty directory writes nothing and says why.
        let again = try await TestSupport.run([TestSupport.verifier, "restore", harness.deltaURL(id), "--out", restored])
        #expect(again.status == 2)
        let list = try await TestSupport.run([TestSupport.verifier, "list", "file://" + harness.storeRoot, "--host", "test-host", "--json"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("\"delta_id\":\"\(id)\""))
        #expect(list.stdout.contains("\"records\":50"))
    }
}

extension Daemon {
    /// Sends `signal` to the supervisor.
    func signal(_ number: Int32) { Glibc.kill(pid, number) }
}
