import DeltaSealCore
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation

/// Every setting of the supervisor: its key in the YAML file, its environment variable
/// (`DELTASEAL_` + the key in capitals, dots as underscores), how text becomes a value, and how
/// the effective value prints. One table, so the file, the environment and the flags agree.
public enum ConfigSchema {
    /// One setting.
    public struct Setting: Sendable {
        public let key: String
        public let help: String
        let parse: @Sendable (inout SupervisorConfig, String, _ paths: LocalPath) throws -> Void
        let show: @Sendable (SupervisorConfig) -> String

        /// Other names of its flag: the short ones earlier releases had, kept working.
        public private(set) var aliases: [String] = []

        /// The environment variable that overrides the file.
        public var environmentName: String {
            "DELTASEAL_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
        }

        /// Its command-line flag: `--` and the key, dots and underscores as dashes
        /// (`writer.max_open_files` is `--writer-max-open-files`).
        public var flag: String {
            "--" + key.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-")
        }

        /// Every name its flag answers to, the derived one first.
        public var flags: [String] { [flag] + aliases }

        /// The same setting, whose flag also answers to `names`.
        func aliased(_ names: String...) -> Setting {
            var copy = self
            copy.aliases += names
            return copy
        }
    }

    /// A value that does not fit its setting.
    struct BadValue: Error { var message: String }

