import DeltaSealCore
import DeltaSealDelta
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// What crosses the spool's boundary: batches still being written, entries that can never be
/// claimed, names too long to derive from, batches changed after the claim, writer output that
/// breaks the delta's limits or is still being written by a leftover process.
@Suite struct IntakeTests {
    func names(_ path: String) -> [String] { (try? Files.list(path)) ?? [] }

    func failureReport(_ harness: PipelineHarness) throws -> [String: Any] {
        let id = try #require(names(harness.spool.failed).first)
        let data = try Data(contentsOf: URL(fileURLWithPath: harness.spool.failed + "/" + id + "/report.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    @Test func batchHeldOpenForWritingIsNeverClaimedHalfWritten() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try Files.makeDirectories(harness.spool.incoming)
        let batch = harness.spool.incoming + "/direct.ndjson"
        let go = harness.root + "/go"
        let lines = (0..<20).map { TestSupport.record("r\($0)") }
        // A producer that writes under the final name, holding the file open between writes.
        let producer = Process()
        producer.executableURL = URL(fileURLWithPath: "/bin/bash")
        producer.arguments = ["-c", """
            exec 3>"$1"
            printf '%s\\n' "${@:3:4}" >&3
            while [ ! -e "$2" ]; do sleep 0.01; done
            printf '%s\\n' "${@:7}" >&3
            exec 3>&-
            """, "producer", batch, go] + lines
        try producer.run()
        try await waitUntil { ((try? Files.readAll(batch)) ?? []).filter { $0 == 10 }.count == 4 }
        let first = try await harness.runOnce()
        #expect(first.shipped == 0 && first.deferred == 1, "\(first)")
        #expect(names(harness.spool.incoming) == ["direct.ndjson"])
        #expect(try harness.shippedDeltas() == [])

        try TestSupport.write("", to: go)
        #expect(await TestSupport.exitStatus(of: producer) == 0)
        let second = try await harness.runOnce()
        #expect(second.shipped == 1, "\(second)")
        let id = try #require(try harness.shippedDeltas().first)
        #expect(try harness.manifest(id).recordCount == 20)
    }

    @Test func aProducerOpeningABatchWhileIntakeLeasesItDoesNotKillTheSupervisor() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let batch = root + "/b.ndjson"
        try TestSupport.write(TestSupport.batch(records: 2), to: batch)
        // A producer that opens the batch for writing again and again: an open while the check
        // holds its read lease breaks the lease, and the kernel signals the holder (this test
        // process, as it would be the supervisor). With the default signal, SIGIO, that kills it.
        let opener = Process()
        opener.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        opener.arguments = ["-c", """
            import os, sys
            parent = os.getppid()
            open(sys.argv[2], "w").close()
            # Also ends when this test process is gone: a killed test must fail, not hang.
            while not os.path.exists(sys.argv[3]) and os.getppid() == parent:
                os.close(os.open(sys.argv[1], os.O_WRONLY))
            """, batch, root + "/started", root + "/stop"]
        opener.standardOutput = FileHandle.nullDevice
        opener.standardError = FileHandle.nullDevice
        try opener.run()
        // A failing expectation still stops it; the wait for its exit is at the end.
        defer {
            try? TestSupport.write("", to: root + "/stop")
            if opener.isRunning { kill(opener.processIdentifier, SIGKILL) }
        }
        try await waitUntil(timeout: .seconds(30)) { Files.exists(root + "/started") }
        // 2,000 checks in a row, then, until both answers came (on a loaded machine the producer
        // may have had no CPU meanwhile), one check at a time that leaves the thread between them.
        var answers = (closed: 0, open: 0)
        func check() {
            if case .closed = OpenForWriting.check(batch) { answers.closed += 1 } else { answers.open += 1 }
        }
        for _ in 0..<2_000 { check() }
        let deadline = ContinuousClock.now + .seconds(30)
        while answers.closed == 0 || answers.open == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(2))
            check()
        }
        // Alive to count: both answers came (the producer is between opens, or inside one).
        #expect(answers.closed > 0 && answers.open > 0, "\(answers)")
        try TestSupport.write("", to: root + "/stop")
        #expect(await TestSupport.exitStatus(of: opener) == 0)
    }

    @Test func batchWrittenInPlaceWaitsForTheSettleTime() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.intakeSettle = .seconds(2)
        try TestSupport.write(TestSupport.batch(records: 3), to: harness.spool.incoming + "/fresh.ndjson")
        let recorder = LogRecorder()
        let started = ContinuousClock.now
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 1, "\(summary)")
        // It was written a moment ago and not renamed into place: it was left alone that long.
        #expect(ContinuousClock.now - started >= .milliseconds(1900))
    }

    @Test func renamedBatchIsClaimedAtOnceByARunningDaemon() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try harness.spool.prepare()
        // A daemon process of its own (not in this busy test process), with a settle time no
        // test would wait for: a renamed batch must not wait for it at all.
        var environment = ProcessInfo.processInfo.environment
        environment["DELTASEAL_INTAKE_SETTLE"] = "600"
        let daemon = try Daemon([TestSupport.supervisor, "start", "--spool", harness.config.spool, "--store", harness.storeRoot,
                                 "--host", "test-host", "--metrics-address", ""],
                                environment: environment, cwd: harness.root, log: harness.root + "/log")
        defer { daemon.kill() }
        // Let the daemon watch incoming/ before the batch arrives.
        try await waitUntil(timeout: .seconds(60)) { Files.exists(harness.config.spool + "/status.json") }
        try TestSupport.dropBatch(TestSupport.batch(records: 4), named: "renamed.ndjson", spool: harness.config.spool)
        try await waitUntil(timeout: .seconds(120)) { ((try? harness.shippedDeltas()) ?? []).count == 1 }
        let id = try #require(try harness.shippedDeltas().first)
        try await waitUntil(timeout: .seconds(60)) { ((try? harness.spool.workInProgress()) ?? []).isEmpty }
        #expect(try harness.manifest(id).recordCount == 4)
    }

    @Test func entriesThatCanNeverBeClaimedAreReportedAndFailTheRun() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try harness.spool.prepare()
        let incoming = harness.spool.incoming
        // A name that is not UTF-8, a directory and a FIFO under batch names.
        let raw = Array((incoming + "/bad-\u{1}").utf8) + [0xFF] + Array(".ndjson".utf8)
        let fd = raw.withUnsafeBufferPointer { buffer -> Int32 in
            var bytes = Array(buffer) + [0]
            return bytes.withUnsafeMutableBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644) }
        }
        #expect(fd >= 0)
        close(fd)
        try Files.makeDirectories(incoming + "/dir.ndjson")
        #expect(mkfifo(incoming + "/pipe.ndjson", 0o644) == 0)
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "good.ndjson", spool: harness.config.spool)
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 1)
        #expect(summary.unclaimable == 3)
        #expect(!summary.allShipped)
        let reports = recorder.messages.filter { $0.contains("cannot claim an entry of incoming/") }
        #expect(reports.count == 3, "\(reports)")
        #expect(reports.contains { $0.contains("not valid UTF-8") && $0.contains("\\u{1}") })
        #expect(reports.contains { $0.contains("dir.ndjson") && $0.contains("directory") })
        #expect(reports.contains { $0.contains("pipe.ndjson") && $0.contains("fifo") })
        #expect(!recorder.messages.contains { $0.contains("\u{1}") })
        #expect(harness.spool.queueDepths()["unclaimable"] == 3)
        // The command line: --once exits non-zero with them still there.
        let result = try await TestSupport.run([TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool,
                                          "--store", harness.storeRoot, "--host", "test-host", "--log-level", "error"],
                                         cwd: harness.root)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(try Files.listRaw(incoming).count == 3)
    }

    @Test func longBatchNameIsRejectedUnderABoundedName() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let name = String(repeating: "n", count: 240) + ".ndjson"
        try TestSupport.dropBatch("not json\n", named: name, spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.rejected == 1)
        let rejected = names(harness.spool.rejected)
        #expect(rejected.count == 2, "\(rejected)")
        #expect(rejected.allSatisfy { $0.utf8.count <= Spool.maxDerivedNameBytes + ".report.json".utf8.count })
        let reportName = try #require(rejected.first { $0.hasSuffix(".report.json") })
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: harness.spool.rejected + "/" + reportName))) as! [String: Any]
        #expect(report["batch"] as? String == name)
        #expect(rejected.contains(report["stored_as"] as? String ?? "-"))
        #expect(names(harness.spool.work) == [])
    }

    /// A writer that tries to empty its input, then fails: a retry would find "no records".
    func truncatingWriter(_ harness: PipelineHarness) throws -> String {
        try TestSupport.script("""
            input="$2"
            ls -ln "$input" > "$TMPDIR/mode"
            chmod u+w "$input" 2>/dev/null; : > "$input"
            cp "$TMPDIR/mode" \(harness.root)/mode 2>/dev/null
            exit 1
            """, at: harness.root + "/truncate.sh")
    }

    @Test func sandboxedWriterCannotChangeItsBatch() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.retry.maxAttempts = 2
        harness.config.writerCommand = [try truncatingWriter(harness)]
        let text = TestSupport.batch(records: 5)
        try TestSupport.dropBatch(text, named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        // Both attempts failed as the writer said (exit 1), the batch is intact in failed/.
        #expect(summary.failed == 1 && summary.rejected == 0, "\(summary)")
        let report = try failureReport(harness)
        #expect((report["reason"] as? String)?.contains("writer exited with status 1") == true, "\(report)")
        #expect(report["attempts"] as? Int == 2)
        let id = try #require(names(harness.spool.failed).first)
        #expect(try String(contentsOfFile: harness.spool.failed + "/" + id + "/batches/b.ndjson", encoding: .utf8) == text)
        // Nor could it leave anything outside its output and tmp.
        #expect(!Files.exists(harness.root + "/mode"))
    }

    @Test func batchChangedByAnUnconfinedWriterIsKeptInFailedNotRejected() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.letWritersReportOutsideTheirOutput()
        harness.config.writerCommand = [try truncatingWriter(harness)]
        let text = TestSupport.batch(records: 5)
        try TestSupport.dropBatch(text, named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.failed == 1 && summary.rejected == 0, "\(summary)")
        #expect(names(harness.spool.rejected) == [])
        // The claimed copy was read-only, owned by the supervisor.
        #expect(try String(contentsOfFile: harness.root + "/mode", encoding: .utf8).hasPrefix("-r--r--r-- 1 0 0"))
        let report = try failureReport(harness)
        let reason = report["reason"] as? String ?? ""
        #expect(reason.contains("batch b.ndjson changed after it was claimed"), "\(reason)")
        #expect(reason.contains("it was \(text.utf8.count) bytes"), "\(reason)")
        #expect(report["attempts"] as? Int == 1)
        let id = try #require(names(harness.spool.failed).first)
        #expect(Files.exists(harness.spool.failed + "/" + id + "/batches/b.ndjson"))
    }

    @Test func leftoverProcessWorkingInsideTheOutputIsCaughtByTheSeal() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.retry.maxAttempts = 2
        // On its first attempt the writer leaves a process whose working directory is inside
        // the delta, appending by relative path between which it holds no descriptor.
        harness.config.writerCommand = [try TestSupport.script("""
            \(TestSupport.writer) "$@" || exit $?
            out="${@: -1}"
            if [ "$DELTASEAL_ATTEMPT" = 1 ]; then
                (cd "$out" && exec bash -c 'while true; do echo x >> extra.log; sleep 0.01; done') &
                while [ ! -s "$out/extra.log" ]; do sleep 0.01; done
            fi
            exit 0
            """, at: harness.root + "/leave.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 1, "\(summary)")
        #expect(recorder.contains("[cwd]"), "\(recorder.messages.filter { $0.contains("attempt failed") })")
        let id = try #require(try harness.shippedDeltas().first)
        #expect(try harness.manifest(id).files.map(\.path) == ["delta.sqlite3"])
    }

    @Test func writerOutputPastTheDeltaLimitsFailsAtOnceAndUploadsNothing() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.writerCommand = [try TestSupport.script("""
            out="${@: -1}"
            mkdir -p "$out"
            cd "$out" && touch $(seq -f 'f%05g' 1 \(DeltaLimits.maxFiles + 1))
            """, at: harness.root + "/many.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 1), named: "b.ndjson", spool: harness.config.spool)
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.failed == 1, "\(summary)")
        let report = try failureReport(harness)
        #expect((report["reason"] as? String)?.contains("a delta holds at most \(DeltaLimits.maxFiles)") == true, "\(report)")
        // The limit is never retried: the attempt that met it was the last. (On a loaded machine
        // an earlier attempt may fail for a reason of its own; the log says which.)
        let retries = recorder.messages.filter { $0.contains("attempt failed, retrying") }
        #expect(report["attempts"] as? Int == 1 + retries.count, "\(report) \(retries)")
        #expect(!retries.contains { $0.contains("a delta holds at most") }, "\(retries)")
        #expect(try harness.shippedDeltas() == [])
        #expect(!Files.exists(harness.storeRoot + "/" + harness.config.host))
    }
}
