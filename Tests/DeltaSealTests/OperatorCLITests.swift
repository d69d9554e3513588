import DeltaSealCore
import DeltaSealDelta
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// The operator's surface told the truth: store URLs, the configuration file's variables,
/// `config check` and `start` agreeing (exit codes included), the reload log line, the commands'
/// arguments and help, the verifier over a range, the launchers and the installer. Real
/// executables throughout, with stdin not a terminal, as under systemd.
@Suite(.timeLimit(.minutes(5)))
struct OperatorCLITests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func supervisor(_ arguments: [String], in dir: String, environment extra: [String: String] = [:],
                    removing: [String] = []) async throws -> TestSupport.Result {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        for key in removing { environment[key] = nil }
        return try await TestSupport.run([TestSupport.supervisor] + arguments, cwd: dir, environment: environment)
    }

    /// Flags that keep a check local and free of shared ports.
    static let quiet = ["--metrics-address", ""]

    // MARK: - Store URLs

    @Test(arguments: [
        ("s3:/deltas/prod", "is not s3://BUCKET/PREFIX"),
        ("s3:///prod", "names no bucket"),
        ("s3://", "names no bucket"),
        ("s3://Deltas_Prod/x", "invalid bucket name"),
        ("s3://ab/x", "must be 3-63 characters"),
        ("ftp://host/x", "unsupported scheme ftp:"),
        ("file://relative/x", "is not absolute"),
        ("deltas/prod", "is a relative path and stdin is not a terminal"),
    ])
    func storeURLsThatAreNotWhatTheySeemAreExit78AndShipNothing(_ url: String, _ reason: String) async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.dropBatch(TestSupport.batch(records: 1), named: "b.ndjson", spool: dir + "/spool")
        let start = try await supervisor(["start", "--once", "--spool", dir + "/spool", "--store", url] + Self.quiet, in: dir)
        #expect(start.status == 78, "\(start.stderr)")
        #expect(start.stderr.contains(reason), "\(start.stderr)")
        #expect(try Files.list(dir + "/spool/incoming") == ["b.ndjson"])
        #expect(try Files.list(dir) == ["spool"], "nothing may be created beside the spool")
        let check = try await supervisor(["config", "check", "--offline", "--spool", dir + "/spool", "--store", url] + Self.quiet, in: dir)
        #expect(check.status == 78)
        #expect(check.stderr.contains(reason))
    }

    @Test func tildeIsTheHomeDirectoryForStoreAndSpool() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let check = try await supervisor(["config", "check", "--offline", "--spool", "~/spool", "--store", "~/deltas"] + Self.quiet, in: "/",
                                   environment: ["HOME": dir])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("\nstore: file://\(dir)/deltas\n"), "\(check.stdout)")
        #expect(check.stdout.hasPrefix("spool: \(dir)/spool\n"), "\(check.stdout)")
        #expect(Files.isDirectory(dir + "/spool/incoming"), "config check creates the spool as start does")
    }

    // MARK: - The configuration file

    @Test func variablesInTheFileExpandAndAMissingOneNamesItsLine() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.write("spool: ${BASE}/spool\nstore: file://$BASE/store\nhost: ingest-${N}\nwriter:\n  command: /bin/echo $$HOME\n",
                              to: dir + "/deltaseal.yaml")
        let check = try await supervisor(["config", "check", "--offline", "--config", "deltaseal.yaml"] + Self.quiet, in: dir,
                                   environment: ["BASE": dir, "N": "7"])
        #expect(check.status == 0, "\(check.stderr)")
        for line in ["spool: \(dir)/spool", "store: file://\(dir)/store", "host: ingest-7", "writer.command: /bin/echo $HOME"] {
            #expect(check.stdout.contains(line + "\n"), "\(line) missing from \(check.stdout)")
        }
        let missing = try await supervisor(["config", "check", "--offline", "--config", "deltaseal.yaml"] + Self.quiet, in: dir,
                                     environment: ["BASE": dir], removing: ["N"])
        #expect(missing.status == 78)
        #expect(missing.stderr.contains("deltaseal.yaml:3: host: ${N} is not set"), "\(missing.stderr)")
        let start = try await supervisor(["start", "--once", "--config", "deltaseal.yaml"] + Self.quiet, in: dir,
                                   environment: ["BASE": dir], removing: ["N"])
        #expect(start.status == 78)
        #expect(start.stderr.contains("${N} is not set"))
        // Opting out takes the text as it is.
        try TestSupport.write("spool: \(dir)/spool\nstore: \(dir)/st$ore\n", to: dir + "/literal.yaml")
        let literal = try await supervisor(["config", "check", "--offline", "--config", "literal.yaml", "--no-expand-env"] + Self.quiet, in: dir)
        #expect(literal.stdout.contains("store: file://\(dir)/st$ore\n"), "\(literal.stdout)\(literal.stderr)")
        let byVariable = try await supervisor(["config", "check", "--offline", "--config", "literal.yaml"] + Self.quiet, in: dir,
                                        environment: ["DELTASEAL_NO_EXPAND_ENV": "1"])
        #expect(byVariable.status == 0, "\(byVariable.stderr)")
        let expanded = try await supervisor(["config", "check", "--offline", "--config", "literal.yaml"] + Self.quiet, in: dir, removing: ["ore"])
        #expect(expanded.status == 78)
        #expect(expanded.stderr.contains("literal.yaml:2: store: ${ore} is not set"), "\(expanded.stderr)")
    }

    @Test func unknownVariablesAreNamedWithTheClosestSettingAndFractionsAreAccepted() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let check = try await supervisor(["config", "check", "--offline", "--spool", dir + "/spool", "--store", dir + "/store",
                                    "--stall-timeout", "2.5"] + Self.quiet, in: dir,
                                   environment: ["DELTASEAL_WRITER_TIMOUT": "3"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("s3.stall_timeout: 2.5\n"))
        #expect(check.stdout.contains("# warning: environment variable DELTASEAL_WRITER_TIMOUT is not a DeltaSeal setting; it is ignored (did you mean DELTASEAL_WRITER_TIMEOUT?)"),
                "\(check.stdout)")
    }

    // MARK: - config check and start agree

    @Test func configCheckAndStartAgreeOnEveryProblemAndItsExitStatus() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.write("not a directory", to: dir + "/file")
        let noAWS = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]
        let awsFiles = ["AWS_SHARED_CREDENTIALS_FILE": dir + "/none", "AWS_CONFIG_FILE": dir + "/none", "HOME": dir]
        var cases: [(args: [String], env: [String: String], status: Int32, message: String)] = [
            (["--spool", dir + "/file/spool", "--store", dir + "/store"], [:], 73, "spool \(dir)/file/spool cannot be created"),
            (["--spool", dir + "/spool", "--store", "s3://deltas-test/x"], awsFiles, 78, "s3 credentials: "),
            (["--spool", dir + "/spool", "--store", dir + "/store", "--writer", "no-such-writer-anywhere"], [:], 78,
             "writer command no-such-writer-anywhere is not on PATH"),
            (["--spool", dir + "/spool", "--store", dir + "/store", "--metrics-address", "no-such-host.invalid:9464"], [:], 78,
             "metrics.address: no-such-host.invalid:9464: host no-such-host.invalid does not resolve"),
        ]
        if geteuid() == 0 {
            // Runnable by root, not by the writers' user: a private directory on the way.
            try FileManager.default.createDirectory(atPath: dir + "/private", withIntermediateDirectories: true)
            chmod(dir + "/private", 0o700)
            let writer = try TestSupport.script("exec \(TestSupport.writer) \"$@\"", at: dir + "/private/writer.sh")
            cases.append((["--spool", dir + "/spool", "--store", dir + "/store", "--writer", writer], [:], 78,
                          "cannot be run by the writers' user: \(dir)/private is not searchable"))
        }
        for c in cases {
            let metrics = c.args.contains("--metrics-address") ? [] : Self.quiet
            let check = try await supervisor(["config", "check", "--offline"] + c.args + metrics, in: dir, environment: c.env, removing: noAWS)
            #expect(check.status == c.status, "config check \(c.args): \(check.stderr)")
            #expect(check.stderr.contains(c.message), "config check \(c.args): \(check.stderr)")
            let start = try await supervisor(["start", "--once"] + c.args + metrics, in: dir, environment: c.env, removing: noAWS)
            #expect(start.status == c.status, "start \(c.args): \(start.stderr)")
            #expect(start.stderr.contains(c.message), "start \(c.args): \(start.stderr)")
        }
    }

    @Test func configCheckProbesTheStoreAndResolvesTheMetricsAddress() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let port = try TestSupport.freePort()
        let base = ["config", "check", "--spool", dir + "/spool", "--host", "h1"]
        let fine = try await supervisor(base + ["--store", dir + "/store", "--metrics-address", "localhost:\(port)"], in: dir)
        #expect(fine.status == 0, "\(fine.stderr)")
        #expect(fine.stdout.contains("# metrics: localhost:\(port) binds (127.0.0.1:\(port))"), "\(fine.stdout)")
        #expect(fine.stdout.contains("# store: file://\(dir)/store is writable (PUT and DELETE of h1/.deltaseal-probe)"), "\(fine.stdout)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/store/h1/.deltaseal-probe"))
        // A store that does not answer: 69 (unavailable), not a configuration error; --offline skips it.
        let s3 = ["--store", "s3://deltas-test/x", "--endpoint", "http://127.0.0.1:1", "--stall-timeout", "1"] + Self.quiet
        let credentials = ["AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-value"]
        let down = try await supervisor(base + s3, in: dir, environment: credentials)
        #expect(down.status == 69, "\(down.stdout)\(down.stderr)")
        #expect(down.stdout.contains("# s3 credentials: access key AKIDEXAMPLE from environment (secret redacted)"))
        #expect(!down.stdout.contains("not-a-real-secret-value") && !down.stderr.contains("not-a-real-secret-value"))
        let offline = try await supervisor(base + s3 + ["--offline"], in: dir, environment: credentials)
        #expect(offline.status == 0, "\(offline.stderr)")
    }

    // MARK: - Flags, files and the environment

    @Test func gcGraceComesFromTheFileOrTheEnvironmentUnlessTheFlagIsGivenAndDryRunRemovesNothing() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let orphan = "test-host/20261125T140509123Z-3fa9c01b7e/files/delta.sqlite3.zst"
        try TestSupport.write("left by a crashed attempt", to: harness.storeRoot + "/" + orphan)
        try TestSupport.write("gc:\n  grace: 0\n", to: harness.root + "/deltaseal.yaml")
        let common = ["--spool", harness.config.spool, "--store", harness.storeRoot, "--host", "test-host"]
        let fromFile = try await supervisor(["gc", "--dry-run", "--config", "deltaseal.yaml"] + common, in: harness.root)
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(fromFile.stdout.contains("would remove \(orphan)\n"), "\(fromFile.stdout)")
        #expect(FileManager.default.fileExists(atPath: harness.storeRoot + "/" + orphan), "a dry run removes nothing")
        let fromEnvironment = try await supervisor(["gc", "--dry-run"] + common, in: harness.root, environment: ["DELTASEAL_GC_GRACE": "0"])
        #expect(fromEnvironment.stdout.contains("would remove \(orphan)\n"), "\(fromEnvironment.stdout)")
        let flagWins = try await supervisor(["gc", "--dry-run", "--config", "deltaseal.yaml", "--grace", "3600"] + common, in: harness.root)
        #expect(!flagWins.stdout.contains("would remove test-host"), "\(flagWins.stdout)")
        let real = try await supervisor(["gc", "--config", "deltaseal.yaml"] + common, in: harness.root)
        #expect(real.stdout.contains("removed 1 objects of 1 deltas"), "\(real.stdout)\(real.stderr)")
        #expect(!FileManager.default.fileExists(atPath: harness.storeRoot + "/" + orphan))
    }

    @Test func aReloadListsWhatItAppliedEvenALevelChangedBack() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let file = harness.root + "/deltaseal.yaml"
        let log = harness.root + "/log"
        func logText() -> String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        func reloads() -> [String] { logText().split(separator: "\n").map(String.init).filter { $0.contains("configuration reloaded") } }
        let head = "spool: \(harness.config.spool)\nstore: \(harness.storeRoot)\nmetrics:\n  address: ''\n"
        try TestSupport.write(head + "log:\n  level: info\n", to: file)
        let daemon = try Daemon([TestSupport.supervisor, "start", "--config", file], environment: ProcessInfo.processInfo.environment,
                                cwd: harness.root, log: log)
        try await waitUntil { logText().contains("supervisor started") }
        // Checking the edited file beside the running daemon, before the reload, is no error.
        try TestSupport.write(head + "log:\n  level: debug\n", to: file)
        let beside = try await supervisor(["config", "check", "--config", file], in: harness.root)
        #expect(beside.status == 0, "\(beside.stderr)")
        #expect(beside.stdout.contains("is running on spool \(harness.config.spool); start would exit 75 while it runs"), "\(beside.stdout)")
        daemon.signal(SIGHUP)
        try await waitUntil { reloads().count == 1 }
        try TestSupport.write(head + "log:\n  level: info\nwriter:\n  timeout: 2.5\n", to: file)
        daemon.signal(SIGHUP)
        try await waitUntil { reloads().count == 2 }
        let lines = reloads()
        #expect(lines.first?.contains("\"applied\":\"log.level\"") == true, "\(lines)")
        #expect(lines.last?.contains("\"applied\":\"writer.timeout,log.level\"") == true, "\(lines)")
        daemon.signal(SIGTERM)
        #expect(await daemon.wait() == 0)
    }

    // MARK: - Arguments and help

    @Test func subcommandsListOnlyTheirOwnOptionsAndEveryExecutableHasAVersion() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        for command in [["status"], ["retry"], ["gc"], ["config", "check"]] {
            let help = try await supervisor(command + ["--help"], in: dir)
            #expect(help.status == 0)
            for startOnly in ["--writer-timeout", "--max-in-flight", "--crash-loop-window", "--log-level"] {
                #expect(!help.stdout.contains(startOnly), "\(command) --help lists \(startOnly)")
            }
            #expect(help.stdout.contains("--config"))
        }
        #expect(try await supervisor(["start", "--help"], in: dir).stdout.contains("--writer-timeout"))
        for tool in [TestSupport.supervisor, TestSupport.writer, TestSupport.verifier] {
            let version = try await TestSupport.run([tool, "--version"])
            #expect(version.status == 0)
            #expect(version.stdout.hasPrefix(PathName.lastComponent(of: tool) + " \(DeltaSealVersion.version) (commit "), "\(version.stdout)")
        }
    }

    @Test func retryRefusesWhatIsNotADeltaIDBeforeDoingAnything() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let bad = try await supervisor(["retry", "nonexistent", "--spool", dir + "/spool"], in: dir)
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("not a delta id: nonexistent"), "\(bad.stderr)")
        #expect(!bad.stderr.contains("USAGE") && !bad.stderr.contains("Usage:"), "the reason, not a usage text: \(bad.stderr)")
        let none = try await supervisor(["retry", "--spool", dir + "/spool"], in: dir)
        #expect(none.status == 64)
        #expect(none.stderr.contains("name the delta ids to retry, or --all-failed"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/spool"))
    }

    // MARK: - The verifier

    @Test func verifierListsChecksAndRestoresRangesAndRefusesWhatItCannotRead() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        for n in 0..<2 { try TestSupport.dropBatch(TestSupport.batch(records: 3 + n), named: "b\(n).ndjson", spool: harness.config.spool) }
        let run = try await supervisor(["start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot, "--host", "test-host"]
                                 + Self.quiet, in: harness.root)
        #expect(run.status == 0, "\(run.stderr)")
        let ids = try harness.shippedDeltas().sorted()
        try #require(ids.count == 2)
        let store = "file://" + harness.storeRoot

        let missing = try await TestSupport.run([TestSupport.verifier, "list", "file:///nonexistent-deltaseal-store"])
        #expect(missing.status == 2, "\(missing.stdout)")
        #expect(missing.stderr.contains("/nonexistent-deltaseal-store"))
        let yesterday = try await TestSupport.run([TestSupport.verifier, "list", store, "--since", "yesterday"])
        #expect(yesterday.status == 64)
        #expect(yesterday.stderr.contains("expected an RFC 3339 time"), "\(yesterday.stderr)")
        let recent = try await TestSupport.run([TestSupport.verifier, "list", store, "--since", "24h", "--json"])
        #expect(recent.stdout.split(separator: "\n").count == 2, "\(recent.stdout)\(recent.stderr)")
        let fromSecond = try await TestSupport.run([TestSupport.verifier, "list", store, "--since", ids[1], "--json"])
        #expect(fromSecond.stdout.split(separator: "\n").count == 1 && fromSecond.stdout.contains(ids[1]), "\(fromSecond.stdout)")

        let all = try await TestSupport.run([TestSupport.verifier, "check", store, "--host", "test-host", "--json"])
        #expect(all.status == 0, "\(all.stdout)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any])
        #expect(summary["valid"] as? Int == 2 && summary["status"] as? String == "valid", "\(all.stdout)")
        #expect((summary["deltas"] as? [Any])?.count == 2)
        // The default subcommand still checks one delta.
        #expect(try await TestSupport.run([TestSupport.verifier, harness.deltaURL(ids[0])]).status == 0)

        let latest = harness.root + "/latest"
        let restore = try await TestSupport.run([TestSupport.verifier, "restore", store, "--host", "test-host", "--latest", "--out", latest])
        #expect(restore.status == 0, "\(restore.stdout)")
        #expect(restore.stdout.contains(ids[1]), "\(restore.stdout)")
        let again = try await TestSupport.run([TestSupport.verifier, "restore", harness.deltaURL(ids[0]), "--out", latest, "--json"])
        #expect(again.status == 2)
        #expect(again.stdout.contains("is not empty") && again.stdout.contains("nothing was downloaded"), "\(again.stdout)")
        let refused = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect((refused["requests"] as? [String: Int])?.isEmpty == true, "no request to the store: \(again.stdout)")

        // One damaged delta: the range is invalid, the table says which.
        let object = harness.storeRoot + "/test-host/" + ids[0] + "/files/delta.sqlite3.zst"
        try TestSupport.write("damaged", to: object)
        let damaged = try await TestSupport.run([TestSupport.verifier, "check", store])
        #expect(damaged.status == 1, "\(damaged.stdout)")
        #expect(damaged.stdout.contains("2 deltas: 1 valid, 1 invalid, 0 could not check: invalid"), "\(damaged.stdout)")
    }

    @Test func theSupervisorsVerifierCallAndArgumentParserAgreeOnEveryForm() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let run = try await supervisor(["start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot, "--host", "test-host"]
                                 + Self.quiet, in: harness.root)
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(try harness.shippedDeltas().first)
        let url = harness.deltaURL(id)
        // The report without its timings and request counts, which differ from run to run.
        func verdict(_ arguments: [String]) async throws -> (status: Int32, report: String, stderr: String) {
            let result = try await TestSupport.run([TestSupport.verifier] + arguments)
            guard var report = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
                return (result.status, result.stdout, result.stderr)
            }
            for key in ["duration_ms", "requests", "checked_at"] { report[key] = nil }
            let text = String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self)
            return (result.status, text, result.stderr)
        }
        // The supervisor's shape (read by hand) against the same request in forms only
        // ArgumentParser reads: the subcommand named, options first, `--option=value`.
        for (fast, parsed) in [
            ([url, "--json", "--full"], ["check", url, "--json", "--full"]),
            ([url, "--json", "--quick", "--stall-timeout", "5", "--s3-max-attempts", "2"],
             ["--json", url, "--quick", "--stall-timeout=5", "--s3-max-attempts=2"]),
            ([url, "--quick"], ["check", "--quick", url]),
        ] {
            let a = try await verdict(fast), b = try await verdict(parsed)
            #expect(a.status == 0 && a.status == b.status, "\(fast): \(a.status) \(a.stderr); \(parsed): \(b.status) \(b.stderr)")
            #expect(a.report == b.report, "\(fast) against \(parsed)")
            if fast.contains("--json") {
                let ran = fast.contains("--quick") ? "quick_check" : "integrity_check"
                #expect(a.report.contains("\"sqlite_check\":\"\(ran)\""), "\(fast): \(a.report)")
            }
        }
        // What the hand-read path does not take goes to ArgumentParser, which refuses it as before.
        for (arguments, status, says) in [
            ([url, "--json", "--quick", "--full"], Int32(64), "exclude each other"),
            // A flag given twice: ArgumentParser takes it, and so the fallback does.
            ([url, "--json", "--full", "--json"], 0, "\"status\" : \"valid\""),
            ([url, "--json", "--stall-timeout", "-1"], 64, "stall-timeout"),
            ([url, "--json", "--stall-timeout", "soon"], 64, "stall-timeout"),
            ([url, "--json", "--s3-max-attempts", "0"], 2, "--s3-max-attempts must be at least 1"),
            ([url, "--json", "--addressing", "sideways"], 2, "--addressing must be auto, path or virtual"),
            ([url, "--json", "--no-such-flag"], 64, "no-such-flag"),
            ([url, "--json", "--credentials-file"], 64, "credentials-file"),
        ] {
            let result = try await TestSupport.run([TestSupport.verifier] + arguments)
            #expect(result.status == status, "\(arguments): \(result.status) \(result.stdout) \(result.stderr)")
            #expect((result.stdout + result.stderr).contains(says), "\(arguments): \(result.stdout) \(result.stderr)")
        }
    }

    // MARK: - Launchers, install, helpers

    @Test func anUpToDateLauncherRunsTheExecutableWithoutBuilding() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        // A `swift` that records being called: an up-to-date launcher never calls it.
        _ = try TestSupport.script("echo called >> \(dir)/swift-called; exit 1", at: dir + "/fakebin/swift")
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = dir + "/fakebin:" + (environment["PATH"] ?? "/usr/bin:/bin")
        environment["DELTASEAL_CONFIGURATION"] = "debug"
        guard TestSupport.binDirectory.hasSuffix("/.build/debug") || TestSupport.binDirectory.contains("/.build/") else { return }
        // Not timed (the machine may be busy): what makes a launcher slow is calling the build
        // tool, and the fake one records every call.
        for name in ["writer", "verifier", "supervisor"] {
            let result = try await TestSupport.run([Self.root + "/bin/" + name, "--version"], environment: environment)
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect(result.stdout.hasPrefix("\(name) \(DeltaSealVersion.version)"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/swift-called"))
    }

    /// `--no-build`: a build from inside `swift test` would wait for the lock `swift test` holds.
    @Test func installPutsExecutablesConfigAndUnitUnderThePrefix() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let result = try await TestSupport.run([Self.root + "/bin/install", "--prefix", "/opt/ds", "--destdir", dir + "/stage",
                                          "--configuration", "debug", "--no-build"])
        #expect(result.status == 0, "\(result.stderr)")
        let stage = dir + "/stage"
        for name in ["supervisor", "writer", "verifier", "chroma-writer"] {
            #expect(access(stage + "/opt/ds/bin/" + name, X_OK) == 0, "\(name) not installed")
        }
        let version = try await TestSupport.run([stage + "/opt/ds/bin/supervisor", "--version"])
        #expect(version.stdout.hasPrefix("supervisor \(DeltaSealVersion.version)"))
        let unit = try String(contentsOfFile: stage + "/etc/systemd/system/deltaseal.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/opt/ds/bin/supervisor start --config /etc/deltaseal/deltaseal.yaml"), "\(unit)")
        #expect(unit.contains("RestartPreventExitStatus="))
        let example = stage + "/etc/deltaseal/deltaseal.yaml.example"
        #expect(try String(contentsOfFile: example, encoding: .utf8).contains("command: /opt/ds/bin/writer"))
        // The installed example is a valid configuration, and an existing one is never overwritten.
        try TestSupport.write("# mine\n", to: example)
        #expect(try await TestSupport.run([Self.root + "/bin/install", "--prefix", "/opt/ds", "--destdir", stage, "--configuration", "debug", "--no-build"]).status == 0)
        #expect(try String(contentsOfFile: example, encoding: .utf8) == "# mine\n")
    }

    @Test func chromaWriterFindsTheProjectsVirtualenvWhenItsPythonLacksChromadb() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        // A checkout-shaped directory: bin/chroma-writer and a .venv whose python3 says it ran.
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.root + "/bin/chroma-writer", toPath: dir + "/bin/chroma-writer")
        _ = try TestSupport.script("echo \"venv python ran: $*\"", at: dir + "/.venv/bin/python3")
        // The input is validated first (bad input is rejected without loading chromadb).
        try TestSupport.write(TestSupport.batch(records: 1), to: dir + "/b.ndjson")
        let result = try await TestSupport.run(["/usr/bin/python3", dir + "/bin/chroma-writer", "--input", dir + "/b.ndjson", "--out", dir + "/out"])
        let hasChromadb = try await TestSupport.run(["/usr/bin/python3", "-c", "import chromadb"]).status == 0
        if hasChromadb { return }
        #expect(result.stdout.contains("venv python ran: \(dir)/bin/chroma-writer --input \(dir)/b.ndjson --out \(dir)/out"),
                "\(result.stdout)\(result.stderr)")
        // Without a virtualenv: a clear error, exit 1 (a failure, retried), after the input is validated.
        try Files.removeTree(dir + "/.venv")
        let bare = try await TestSupport.run(["/usr/bin/python3", dir + "/bin/chroma-writer", "--input", dir + "/b.ndjson", "--out", dir + "/out"])
        #expect(bare.status == 1)
        #expect(bare.stderr.contains("cannot import chromadb"), "\(bare.stderr)")
    }

    @Test func theDefaultConfigFileIsReadWhenNoneIsNamed() async throws {
        let file = ConfigLoader.defaultFile
        guard !Files.exists(file) else {
            print("skipped: \(file) exists on this machine; not touched")
            return
        }
        let madeDirectory = !Files.isDirectory(PathName.directory(of: file))
        try Files.makeDirectories(PathName.directory(of: file))
        // A harmless setting: other tests running at the same time never depend on it.
        try TestSupport.write("gc:\n  interval: 7201\n", to: file)
        defer {
            try? Files.removeTree(file)
            if madeDirectory { try? Files.removeTree(PathName.directory(of: file)) }
        }
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let read = try await supervisor(["config", "check", "--offline", "--metrics-address", ""], in: dir, removing: ["DELTASEAL_CONFIG"])
        #expect(read.stdout.contains("gc.interval: 7201"), "\(read.stdout)\(read.stderr)")
        // DELTASEAL_CONFIG set, even empty, names the file (empty: none).
        let none = try await supervisor(["config", "check", "--offline", "--metrics-address", ""], in: dir, environment: ["DELTASEAL_CONFIG": ""])
        #expect(none.stdout.contains("gc.interval: 3600"), "\(none.stdout)\(none.stderr)")
    }
}