import DeltaSealCore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// `writer.mode: fork-server`, run by the real supervisor under the default sandbox with a real
/// fork-server (Tests/Fixtures/fork_writer.py on bin/deltaseal_fork_server.py) and a lying one.
@Suite(.timeLimit(.minutes(5))) struct ForkServerTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures"

    func harness(_ writer: [String], _ label: String = #function) throws -> PipelineHarness {
        var harness = try PipelineHarness(label)
        harness.config.writerMode = "fork-server"
        harness.config.writerCommand = ["/usr/bin/python3"] + writer
        harness.config.writerTimeout = .seconds(60)
        return harness
    }

    /// The starts the fixture's servers logged.
    func serverStarts(_ harness: PipelineHarness) -> [String] {
        let text = (try? Files.readAll(harness.spool.forkServer + "/tmp/starts")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return text.split(separator: "\n").map(String.init)
    }

    @Test func oneServerWritesEveryDeltaAndEachChildIsConfined() async throws {
        let harness = try harness([Self.fixtures + "/fork_writer.py"])
        defer { harness.remove() }
        for n in 0..<4 {
            try TestSupport.dropBatch("PROBE \(n)\nline \(n)\n", named: "b\(n).ndjson", spool: harness.config.spool)
        }
        try TestSupport.dropBatch("fine\nBAD\n", named: "bad.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        let reports = (try? Files.list(harness.spool.failed)) ?? []
        #expect(summary.shipped == 4 && summary.rejected == 1 && summary.failed == 0, "\(summary); failed: \(reports)")
        // One server, started once, forked all five.
        #expect(serverStarts(harness).count == 1, "\(serverStarts(harness))")
        // The child that tried could not write into the server's own directory.
        #expect(!Files.exists(harness.spool.forkServer + "/tmp/escaped"))
        for id in try harness.shippedDeltas() { await #expect(try harness.verify(id).status == 0) }
        // Bad input is rejected with its file and line, as with a writer process.
        let report = try String(decoding: Files.readAll(harness.spool.rejected + "/bad.ndjson.report.json"), as: UTF8.self)
        #expect(report.contains("bad.ndjson") && report.contains("the line says BAD"), "\(report)")
        if Sandbox.landlockABI == nil { print("skipped (partly): this kernel has no Landlock, the child's escape was not tried") }
    }

    @Test func aServerThatDiesIsStartedAgainAndItsDeltaRetried() async throws {
        let harness = try harness([Self.fixtures + "/fork_writer.py"])
        defer { harness.remove() }
        try TestSupport.dropBatch("KILL-SERVER\n", named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1 && summary.failed == 0, "\(summary)")
        #expect(serverStarts(harness).count == 2, "\(serverStarts(harness))")
        let id = try #require(try harness.shippedDeltas().first)
        #expect(try harness.manifest(id).files.map(\.path) == ["delta.sqlite3"])
    }

    /// A stop whose drain times out ends the server and the child it forked; the delta spends no
    /// attempt and ships at the next start, on a new server.
    @Test func aDrainTimeoutEndsTheServerAndItsChildAndTheDeltaResumes() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let writer = ["--writer", "/usr/bin/python3 \(Self.fixtures)/fork_writer.py", "--writer-mode", "fork-server"]
        try TestSupport.dropBatch("SLEEP\n", named: "b.ndjson", spool: harness.config.spool)
        var environment = ProcessInfo.processInfo.environment
        environment["DELTASEAL_SHUTDOWN_DRAIN_TIMEOUT"] = "0.5"
        let daemon = try Daemon([TestSupport.supervisor, "start", "--spool", harness.config.spool, "--store", harness.storeRoot,
                                 "--metrics-address", ""] + writer, environment: environment, cwd: harness.root, log: harness.root + "/log")
        var writerPID: Int32?
        try await waitUntil(timeout: .seconds(60)) {
            guard let id = (try? harness.spool.workInProgress())?.first, let record = try? harness.spool.load(id) else { return false }
            writerPID = record.writerPID
            return writerPID != nil
        }
        let server = try #require(serverStarts(harness).first.flatMap { Int32($0.split(separator: " ")[1]) })
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == 0)
        try await waitUntil { TestSupport.processIsGone(writerPID!) && TestSupport.processIsGone(server) }
        let left = try #require(try harness.spool.workInProgress().first)
        #expect(try harness.spool.load(left)?.attempt == 1)
        let rest = try await TestSupport.run([TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool,
                                              "--store", harness.storeRoot, "--metrics-address", ""] + writer, cwd: harness.root)
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(rest.stdout.contains("shipped 1, rejected 0, failed 0"), "\(rest.stdout)")
        #expect(serverStarts(harness).count == 2)
    }

    /// A server that names its own parent (this very test process, which runs the supervisor) or
    /// init as the child it forked: nothing is signalled, the delta fails saying why.
    @Test(arguments: ["parent", "1"])
    func aServerNamingAProcessNotItsChildGetsNothingSignalled(_ target: String) async throws {
        var harness = try harness([Self.fixtures + "/hostile_fork_server.py", target])
        defer { harness.remove() }
        harness.config.retry.maxAttempts = 1
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.failed == 1 && summary.shipped == 0, "\(summary)")
        let id = try #require(try Files.list(harness.spool.failed).first)
        let report = try String(decoding: Files.readAll(harness.spool.failed + "/" + id + "/report.json"), as: UTF8.self)
        let expected = target == "1" ? "pid 1 is not a process it could have forked" : "is not its child (its parent is"
        #expect(report.contains(expected), "\(report)")
        // Still alive to say so: the supervisor did not signal its own process group.
        #expect(kill(getpid(), 0) == 0)
    }
}
