import CDeltaSealLinux
import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// The supervisor's pipeline with real writer processes, a real filesystem store and the real
/// verifier process; every test checks where each batch ended up.
@Suite struct SupervisorTests {
    /// Batch names in a spool directory (`rejected/`, `incoming/`, ...).
    func names(_ path: String) -> [String] { (try? Files.list(path)) ?? [] }

    /// The failure reports in `failed/`.
    func failureReports(_ harness: PipelineHarness) throws -> [[String: Any]] {
        try names(harness.spool.failed).map { id in
            let data = try Data(contentsOf: URL(fileURLWithPath: harness.spool.failed + "/" + id + "/report.json"))
            return try JSONSerialization.jsonObject(with: data) as! [String: Any]
        }
    }

    @Test func shipsEveryBatchAndLeavesNothingBehind() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.maxInFlight = 3
        for n in 0..<5 {
            try TestSupport.dropBatch(TestSupport.batch(records: 10 + n), named: "b\(n).ndjson", spool: harness.config.spool)
        }
        // Not batches: another extension, and a batch still being written under a temporary name.
        try TestSupport.write("x", to: harness.config.spool + "/incoming/notes.txt")
        try TestSupport.write("{", to: harness.config.spool + "/incoming/.b9.ndjson.tmp")
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 5)
        #expect(summary.records == 10 + 11 + 12 + 13 + 14)
        let ids = try harness.shippedDeltas()
        #expect(ids.count == 5)
        #expect(Set(try ids.map { try harness.manifest($0).sources[0].name }) == Set((0..<5).map { "b\($0).ndjson" }))
        for id in ids { #expect(try await harness.verify(id).status == 0) }
        #expect(names(harness.spool.work) == [])
        #expect(names(harness.spool.incoming) == [".b9.ndjson.tmp", "notes.txt"])
    }

    @Test func rejectedBatchGoesToRejectedWithAReportNamingTheLine() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let text = TestSupport.record("a") + "\n" + TestSupport.record("b") + "\n{\"collection\":\"docs\",\"id\":\"c\"}\n"
        try TestSupport.dropBatch(text, named: "bad.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.rejected == 1 && summary.shipped == 0)
        #expect(names(harness.spool.rejected) == ["bad.ndjson", "bad.ndjson.report.json"])
        #expect(try String(contentsOfFile: harness.spool.rejected + "/bad.ndjson", encoding: .utf8) == text)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: harness.spool.rejected + "/bad.ndjson.report.json"))) as! [String: Any]
        #expect(report["line"] as? Int == 3)
        #expect(report["file"] as? String == "bad.ndjson")
        #expect(report["reason"] as? String == "missing field \"embedding\"")
        #expect(try harness.shippedDeltas() == [])
        #expect(names(harness.spool.work) == [])
    }

    @Test func crashingWriterIsRetried() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.letWritersReportOutsideTheirOutput()
        // Crashes (SIGSEGV) on its first run, works on the second.
        let marker = harness.root + "/crashed-once"
        harness.config.writerCommand = [try TestSupport.script("""
            if [ ! -e \(marker) ]; then touch \(marker); kill -SEGV $$; fi
            exec \(TestSupport.writer) "$@"
            """, at: harness.root + "/crashy.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 7), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1)
        #expect(Files.exists(marker))
        let ids = try harness.shippedDeltas()
        #expect(ids.count == 1)
        #expect(try await harness.verify(ids[0]).status == 0)
    }

    @Test func injectedUploadFailuresAreRetriedThenSucceed() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        // Retries, not an outage: on a loaded machine the two failures can be further apart than
        // the default outage threshold, and `--once` then leaves the delta for the next start.
        harness.config.outageThresholdMs = 600_000
        try TestSupport.dropBatch(TestSupport.batch(records: 9), named: "b.ndjson", spool: harness.config.spool)
        let store = FaultInjectingStore(FileStore(location: harness.config.store), failPuts: 2)
        let summary = try await harness.runOnce(store: store)
        #expect(store.failedPuts == 2)
        #expect(summary.shipped == 1)
        let ids = try harness.shippedDeltas()
        #expect(ids.count == 1)
        let id = try #require(ids.first)
        #expect(try harness.manifest(id).recordCount == 9)
        #expect(try await harness.verify(id).status == 0)
    }

    @Test func deltaThatExhaustsItsAttemptsEndsInFailedWithItsBatch() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.retry.maxAttempts = 2
        harness.config.writerCommand = [try TestSupport.script("echo 'disk on fire' >&2; exit 1", at: harness.root + "/fail.sh")]
        let text = TestSupport.batch(records: 4)
        try TestSupport.dropBatch(text, named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.failed == 1)
        let failed = names(harness.spool.failed)
        try #require(failed.count == 1)
        #expect(try String(contentsOfFile: harness.spool.failed + "/" + failed[0] + "/batches/b.ndjson", encoding: .utf8) == text)
        let report = try #require(try failureReports(harness).first)
        #expect(report["attempts"] as? Int == 2)
        #expect((report["reason"] as? String)?.contains("writer exited with status 1 — disk on fire") == true)
        #expect(names(harness.spool.work) == [])
        #expect(try harness.shippedDeltas() == [])
    }

    @Test func grandchildHoldingAFileIsNotSealedAndIsNamed() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.letWritersReportOutsideTheirOutput()
        harness.config.retry.maxAttempts = 1
        let pidFile = harness.root + "/holder.pid"
        // Writes a good delta, then leaves a grandchild that keeps the database open.
        harness.config.writerCommand = [try TestSupport.script("""
            \(TestSupport.writer) "$@" || exit $?
            out="${@: -1}"
            ( exec 3<"$out/delta.sqlite3"; exec sleep 300 ) &
            echo $! > \(pidFile)
            exit 0
            """, at: harness.root + "/leaky.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.failed == 1)
        let pid = try #require(Int32(String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let reason = try #require(try failureReports(harness).first?["reason"] as? String)
        #expect(reason.contains("not sealed: files still open: pid \(pid) (sleep 300) holds"), "\(reason)")
        #expect(reason.contains("delta.sqlite3 [fd 3]"))
        #expect(try harness.shippedDeltas() == [])
        // The supervisor killed what was left of the writer's process group.
        try await waitUntil { TestSupport.processIsGone(pid) }
    }

    @Test func processesAWriterLeavesInItsGroupAreKilledOnceSealedAndTheDeltaShips() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.letWritersReportOutsideTheirOutput()
        let pids = harness.root + "/pids"
        // Two leftovers that hold none of the delta's files: one silent (its descriptors are
        // elsewhere: no trace but the group), one that keeps the writer's output open.
        harness.config.writerCommand = [try TestSupport.script("""
            \(TestSupport.writer) "$@" || exit $?
            cd /
            sleep 300 </dev/null >/dev/null 2>&1 &
            echo $! >> \(pids)
            sleep 300 </dev/null &
            echo $! >> \(pids)
            exit 0
            """, at: harness.root + "/leaves.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 1, "\(summary)")
        let left = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(left.count == 2)
        for pid in left { try await waitUntil { TestSupport.processIsGone(pid) } }
        // The one holding the output is how the supervisor knows to say so.
        #expect(recorder.contains("the writer left processes behind"), "\(recorder.messages)")
    }

    @Test func hangingWriterIsKilledWithItsProcessGroupAtTheTimeout() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.letWritersReportOutsideTheirOutput()
        harness.config.retry.maxAttempts = 1
        harness.config.writerTimeout = .milliseconds(300)
        let pids = harness.root + "/pids"
        // The writer and a child of its own both ignore nothing and just hang.
        harness.config.writerCommand = [try TestSupport.script("""
            sleep 300 &
            echo $! >> \(pids)
            echo $$ >> \(pids)
            wait
            """, at: harness.root + "/hang.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.failed == 1)
        let reason = try #require(try failureReports(harness).first?["reason"] as? String)
        #expect(reason.contains("writer timed out"), "\(reason)")
        let killed = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(killed.count == 2)
        for pid in killed { try await waitUntil { TestSupport.processIsGone(pid) } }
        #expect(names(harness.spool.failed).count == 1)
    }

    @Test func multiFileDeltaFromAnExternalWriterShipsAndVerifies() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        // Like ChromaDB: a SQLite file plus index files in subdirectories.
        harness.config.writerCommand = [try TestSupport.script("""
            \(TestSupport.writer) "$@" || exit $?
            out="${@: -1}"
            mkdir -p "$out/index/segment-1"
            head -c 300000 /dev/urandom > "$out/index/segment-1/data_level0.bin"
            echo '{"dimension": 4}' > "$out/index/segment-1/header.json"
            """, at: harness.root + "/chroma-like.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 25), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1)
        let id = try #require(try harness.shippedDeltas().first)
        let manifest = try harness.manifest(id)
        #expect(manifest.files.map(\.path) == ["delta.sqlite3", "index/segment-1/data_level0.bin", "index/segment-1/header.json"])
        #expect(manifest.files.map(\.kind) == [.sqlite, .other, .other])
        #expect(manifest.files[0].sqlite?.rowCounts == ["collections": 1, "records": 25])
        #expect(manifest.files[1].rawSize == 300_000)
        #expect(try await harness.verify(id).status == 0)
    }

    @Test func onceExitsNonZeroWhenABatchIsRejectedAndWritersNeverSeeSecrets() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let envDump = harness.root + "/writer-env"
        let writer = try TestSupport.script("""
            env > \(envDump)
            exec \(TestSupport.writer) "$@"
            """, at: harness.root + "/env.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "good.ndjson", spool: harness.config.spool)
        try TestSupport.dropBatch("not json\n", named: "bad.ndjson", spool: harness.config.spool)
        var environment = ProcessInfo.processInfo.environment.merging(PipelineHarness.writersReportOutside) { $1 }
        environment["AWS_SECRET_ACCESS_KEY"] = "s3cr3t-value"
        environment["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE"
        let result = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
             "--host", "test-host", "--writer", writer, "--log-level", "warning"],
            cwd: harness.root, environment: environment)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stdout.contains("shipped 1, rejected 1, failed 0"))
        #expect(names(harness.spool.rejected) == ["bad.ndjson", "bad.ndjson.report.json"])
        #expect(try harness.shippedDeltas().count == 1)
        let env = try String(contentsOfFile: envDump, encoding: .utf8)
        #expect(!env.contains("AWS_"))
        #expect(!env.contains("s3cr3t-value"))
        #expect(env.contains("DELTASEAL_DELTA_ID="))
    }

    @Test func secondSupervisorOnTheSameSpoolIsRefused() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try harness.spool.prepare()
        let lock = try SpoolLock(spool: harness.config.spool)
        defer { withExtendedLifetime(lock) {} }
        let result = try await TestSupport.run([TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool,
                                          "--store", harness.storeRoot], cwd: harness.root)
        #expect(result.status == 75)
        #expect(result.stderr.contains("another supervisor (pid \(getpid())) is running on spool \(harness.config.spool)"), "\(result.stderr)")
    }

    /// A lock's open file is shared with any child forked while it is open, until that child
    /// execs or exits: a supervisor that follows another in the same process (the tests do)
    /// waits for that moment instead of being refused by its predecessor's ghost.
    @Test func aLockStillSharedWithAChildIsTakenOnceTheChildLetsGo() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try harness.spool.prepare()
        let lockPath = harness.config.spool + "/supervisor.lock"
        var first: SpoolLock? = try SpoolLock(spool: harness.config.spool)
        let lockFD = try #require(try Files.list("/proc/self/fd").compactMap(Int32.init).first {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)")) == lockPath
        })
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, lockFD, 3)
        // The child holds the lock's file until its input closes: it exits when told to.
        var input: [Int32] = [0, 0]
        try #require(dsl_pipe2(&input, O_CLOEXEC) == 0)
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sh"), strdup("-c"), strdup("read line"), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ) == 0)
        close(input[0])
        first = nil
        _ = first
        #expect(SpoolLock.isHeld(spool: harness.config.spool), "the child shares the lock")
        let taking = Task.detached { try SpoolLock(spool: harness.config.spool) }
        close(input[1])
        let second = try await taking.value
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        withExtendedLifetime(second) {}
        // A lock this process itself holds is refused at once.
        #expect(throws: SpoolLock.Held.self) { try SpoolLock(spool: harness.config.spool) }
    }

    @Test func intakePausesWhileTheWorkAreaIsFullAndResumesByItself() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        // Any claimed delta fills the work area: batches are taken one at a time.
        harness.config.intake.maxWorkBytes = 1
        for n in 0..<3 { try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b\(n).ndjson", spool: harness.config.spool) }
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 3)
        // Intake pauses at least between each claim (twice for three batches) and every pause ends;
        // the health timer may see one more while the last delta is in work/.
        let pauses = recorder.messages.filter { $0.contains("intake paused") }.count
        let resumes = recorder.messages.filter { $0.contains("intake resumed") }.count
        #expect(pauses >= 2 && resumes >= 2 && pauses - resumes <= 1, "paused \(pauses), resumed \(resumes)")
        #expect(recorder.contains("reason=work area holds"))
        #expect(names(harness.spool.incoming) == [])
    }

    @Test func writerCrashLoopPausesEveryWriter() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.letWritersReportOutsideTheirOutput()
        harness.config.retry.maxAttempts = 2
        harness.config.restartIntensity = RestartIntensity(maxFailures: 2, windowMs: 60_000, pauseMs: 300)
        let runs = harness.root + "/runs"
        harness.config.writerCommand = [try TestSupport.script("date +%s%N >> \(runs); exit 1", at: harness.root + "/broken.sh")]
        for n in 0..<3 { try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b\(n).ndjson", spool: harness.config.spool) }
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.failed == 3)
        #expect(names(harness.spool.failed).count == 3)
        #expect(recorder.contains("writer crash loop: pausing every writer"))
        // Six runs in all: the breaker held some back, it did not drop any.
        let starts = try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").compactMap { Int64($0) }
        #expect(starts.count == 6)
        // After the third failure trips it, the next run waits out the pause.
        let gaps = zip(starts.sorted().dropFirst(), starts.sorted()).map { ($0 - $1) / 1_000_000 }
        #expect(gaps.contains { $0 >= 250 }, "gaps in ms: \(gaps)")
    }

    @Test func gcRemovesOrphansAndGivenUpDeltasOfThisHostOnly() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        #expect(try await harness.runOnce().shipped == 1)
        let shipped = try #require(try harness.shippedDeltas().first)
        let store = FileStore(location: harness.config.store)
        let orphan = "test-host/20261125T140509123Z-0000000001"
        let givenUp = "20261125T140509123Z-0000000002"
        let otherHost = "other-host/20261125T140509123Z-0000000003"
        try await store.put(key: orphan + "/files/a.zst", bytes: [1], ifAbsent: false)
        try await store.put(key: "test-host/\(givenUp)/manifest.json", bytes: [2], ifAbsent: false)
        try await store.put(key: "test-host/\(givenUp)/files/a.zst", bytes: [3], ifAbsent: false)
        try await store.put(key: otherHost + "/files/a.zst", bytes: [4], ifAbsent: false)
        try FileManager.default.createDirectory(atPath: harness.spool.failed + "/" + givenUp, withIntermediateDirectories: true)
        harness.config.gcGraceMs = 0
        let result = try await Supervisor(config: harness.config, logger: PipelineHarness.logger).collectGarbageOnce()
        #expect(result.deltas == 2 && result.objects == 3 && result.abortedUploads == 0, "\(result)")
        #expect(try await store.list(prefix: "").map(\.key).sorted() == [
            otherHost + "/files/a.zst", "test-host/\(shipped)/files/delta.sqlite3.zst", "test-host/\(shipped)/manifest.json",
        ])
        #expect(try await harness.verify(shipped).status == 0)
    }

    @Test func badWriterCommandIsAConfigurationError() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        let result = try await TestSupport.run([TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool,
                                          "--writer", "/nonexistent/writer --flag"], cwd: harness.root)
        #expect(result.status == 78)
        #expect(result.stderr.contains("writer command /nonexistent/writer is not an executable file"))
        // Nothing was claimed.
        #expect(names(harness.spool.incoming) == ["b.ndjson"])
    }
}

/// Polls `condition` until it holds, failing the test after `timeout`.
func waitUntil(timeout: Duration = .seconds(10), _ condition: () async -> Bool,
               sourceLocation: SourceLocation = #_sourceLocation) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !(await condition()) {
        if clock.now > deadline {
            Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
            return
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