    public static let settings: [Setting] = [
        text("spool", "spool directory: an absolute path or ~/PATH (relative only at a terminal)") { c, v, paths in
            do { c.spool = try paths.resolve(v, what: "spool") } catch { throw BadValue(message: "\(error)") }
        } show: { $0.spool },
        text("store", "file:///PATH, an absolute path, or s3://BUCKET/PREFIX") { c, v, paths in
            do { c.store = try StoreURL(parsing: v, paths: paths) } catch { throw BadValue(message: "\(error)") }
        } show: { $0.store.description },
        text("host", "this host's key component, [A-Za-z0-9._-]{1,128}") { c, v, _ in
            guard ObjectLayout.isValidHost(v) else { throw BadValue(message: "must be 1-128 of [A-Za-z0-9._-]") }
            c.host = v
        } show: { $0.host },
        text("s3.endpoint", "S3 endpoint, https://host[:port]; empty: AWS_ENDPOINT_URL or AWS") { c, v, _ in
            c.s3.endpoint = v.isEmpty ? nil : v
        } show: { $0.s3.endpoint ?? "" }.aliased("--endpoint"),
        text("s3.region", "signing region; empty: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1") { c, v, _ in
            c.s3.region = v.isEmpty ? nil : v
        } show: { $0.s3.region ?? "" }.aliased("--region"),
        choice("s3.addressing", "auto, path or virtual", S3Options.Addressing.allCases.map(\.rawValue)) { c, v in
            c.s3.addressing = S3Options.Addressing(rawValue: v)!
        } show: { $0.s3.addressing.rawValue }.aliased("--addressing"),
        bytes("s3.multipart_threshold", "objects this large are uploaded in parts") { c, v in c.s3.multipartThreshold = v } show: { $0.s3.multipartThreshold }.aliased("--multipart-threshold"),
        bytes("s3.part_size", "bytes per part, at least 5 MiB", minimum: 5 << 20) { c, v in c.s3.partSize = v } show: { $0.s3.partSize }.aliased("--part-size"),
        integer("s3.part_concurrency", "parts uploaded at once", minimum: 1) { c, v in c.s3.partConcurrency = v } show: { $0.s3.partConcurrency },
        decimal("s3.stall_timeout", "seconds a transfer may move no byte (curl counts whole seconds: rounded up)", minimum: 0.001) { c, v in
            c.s3.stallTimeoutSeconds = v
        } show: { $0.s3.stallTimeoutSeconds }.aliased("--stall-timeout"),
        integer("s3.max_attempts", "attempts per S3 request on throttling, 5xx, resets, truncated bodies; 1: no request retries", minimum: 1) { c, v in
            c.s3.maxAttempts = v
        } show: { $0.s3.maxAttempts },
        text("writer.command", "the writer; --input FILE... --out DIR is appended") { c, v, _ in
            let words: [String]
            do { words = try CommandWords.split(v) } catch { throw BadValue(message: "\(error)") }
            guard !words.isEmpty else { throw BadValue(message: "is empty") }
            c.writerCommand = words
        } show: { $0.writerCommand.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ") }.aliased("--writer"),
        seconds("writer.timeout", "seconds before the writer's process group gets SIGTERM") { c, v in c.writerTimeout = v } show: { $0.writerTimeout },
        seconds("writer.kill_grace", "seconds between SIGTERM and SIGKILL") { c, v in c.killGrace = v } show: { $0.killGrace },
        optionalCount("writer.max_open_files", "RLIMIT_NOFILE of each writer; empty: unlimited") { c, v in c.writerLimits.openFiles = v } show: { $0.writerLimits.openFiles },
        optionalCount("writer.max_memory", "RLIMIT_AS of each writer in bytes; empty: unlimited") { c, v in c.writerLimits.addressSpaceBytes = v } show: { $0.writerLimits.addressSpaceBytes },
        optionalCount("writer.max_cpu", "RLIMIT_CPU of each writer in seconds; empty: unlimited") { c, v in c.writerLimits.cpuSeconds = v } show: { $0.writerLimits.cpuSeconds },
        text("writer.environment", "comma-separated variables passed to writers; a credential-like name needs a leading '!'") { c, v, _ in
            let names = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if let secret = names.first(where: { !$0.hasPrefix("!") && SecretNames.isSecret($0) }) {
                throw BadValue(message: "\(secret) looks like a credential and writers are untrusted; write it as !\(secret) to pass it anyway")
            }
            c.writerEnvironmentPassthrough = names
        } show: { $0.writerEnvironmentPassthrough.joined(separator: ",") },
        text("writer.user", "auto (as root: \(WriterIdentity.defaultUser)), self, root, or a user name") { c, v, _ in
            guard !v.isEmpty else { throw BadValue(message: "is empty (auto, self, root or a user name)") }
            c.writerUser = v
        } show: { $0.writerUser },
        text("writer.group", "the writers' group; empty: the user's primary group") { c, v, _ in c.writerGroup = v } show: { $0.writerGroup },
        choice("writer.landlock", "confine writers' writes to their output with Landlock where the kernel has it", ["true", "false"]) { c, v in
            c.writerLandlock = v == "true"
        } show: { $0.writerLandlock ? "true" : "false" },
        choice("writer.mode", "process: a writer process per delta; fork-server: the writer command started once with --fork-server, forking a child per delta", ["process", "fork-server"]) { c, v in
            c.writerMode = v
        } show: { $0.writerMode },
        choice("writer.cgroup", "auto: each writer in a cgroup v2 group of its own where a delegated subtree exists (killed whole); off", ["auto", "off"]) { c, v in
            c.writerCgroup = v
        } show: { $0.writerCgroup },
        optionalCount("writer.cgroup_memory_max", "memory.max of each writer's cgroup in bytes, where the memory controller is delegated; empty: none") { c, v in
            c.writerCgroupMemoryMax = v
        } show: { $0.writerCgroupMemoryMax },
        optionalCount("writer.cgroup_pids_max", "pids.max of each writer's cgroup, where the pids controller is delegated; empty: none") { c, v in
            c.writerCgroupPidsMax = v
        } show: { $0.writerCgroupPidsMax },
        bytes("writer.log_limit", "writer.log keeps the last this many bytes of a writer's output", minimum: 1024) { c, v in c.writerLogLimit = v } show: { $0.writerLogLimit },
        optionalCount("writer.max_file_size", "RLIMIT_FSIZE of each writer in bytes; empty: unlimited") { c, v in c.writerLimits.fileSizeBytes = v } show: { $0.writerLimits.fileSizeBytes },
        integer("writer.crash_loop_failures", "writer failures within the window that pause all writers", minimum: 1) { c, v in c.restartIntensity.maxFailures = v } show: { $0.restartIntensity.maxFailures }.aliased("--crash-loop-failures"),
        milliseconds("writer.crash_loop_window", "seconds over which writer failures count") { c, v in c.restartIntensity.windowMs = v } show: { $0.restartIntensity.windowMs }.aliased("--crash-loop-window"),
        milliseconds("writer.crash_loop_pause", "seconds all writers pause after a crash loop") { c, v in c.restartIntensity.pauseMs = v } show: { $0.restartIntensity.pauseMs }.aliased("--crash-loop-pause"),
        text("verifier.path", "the verifier executable") { c, v, paths in
            do { c.verifierPath = try paths.resolve(v, what: "verifier.path") } catch { throw BadValue(message: "\(error)") }
        } show: { $0.verifierPath },
        choice("verifier.mode", "full (integrity_check) or quick (quick_check)", ["full", "quick"]) { c, v in c.quickVerify = v == "quick" } show: { $0.quickVerify ? "quick" : "full" },
        choice("verifier.launch", "fork-server: the verifier started once with --fork-server, forking a child per delta (a verifier process whenever it cannot); process: a verifier process per delta", ["fork-server", "process"]) { c, v in
            c.verifierLaunch = v
        } show: { $0.verifierLaunch },
        seconds("verifier.timeout", "seconds a verification may take") { c, v in c.verifierTimeout = v } show: { $0.verifierTimeout },
        text("verify.check_command", "run on each restored delta in the writer sandbox (--delta DIR --manifest FILE appended); empty: none") { c, v, _ in
            do { _ = try CommandWords.split(v) } catch { throw BadValue(message: "\(error)") }
            c.verifyCheckCommand = v.trimmingCharacters(in: .whitespaces)
        } show: { $0.verifyCheckCommand },
        seconds("verify.check_timeout", "seconds the check command may run before its process group is killed") { c, v in
            c.verifyCheckTimeout = v
        } show: { $0.verifyCheckTimeout },
        integer("concurrency.in_flight", "deltas in the pipeline at once", minimum: 1) { c, v in c.maxInFlight = v } show: { $0.maxInFlight }.aliased("--max-in-flight"),
        integer("concurrency.writers", "writers at once", minimum: 1) { c, v in c.maxWriters = v } show: { $0.maxWriters },
        integer("concurrency.uploads", "uploads at once", minimum: 1) { c, v in c.maxUploads = v } show: { $0.maxUploads },
        integer("concurrency.verifications", "verifications at once", minimum: 1) { c, v in c.maxVerifications = v } show: { $0.maxVerifications },
        integer("concurrency.blocking_threads", "threads for blocking work (SQLite, zstd, file and S3 I/O); each waits for one job", minimum: 2, maximum: 1024) { c, v in
            c.blockingThreads = v
        } show: { $0.blockingThreads },
        integer("retry.max_attempts", "attempts per delta before failed/", minimum: 1) { c, v in c.retry.maxAttempts = v } show: { $0.retry.maxAttempts }.aliased("--max-attempts"),
        decimal("retry.base_delay", "seconds before the first retry; doubles") { c, v in c.retry.baseDelay = v } show: { $0.retry.baseDelay },
        decimal("retry.max_delay", "ceiling of one backoff, seconds") { c, v in c.retry.maxDelay = v } show: { $0.retry.maxDelay },
        integer("zstd.level", "compression level 1-22", minimum: 1, maximum: 22) { c, v in c.zstdLevel = v } show: { $0.zstdLevel },
        integer("zstd.threads", "worker threads for large files", minimum: 0) { c, v in c.zstdWorkers = v } show: { $0.zstdWorkers },
        bytes("zstd.memory", "memory all compressions in flight share; a file's compression waits for its share, one needing more runs alone",
              minimum: 1 << 20) { c, v in c.zstdMemory = v } show: { $0.zstdMemory },
        seconds("intake.poll_interval", "seconds between scans of incoming/") { c, v in c.pollInterval = v } show: { $0.pollInterval },
        seconds("intake.settle", "seconds a batch written in place (not renamed) must be left alone before it is claimed") { c, v in c.intakeSettle = v } show: { $0.intakeSettle },
        bytes("intake.max_work_bytes", "intake pauses while work/ holds this much") { c, v in c.intake.maxWorkBytes = v } show: { $0.intake.maxWorkBytes }.aliased("--max-work-bytes"),
        bytes("intake.min_free_bytes", "intake pauses while free disk is below this") { c, v in c.intake.minFreeBytes = v } show: { $0.intake.minFreeBytes }.aliased("--min-free-bytes"),
        milliseconds("outage.threshold", "seconds of store failures, without a success, after which the store counts as unavailable") { c, v in
            c.outageThresholdMs = v
        } show: { $0.outageThresholdMs },
        milliseconds("gc.grace", "seconds an object without a manifest must be old to be garbage") { c, v in c.gcGraceMs = v } show: { $0.gcGraceMs }.aliased("--grace"),
        seconds("gc.interval", "seconds between garbage collections of the daemon") { c, v in c.gcInterval = v } show: { $0.gcInterval },
        seconds("shutdown.drain_timeout", "seconds in-flight deltas may take to finish after SIGTERM") { c, v in c.drainTimeout = v } show: { $0.drainTimeout },
        text("metrics.address", "host:port for /metrics, /healthz, /readyz ([::1]:port for IPv6, :port for every interface); empty: off") { c, v, _ in
            // Syntax only: the preflight resolves the host and tries the bind.
            if !v.isEmpty, (try? ListenAddress.split(v)) == nil {
                throw BadValue(message: "expected HOST:PORT, e.g. 127.0.0.1:9464, [::1]:9464 or :9464 (every interface)")
            }
            c.metricsAddress = v.isEmpty ? nil : v
        } show: { $0.metricsAddress ?? "" },
        choice("log.format", "json (one object per line) or text", ["json", "text"]) { c, v in c.logFormat = v } show: { $0.logFormat },
        choice("log.level", "trace, debug, info, notice, warning, error, critical",
               ["trace", "debug", "info", "notice", "warning", "error", "critical"]) { c, v in c.logLevel = v } show: { $0.logLevel },
    ]

    /// The setting for `key`, if there is one.
    public static func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }

