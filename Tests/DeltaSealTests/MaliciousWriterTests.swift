import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// Writers that attack the host, run by the real supervisor under the default sandbox (or, where
/// the seal itself is under test, deliberately without it). Each case asserts that no secret
/// reaches the store or the logs, that no file outside the spool changed (mode, size, mtime,
/// hash), that the batch is intact, and why the delta shipped or failed.
@Suite(.serialized) struct MaliciousWriterTests {
    /// What a file outside the spool looks like, to compare before and after.
    struct Fingerprint: Equatable {
        var mode: mode_t, size: Int64, mtime: Int, links: UInt64, sha256: String
        init(_ path: String) throws {
            var st = stat()
            guard lstat(path, &st) == 0 else { throw SystemError("lstat", path, errno: errno) }
            mode = st.st_mode
            size = Int64(st.st_size)
            mtime = st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec
            links = UInt64(st.st_nlink)
            sha256 = SHA256Stream.hex(of: try Files.readAll(path))
        }
    }

    static let secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCY-SECRET"

    /// Every byte under `root` (files only), for looking for a secret.
    func everything(under root: String) -> [UInt8] {
        TestSupport.files(under: root).flatMap { (try? Files.readAll(root + "/" + $0)) ?? [] }
    }

    func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let bytes = Array(needle.utf8)
        guard haystack.count >= bytes.count else { return false }
        return (0...(haystack.count - bytes.count)).contains { haystack[$0..<($0 + bytes.count)].elementsEqual(bytes) }
    }

    /// An outside file owned by root, mode 0600, like a credentials file.
    func outsideFile(_ harness: PipelineHarness, _ name: String) throws -> String {
        let path = harness.root + "/outside-" + name
        try TestSupport.write("aws_secret_access_key = \(Self.secret)\n", to: path)
        chmod(path, 0o600)
        return path
    }

    @Test func writerCannotReadTheSupervisorsEnvironmentOrEscapeItsOutput() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let target = try outsideFile(harness, "credentials")
        let before = try Fingerprint(target)
        // Tries every way to the secret and out of its box, then writes a good delta anyway.
        let writer = try TestSupport.script("""
            out="${@: -1}"; input="$2"
            mkdir -p "$out/loot"
            cat /proc/$PPID/environ > "$out/loot/parent-environ" 2>/dev/null
            for f in /proc/[0-9]*/environ; do cat "$f" 2>/dev/null; done > "$out/loot/all-environ"
            ln \(target) "$out/loot/linked" 2>/dev/null
            ln -s \(target) "$out/loot/symlink" 2>/dev/null && rm -f "$out/loot/symlink"
            cat \(target) > "$out/loot/copied" 2>/dev/null
            echo pwned > \(target) 2>/dev/null
            echo pwned > \(harness.root)/escaped 2>/dev/null
            echo pwned > /tmp/deltaseal-escaped-$$ 2>/dev/null
            mv "$input" "$input.moved" 2>/dev/null
            : > "$input" 2>/dev/null
            \(TestSupport.writer) "$@"
            """, at: harness.root + "/evil.sh")
        let text = TestSupport.batch(records: 6)
        try TestSupport.dropBatch(text, named: "b.ndjson", spool: harness.config.spool)
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_SECRET_ACCESS_KEY"] = Self.secret
        environment["AWS_SESSION_TOKEN"] = Self.secret + "-token"
        environment["DELTASEAL_INTAKE_SETTLE"] = "0.1"
        let result = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
             "--host", "test-host", "--writer", writer, "--metrics-address", "", "--log-level", "debug"],
            cwd: harness.root, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        let id = try #require(try harness.shippedDeltas().first)
        await #expect(try harness.verify(id).status == 0)
        // No secret anywhere it could have been carried: the store, the spool, the logs.
        for place in [everything(under: harness.storeRoot), everything(under: harness.config.spool),
                      Array(result.stderr.utf8), Array(result.stdout.utf8)] {
            #expect(!contains(place, Self.secret), "the secret leaked")
        }
        // Nothing outside changed or appeared; the batch was shipped as claimed.
        #expect(try Fingerprint(target) == before)
        #expect(!Files.exists(harness.root + "/escaped"))
        #expect(try harness.manifest(id).sources[0].sha256 == SHA256Stream.hex(of: Array(text.utf8)))
        // The hard link was refused; whatever else it wrote holds nothing of the target's.
        #expect(!(try harness.manifest(id).files.map(\.path)).contains("loot/linked"))
        #expect(!contains(everything(under: harness.storeRoot), "aws_secret_access_key"))
        if Sandbox.landlockABI == nil { print("skipped (partly): this kernel has no Landlock; only the user and the seal confined the writer") }
    }

    @Test func sealNeverShipsOrChangesAHardLinkedFile() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        // Without the sandbox (as root, no Landlock) the link can be made: the seal must refuse it.
        harness.letWritersReportOutsideTheirOutput()
        harness.config.retry.maxAttempts = 1
        let target = try outsideFile(harness, "shadow")
        let database = harness.root + "/other-app.sqlite3"
        let made = try await TestSupport.run(["/usr/bin/env", "python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1]); db.execute("pragma journal_mode=wal"); db.execute("pragma wal_autocheckpoint=0")
            db.execute("create table t(x)"); db.execute("insert into t values (1)"); db.commit()
            import os; os._exit(0)  # no close: the WAL keeps its frames, as a crashed application leaves it
            """, database])
        try #require(made.status == 0, "\(made.stderr)")
        try #require(try Files.size(database + "-wal") > 0)
        let watched = [target, database, database + "-wal"]
        let before = try watched.map(Fingerprint.init)
        for (n, link) in ["ln \(target) \"$out/stolen\"", "ln \(database) \"$out/app.sqlite3\"; ln \(database)-wal \"$out/app.sqlite3-wal\""].enumerated() {
            harness.config.writerCommand = [try TestSupport.script("""
                out="${@: -1}"
                \(TestSupport.writer) "$@" || exit $?
                \(link)
                """, at: harness.root + "/link-\(n).sh")]
            try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b\(n).ndjson", spool: harness.config.spool)
            let summary = try await harness.runOnce()
            #expect(summary.failed == 1, "\(summary)")
        }
        #expect(try watched.map(Fingerprint.init) == before, "a file outside the spool changed")
        let reasons = try Files.list(harness.spool.failed).map { id in
            try String(contentsOfFile: harness.spool.failed + "/" + id + "/report.json", encoding: .utf8)
        }
        #expect(reasons.count == 2)
        #expect(reasons.allSatisfy { $0.contains("hard links: a file linked from elsewhere is never shipped or changed") }, "\(reasons)")
        #expect(try harness.shippedDeltas() == [])
        // The other application's database is still in WAL mode with its frames.
        let mode = try await TestSupport.run(["/usr/bin/env", "python3", "-c",
                                        "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma journal_mode').fetchone()[0])", database])
        #expect(mode.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "wal")
    }

    @Test func floodedOutputKeepsTheLogAndTheSupervisorSmall() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let writer = try TestSupport.script("""
            head -c 100000000 /dev/zero | tr '\\0' x >&2
            echo THE-LAST-LINE >&2
            exit 1
            """, at: harness.root + "/flood.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        var environment = ProcessInfo.processInfo.environment
        environment["DELTASEAL_INTAKE_SETTLE"] = "0.1"
        environment["DELTASEAL_WRITER_LOG_LIMIT"] = "65536"
        let result = try await TestSupport.run(
            ["/usr/bin/time", "-f", "maxrss_kib=%M", TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool,
             "--store", harness.storeRoot, "--host", "test-host", "--writer", writer, "--metrics-address", "", "--max-attempts", "1",
             "--log-level", "error"],
            cwd: harness.root, environment: environment)
        #expect(result.status == 1)
        let id = try #require(try Files.list(harness.spool.failed).first)
        let log = try Files.readAll(harness.spool.failed + "/" + id + "/writer.log")
        #expect(log.count <= 65536)
        #expect(String(decoding: log.suffix(14), as: UTF8.self) == "THE-LAST-LINE\n")
        // 100 MB went through the supervisor; its peak stayed far below it.
        let peak = result.stderr.split(separator: "\n").compactMap { $0.hasPrefix("maxrss_kib=") ? Int($0.dropFirst(11)) : nil }.last ?? .max
        #expect(peak < 80 * 1024, "supervisor peak RSS \(peak) KiB")
    }

    @Test func writerFillingItsTmpPastItsLimitFailsAndKeepsTheBatch() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.retry.maxAttempts = 2
        harness.config.writerLimits.fileSizeBytes = 1 << 20
        harness.config.writerCommand = [try TestSupport.script("""
            exec head -c 10000000 /dev/zero > "$TMPDIR/huge"
            """, at: harness.root + "/fill.sh")]
        let text = TestSupport.batch(records: 3)
        try TestSupport.dropBatch(text, named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.failed == 1, "\(summary)")
        let id = try #require(try Files.list(harness.spool.failed).first)
        let report = try String(contentsOfFile: harness.spool.failed + "/" + id + "/report.json", encoding: .utf8)
        #expect(report.contains("signal \(SIGXFSZ)") || report.contains("File too large"), "\(report)")
        #expect(try String(contentsOfFile: harness.spool.failed + "/" + id + "/batches/b.ndjson", encoding: .utf8) == text)
    }

    @Test func escapedDaemonCannotReachOutsideAndTheDeltaIsDecidedForAReason() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        var config = harness.config
        let marker = "deltaseal-daemon-\(UInt32.random(in: 0 ... .max))"
        let target = try outsideFile(harness, "target")
        let before = try Fingerprint(target)
        // Double-forks a setsid daemon that keeps writing into the output and at the target.
        config.writerCommand = [try TestSupport.script("""
            out="${@: -1}"
            \(TestSupport.writer) "$@" || exit $?
            setsid bash -c 'while true; do echo x >> "$1/daemon.log"; echo x >> \(target); sleep 0.01; done' \(marker) "$out" </dev/null >/dev/null 2>&1 &
            while [ ! -s "$out/daemon.log" ]; do sleep 0.01; done
            exit 0
            """, at: harness.root + "/daemon.sh")]
        config.retry.maxAttempts = 1
        defer {
            // Synchronous (a defer cannot await); pkill returns at once.
            let pkill = Process()
            pkill.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
            pkill.arguments = ["-KILL", "-f", marker]
            if (try? pkill.run()) != nil { pkill.waitUntilExit() }
        }
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: config.spool)
        let summary = try await Supervisor(config: config, logger: PipelineHarness.logger).run(once: true)
        // Either the seal saw it holding the log (failed, and named), or what shipped verifies.
        #expect(summary.shipped + summary.failed == 1)
        if let id = try harness.shippedDeltas().first { await #expect(try harness.verify(id).status == 0) }
        #expect(try Fingerprint(target) == before, "the escaped daemon changed a file outside its output")
        // Where writers get a cgroup each, the escaped daemon died with it.
        switch CgroupDelegation.detect(wantControllers: false, scope: "test-probe") {
        case .delegated(let probe):
            probe.removeBase()
            let survivors = try await TestSupport.run(["/usr/bin/pgrep", "-f", marker])
            #expect(survivors.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "still running: \(survivors.stdout)")
        case .unavailable(let why):
            print("skipped (partly): \(why); the escaped daemon is not killed with a cgroup")
        }
    }

    @Test func credentialLikeWriterEnvironmentIsRefusedUnlessForced() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        for (names, status) in [("AWS_SECRET_ACCESS_KEY", 78), ("VENDOR_API_TOKEN", 78), ("GOOGLE_APPLICATION_CREDENTIALS", 78),
                                ("LANGUAGE,!VENDOR_API_TOKEN", 0)] {
            var environment = ProcessInfo.processInfo.environment
            environment["DELTASEAL_WRITER_ENVIRONMENT"] = names
            let result = try await TestSupport.run([TestSupport.supervisor, "config", "check"], cwd: dir, environment: environment)
            #expect(result.status == Int32(status), "\(names): \(result.stdout) \(result.stderr)")
            if status != 0 { #expect((result.stdout + result.stderr).contains("looks like a credential"), "\(result.stderr)") }
        }
    }
}
