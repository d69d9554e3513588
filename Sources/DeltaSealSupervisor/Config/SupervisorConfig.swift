import DeltaSealCore
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// Everything the supervisor needs to run; every field has a default that works with no file.
public struct SupervisorConfig: Sendable {
    /// The spool directory (`incoming/`, `work/`, `rejected/`, `failed/`).
    public var spool: String
    /// Where deltas are shipped.
    public var store: StoreURL
    /// How to reach the store when it is S3.
    public var s3 = S3Options()
    /// This host's id in object keys.
    public var host: String
    /// The writer command; the supervisor appends `--input FILE... --out DIR`.
    public var writerCommand: [String]
    /// How long a writer may run before its process group is terminated.
    public var writerTimeout: Duration = .seconds(300)
    /// Between SIGTERM and SIGKILL.
    public var killGrace: Duration = .seconds(5)
    /// Resource limits for each writer.
    public var writerLimits = ChildProcess.Limits()
    /// Environment variables passed through to writers (besides the fixed clean set). A name
    /// that looks like a credential is refused unless written with a leading `!`.
    public var writerEnvironmentPassthrough: [String] = []
    /// Who writers run as: `auto` (as root: ``WriterIdentity/defaultUser``; otherwise the
    /// supervisor's own user), `self`, `root`, or a user name.
    public var writerUser = "auto"
    /// The writers' group; empty: the user's primary group.
    public var writerGroup = ""
    /// Confine writers with Landlock where the kernel has it.
    public var writerLandlock = true
    /// Run each writer in a cgroup v2 group of its own where a delegated subtree exists (`auto`), or not (`off`).
    public var writerCgroup = "auto"
    /// `process`: a writer process per delta; `fork-server`: the writer command started once with
    /// `--fork-server`, forking a child per delta (docs/formats.md, "Fork-server protocol").
    public var writerMode = "process"
    /// `memory.max` and `pids.max` of each writer's cgroup, where those controllers are delegated.
    public var writerCgroupMemoryMax: UInt64?
    public var writerCgroupPidsMax: UInt64?
    /// The most bytes of a writer's output kept in `writer.log` (the last ones).
    public var writerLogLimit: Int64 = 256 << 10
    /// The verifier executable.
    public var verifierPath: String
    /// `fork-server`: `verifier --fork-server` started once, forking a child per delta (a verifier
    /// process whenever it cannot); `process`: a verifier process per delta.
    public var verifierLaunch = "fork-server"
    /// How long a verification may take.
    public var verifierTimeout: Duration = .seconds(600)
    /// `quick_check` instead of `integrity_check` during verification.
    public var quickVerify = false
    /// The check command the verifier runs on each restored delta (`verify.check_command`, as
    /// written; the verifier appends `--delta DIR --manifest FILE`); empty: none.
    public var verifyCheckCommand = ""
    /// How long the check command may run (`verify.check_timeout`).
    public var verifyCheckTimeout: Duration = .seconds(300)
    /// Deltas in the pipeline at once.
    public var maxInFlight = 4
    /// Writers running at once.
    public var maxWriters = 2
    /// Deltas uploading at once.
    public var maxUploads = 2
    /// Verifications at once.
    public var maxVerifications = 2
    /// Threads of the blocking executor (docs/architecture.md, "Concurrency").
    public var blockingThreads = Blocking.defaultThreads
    /// Retry policy per delta.
    public var retry = RetryPolicy()
    /// Crash-loop breaker across all writers.
    public var restartIntensity = RestartIntensity()
    /// When intake pauses for disk space.
    public var intake = IntakeLimits()
    /// zstd level and worker threads.
    public var zstdLevel = 3
    public var zstdWorkers = 2
    /// Bytes every compression in flight may use together (``CompressionBudget``).
    public var zstdMemory: Int64 = 24 << 20
    /// How often `incoming/` is scanned.
    public var pollInterval: Duration = .seconds(1)
    /// How long the store may fail with retryable errors, without a success, before it counts as
    /// unavailable (outage mode: no attempts spent, intake paused, probes), in milliseconds.
    public var outageThresholdMs: Int64 = 10_000
    /// How long a batch that did not arrive by rename must go unwritten before it is claimed.
    public var intakeSettle: Duration = .seconds(2)
    /// Store objects without a manifest younger than this are not garbage (milliseconds).
    public var gcGraceMs: Int64 = 3_600_000
    /// How often the running daemon collects garbage (it also does at start).
    public var gcInterval: Duration = .seconds(3600)
    /// Where `/metrics`, `/healthz` and `/readyz` are served (`nil`: not at all).
    public var metricsAddress: String? = "127.0.0.1:9464"
    /// After SIGTERM, how long in-flight deltas may take to finish before the supervisor stops
    /// their writers and exits (they resume at the next start).
    public var drainTimeout: Duration = .seconds(60)
    /// `json` (one object per line) or `text`.
    public var logFormat = "json"
    /// The lowest level logged.
    public var logLevel = "info"

    /// Defaults relative to `workingDirectory`: spool `./var/spool`, store `./var/store`, the
    /// `writer` and `verifier` executables beside `executableDirectory`.
    public init(workingDirectory: String, executableDirectory: String) {
        spool = workingDirectory + "/var/spool"
        store = StoreURL(scheme: .file, root: workingDirectory + "/var/store", prefix: "")
        host = Self.defaultHost()
        writerCommand = [executableDirectory + "/writer"]
        verifierPath = executableDirectory + "/verifier"
    }

    /// The host name, reduced to the characters an object key allows.
    public static func defaultHost() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let cleaned = String(name.map { ObjectLayout.isValidHost(String($0)) ? $0 : "-" })
        return cleaned.isEmpty ? "localhost" : cleaned
    }

    /// Problems with the settings; empty when usable.
    public func problems() -> [String] {
        var out: [String] = []
        if !ObjectLayout.isValidHost(host) { out.append("host \(String(reflecting: host)) must be 1-128 of [A-Za-z0-9._-]") }
        if writerCommand.isEmpty { out.append("writer command is empty") }
        if maxInFlight < 1 || maxWriters < 1 || maxUploads < 1 || maxVerifications < 1 {
            out.append("concurrency limits must be at least 1")
        }
        if retry.maxAttempts < 1 { out.append("retry attempts must be at least 1") }
        if !(1...22).contains(zstdLevel) { out.append("zstd level must be 1...22") }
        return out
    }
}