    /// The setting whose flag is `flag` (its derived name or an alias), if there is one.
    public static func setting(flag: String) -> Setting? { settings.first { $0.flags.contains(flag) } }

    /// A command line's setting flags that name no setting or lack a value.
    public struct FlagError: Error, CustomStringConvertible {
        public var description: String
    }

    /// The settings given as flags in `words` (`--flag VALUE` or `--flag=VALUE`, in order), with
    /// the flag as written for error messages; the first word that is not a setting's flag, or a
    /// flag without a value, is a ``FlagError``.
    public static func overrides(flags words: [String]) throws -> [(key: String, value: String, flag: String)] {
        var overrides: [(key: String, value: String, flag: String)] = []
        var index = 0
        while index < words.count {
            let word = words[index]
            let (name, inline) = word.firstIndex(of: "=").map { (String(word[..<$0]), String(word[word.index(after: $0)...])) }
                ?? (word, nil)
            guard name.hasPrefix("--"), let setting = setting(flag: name) else {
                throw FlagError(description: name.hasPrefix("-")
                    ? "unknown option '\(name)' (every setting is a flag: \(settings[0].flag), ...; `supervisor config flags` lists them)"
                    : "unexpected argument '\(word)'")
            }
            if let inline {
                overrides.append((setting.key, inline, name))
                index += 1
            } else {
                guard index + 1 < words.count else { throw FlagError(description: "missing value for '\(name)' (\(setting.key): \(setting.help))") }
                overrides.append((setting.key, words[index + 1], name))
                index += 2
            }
        }
        return overrides
    }

