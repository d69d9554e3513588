import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// What operators touch: the configuration file, its checks, and the log lines.
@Suite struct OperationsTests {
    func run(_ arguments: [String], in dir: String, environment extra: [String: String] = [:]) async throws -> TestSupport.Result {
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in extra { environment[key] = value }
        return try await TestSupport.run([TestSupport.supervisor] + arguments, cwd: dir, environment: environment)
    }

    @Test func configCheckPrintsTheEffectiveSettingsFromFileEnvironmentAndFlags() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.write("""
            # deltaseal.yaml
            spool: \(dir)/srv/spool
            host: ingest-7
            writer:
              command: python3 -u 'my writer.py'
              timeout: 90
              environment: [PYTHONPATH, LD_LIBRARY_PATH]
            retry:
              max_attempts: 9
            s3:
              part_size: 8MiB
            """, to: dir + "/deltaseal.yaml")
        // The preflight binds the metrics address: port 0 is always free on a shared machine.
        let result = try await run(["config", "check", "--config", "deltaseal.yaml", "--host", "ingest-8", "--metrics-address", "127.0.0.1:0"], in: dir,
                             // python3 as the writers' user finds it: a Python under /root (pyenv) is out of its reach.
                             environment: ["DELTASEAL_RETRY_MAX_ATTEMPTS": "11", "DELTASEAL_HOST": "ingest-9", "PATH": "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = Set(result.stdout.split(separator: "\n").map(String.init))
        #expect(lines.isSuperset(of: [
            "spool: \(dir)/srv/spool", "host: ingest-8", "writer.command: python3 -u 'my writer.py'", "writer.timeout: 90",
            "writer.environment: PYTHONPATH,LD_LIBRARY_PATH", "retry.max_attempts: 11", "s3.part_size: 8388608",
            "store: file://\(dir)/var/store", "log.format: json",
        ]), "\(result.stdout)")
    }

    @Test(arguments: [
        ("writer:\n  timout: 5\n", "deltaseal.yaml:2: writer.timout: unknown key"),
        ("spool: /x\nretry:\n  max_attempts: none\n", "deltaseal.yaml:3: retry.max_attempts: expected a whole number, got \"none\""),
        ("log:\n  format: xml\n", "deltaseal.yaml:2: log.format: expected one of json, text, got \"xml\""),
        ("s3:\n  part_size: 1MiB\n", "deltaseal.yaml:2: s3.part_size: must be at least 5242880 bytes, got 1048576"),
        ("host: a/b\n", "deltaseal.yaml:1: host: must be 1-128 of [A-Za-z0-9._-]"),
        ("- just\n- a list\n", "deltaseal.yaml:1: -: the file must be a mapping of settings"),
    ])
    func badConfigurationNamesTheKeyAndLineAndStartRefuses(_ yaml: String, _ message: String) async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.write(yaml, to: dir + "/deltaseal.yaml")
        try TestSupport.dropBatch(TestSupport.batch(records: 1), named: "b.ndjson", spool: dir + "/var/spool")
        let check = try await run(["config", "check", "--config", "deltaseal.yaml"], in: dir)
        #expect(check.status == 78)
        #expect(check.stderr.contains(message), "\(check.stderr)")
        let start = try await run(["start", "--once", "--config", "deltaseal.yaml"], in: dir)
        #expect(start.status == 78)
        #expect(start.stderr.contains(message))
        // Nothing ran: the batch is where the producer left it.
        #expect(try Files.list(dir + "/var/spool/incoming") == ["b.ndjson"])
    }

    @Test func badEnvironmentAndFlagValuesNameTheirSource() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let env = try await run(["config", "check"], in: dir, environment: ["DELTASEAL_CONCURRENCY_IN_FLIGHT": "0"])
        #expect(env.status == 78)
        #expect(env.stderr.contains("environment DELTASEAL_CONCURRENCY_IN_FLIGHT: concurrency.in_flight: must be at least 1, got 0"))
        let flag = try await run(["config", "check", "--max-work-bytes", "lots"], in: dir)
        #expect(flag.status == 78)
        #expect(flag.stderr.contains("flag --max-work-bytes: intake.max_work_bytes: expected bytes"))
    }

    @Test func everySettingIsAFlagNamedAfterItsKeyAndTheShortNamesStillWork() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        // Settings no flag had before: derived from the schema, in both spellings.
        let result = try await run(["config", "check", "--offline", "--metrics-address", "127.0.0.1:0", "--zstd-level", "7",
                              "--concurrency-uploads=3", "--writer-kill-grace", "4", "--max-attempts", "6", "--gc-grace", "60",
                              "--shutdown-drain-timeout", "12"], in: dir, environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = Set(result.stdout.split(separator: "\n").map(String.init))
        #expect(lines.isSuperset(of: ["zstd.level: 7", "concurrency.uploads: 3", "writer.kill_grace: 4", "retry.max_attempts: 6",
                                      "gc.grace: 60", "shutdown.drain_timeout: 12"]), "\(result.stdout)")
        // A flag that names no setting is a usage error (64) naming it; a flag without its value too.
        let unknown = try await run(["start", "--once", "--writer-timeot", "5"], in: dir)
        #expect(unknown.status == 64)
        #expect(unknown.stderr.contains("unknown option '--writer-timeot'"), "\(unknown.stderr)")
        let missing = try await run(["config", "check", "--offline", "--zstd-level"], in: dir)
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("missing value for '--zstd-level' (zstd.level"), "\(missing.stderr)")
        // The list names every setting with its flags and variable.
        let list = try await run(["config", "flags"], in: dir)
        #expect(list.status == 0)
        for setting in ConfigSchema.settings {
            #expect(list.stdout.contains(setting.flags.joined(separator: ", ") + " VALUE\n    \(setting.key) (\(setting.environmentName))"))
        }
    }

    @Test func theSchemaGivesEverySettingOneFlagAndNoFlagTwoSettings() {
        var seen: [String: String] = [:]
        for setting in ConfigSchema.settings {
            for flag in setting.flags {
                #expect(seen[flag] == nil, "\(flag) names \(seen[flag] ?? "") and \(setting.key)")
                seen[flag] = setting.key
            }
        }
        // The shared S3 group's flags are the schema's names for the S3 settings.
        for (flag, key) in [("--endpoint", "s3.endpoint"), ("--region", "s3.region"), ("--addressing", "s3.addressing"),
                            ("--stall-timeout", "s3.stall_timeout"), ("--s3-max-attempts", "s3.max_attempts")] {
            #expect(ConfigSchema.setting(flag: flag)?.key == key)
        }
        #expect(throws: ConfigSchema.FlagError.self) { try ConfigSchema.overrides(flags: ["--store"]) }
        #expect(throws: ConfigSchema.FlagError.self) { try ConfigSchema.overrides(flags: ["stray"]) }
        let parsed = try? ConfigSchema.overrides(flags: ["--writer", "w --x", "--log-level=debug", "--metrics-address", ""])
        #expect(parsed?.map(\.key) == ["writer.command", "log.level", "metrics.address"])
        #expect(parsed?.map(\.value) == ["w --x", "debug", ""])
    }

    @Test func logsAreOneJSONObjectPerLineWithTheDeltaOnEveryDeltaLine() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let result = try await run(["start", "--once", "--metrics-address", "", "--log-level", "debug"], in: harness.root)
        #expect(result.status == 0, "\(result.stderr)")
        let events = try result.stderr.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not a JSON object: \(line)")
        }
        #expect(events.count > 5)
        #expect(events.allSatisfy { $0["ts"] != nil && $0["level"] != nil && $0["msg"] != nil })
        let deltaEvents = events.filter { ["writer exited", "uploaded", "verified", "shipped"].contains($0["msg"]) }
        #expect(deltaEvents.count == 4)
        #expect(Set(deltaEvents.compactMap { $0["delta"] }).count == 1)
        let text = try await run(["start", "--once", "--metrics-address", "", "--log-format", "text"], in: harness.root)
        #expect(text.stderr.contains("info deltaseal.supervisor"), "\(text.stderr)")
    }
}