    // MARK: - Kinds

    private static func text(_ key: String, _ help: String, _ parse: @escaping @Sendable (inout SupervisorConfig, String, LocalPath) throws -> Void,
                             show: @escaping @Sendable (SupervisorConfig) -> String) -> Setting {
        Setting(key: key, help: help, parse: parse, show: show)
    }

    private static func choice(_ key: String, _ help: String, _ choices: [String], _ apply: @escaping @Sendable (inout SupervisorConfig, String) -> Void,
                               show: @escaping @Sendable (SupervisorConfig) -> String) -> Setting {
        Setting(key: key, help: help, parse: { c, v, _ in
            guard choices.contains(v) else { throw BadValue(message: "expected one of \(choices.joined(separator: ", ")), got \"\(v)\"") }
            apply(&c, v)
        }, show: show)
    }

    private static func integer(_ key: String, _ help: String, minimum: Int = .min, maximum: Int = .max,
                                _ apply: @escaping @Sendable (inout SupervisorConfig, Int) -> Void,
                                show: @escaping @Sendable (SupervisorConfig) -> Int) -> Setting {
        Setting(key: key, help: help, parse: { c, v, _ in
            guard let n = Int(v) else { throw BadValue(message: "expected a whole number, got \"\(v)\"") }
            guard n >= minimum && n <= maximum else {
                throw BadValue(message: "must be " + (maximum == .max ? "at least \(minimum)" : "\(minimum)...\(maximum)") + ", got \(n)")
            }
            apply(&c, n)
        }, show: { "\(show($0))" })
    }

    private static func optionalCount(_ key: String, _ help: String, _ apply: @escaping @Sendable (inout SupervisorConfig, UInt64?) -> Void,
                                      show: @escaping @Sendable (SupervisorConfig) -> UInt64?) -> Setting {
        Setting(key: key, help: help, parse: { c, v, _ in
            if v.isEmpty { apply(&c, nil); return }
            guard let n = ByteCount.parse(v), n > 0 else { throw BadValue(message: "expected a positive number, got \"\(v)\"") }
            apply(&c, UInt64(n))
        }, show: { show($0).map(String.init) ?? "" })
    }

    private static func bytes(_ key: String, _ help: String, minimum: Int64 = 0, _ apply: @escaping @Sendable (inout SupervisorConfig, Int64) -> Void,
                              show: @escaping @Sendable (SupervisorConfig) -> Int64) -> Setting {
        Setting(key: key, help: help, parse: { c, v, _ in
            guard let n = ByteCount.parse(v) else { throw BadValue(message: "expected bytes (e.g. 1048576, 64MiB, 10GiB), got \"\(v)\"") }
            guard n >= minimum else { throw BadValue(message: "must be at least \(minimum) bytes, got \(n)") }
            apply(&c, n)
        }, show: { "\(show($0))" })
    }

    private static func decimal(_ key: String, _ help: String, minimum: Double = 0,
                                _ apply: @escaping @Sendable (inout SupervisorConfig, Double) -> Void,
                                show: @escaping @Sendable (SupervisorConfig) -> Double) -> Setting {
        Setting(key: key, help: help, parse: { c, v, _ in
            guard let n = Double(v), n >= minimum, n.isFinite else {
                throw BadValue(message: "expected seconds (a number >= \(minimum == 0 ? "0" : "\(minimum)")), got \"\(v)\"")
            }
            apply(&c, n)
        }, show: { "\(show($0))" })
    }

    private static func seconds(_ key: String, _ help: String, _ apply: @escaping @Sendable (inout SupervisorConfig, Duration) -> Void,
                                show: @escaping @Sendable (SupervisorConfig) -> Duration) -> Setting {
        decimalMs(key, help, { c, ms in apply(&c, .milliseconds(ms)) }, show: { config in
            let d = show(config).components
            return d.seconds * 1000 + d.attoseconds / 1_000_000_000_000_000
        })
    }

    private static func milliseconds(_ key: String, _ help: String, _ apply: @escaping @Sendable (inout SupervisorConfig, Int64) -> Void,
                                     show: @escaping @Sendable (SupervisorConfig) -> Int64) -> Setting {
        decimalMs(key, help, apply, show: show)
    }

    /// Seconds in the file, milliseconds inside.
    private static func decimalMs(_ key: String, _ help: String, _ apply: @escaping @Sendable (inout SupervisorConfig, Int64) -> Void,
                                  show: @escaping @Sendable (SupervisorConfig) -> Int64) -> Setting {
        Setting(key: key, help: help, parse: { c, v, _ in
            guard let n = Double(v), n >= 0, n.isFinite, n < 1e9 else { throw BadValue(message: "expected seconds (a number >= 0), got \"\(v)\"") }
            apply(&c, Int64((n * 1000).rounded()))
        }, show: { config in
            let ms = show(config)
            return ms % 1000 == 0 ? "\(ms / 1000)" : "\(Double(ms) / 1000)"
        })
    }
}
