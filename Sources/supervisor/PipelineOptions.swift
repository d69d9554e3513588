import ArgumentParser
import DeltaSealSupervisor
import Logging

/// The settings only the running pipeline uses (`start`, and `config check`, which checks what
/// `start` would run). Every flag is a setting of the configuration file (docs/operations.md).
struct PipelineOptions: ParsableArguments {
    @Option(help: "Writer command; --input FILE... --out DIR is appended (writer.command).")
    var writer: String?

    @Option(name: .customLong("writer-timeout"), help: "Seconds a writer may run (writer.timeout).")
    var writerTimeout: String?

    @Option(name: .customLong("writer-max-open-files"), help: "RLIMIT_NOFILE of each writer (writer.max_open_files).")
    var writerMaxOpenFiles: String?

    @Option(name: .customLong("writer-max-memory"), help: "RLIMIT_AS of each writer, bytes (writer.max_memory).")
    var writerMaxMemory: String?

    @Option(name: .customLong("writer-max-cpu"), help: "RLIMIT_CPU of each writer, seconds (writer.max_cpu).")
    var writerMaxCPU: String?

    @Option(name: .customLong("crash-loop-failures"), help: "Writer failures in the window that pause all writers (writer.crash_loop_failures).")
    var crashLoopFailures: String?

    @Option(name: .customLong("crash-loop-window"), help: "Seconds over which writer failures count (writer.crash_loop_window).")
    var crashLoopWindow: String?

    @Option(name: .customLong("crash-loop-pause"), help: "Seconds all writers pause after a crash loop (writer.crash_loop_pause).")
    var crashLoopPause: String?

    @Option(name: .customLong("max-attempts"), help: "Attempts per delta before failed/ (retry.max_attempts).")
    var maxAttempts: String?

    @Option(name: .customLong("retry-base-delay"), help: "Seconds before the first retry; doubles (retry.base_delay).")
    var retryBaseDelay: String?

    @Option(name: .customLong("max-in-flight"), help: "Deltas in the pipeline at once (concurrency.in_flight).")
    var maxInFlight: String?

    @Option(name: .customLong("max-work-bytes"), help: "Intake pauses while work/ holds this much (intake.max_work_bytes).")
    var maxWorkBytes: String?

    @Option(name: .customLong("min-free-bytes"), help: "Intake pauses below this much free disk (intake.min_free_bytes).")
    var minFreeBytes: String?

    @Option(name: .customLong("multipart-threshold"), help: "Bytes from which objects go up in parts (s3.multipart_threshold).")
    var multipartThreshold: String?

    @Option(name: .customLong("part-size"), help: "Bytes per part, at least 5 MiB (s3.part_size).")
    var partSize: String?

    @Option(name: .customLong("metrics-address"), help: "HOST:PORT for /metrics, /healthz, /readyz; '' turns them off (metrics.address).")
    var metricsAddress: String?

    @Option(name: .customLong("log-format"), help: "json or text (log.format).")
    var logFormat: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (log.level).")
    var logLevel: String?

    /// The flags given, as configuration keys.
    var overrides: [SettingOverride] {
        let pairs: [(String, String?, String)] = [
            ("writer.command", writer, "--writer"),
            ("writer.timeout", writerTimeout, "--writer-timeout"), ("writer.max_open_files", writerMaxOpenFiles, "--writer-max-open-files"),
            ("writer.max_memory", writerMaxMemory, "--writer-max-memory"), ("writer.max_cpu", writerMaxCPU, "--writer-max-cpu"),
            ("writer.crash_loop_failures", crashLoopFailures, "--crash-loop-failures"),
            ("writer.crash_loop_window", crashLoopWindow, "--crash-loop-window"), ("writer.crash_loop_pause", crashLoopPause, "--crash-loop-pause"),
            ("retry.max_attempts", maxAttempts, "--max-attempts"), ("retry.base_delay", retryBaseDelay, "--retry-base-delay"),
            ("concurrency.in_flight", maxInFlight, "--max-in-flight"), ("intake.max_work_bytes", maxWorkBytes, "--max-work-bytes"),
            ("intake.min_free_bytes", minFreeBytes, "--min-free-bytes"),
            ("s3.multipart_threshold", multipartThreshold, "--multipart-threshold"), ("s3.part_size", partSize, "--part-size"),
            ("metrics.address", metricsAddress, "--metrics-address"), ("log.format", logFormat, "--log-format"), ("log.level", logLevel, "--log-level"),
        ]
        return pairs.compactMap { key, value, flag in value.map { (key, $0, flag) } }
    }
}

/// The logger the configuration asks for; with `level`, its level follows that box (SIGHUP).
func makeLogger(_ config: SupervisorConfig, label: String, level: LogLevelBox = LogLevelBox()) -> Logger {
    level.level = Logger.Level(rawValue: config.logLevel) ?? .info
    return Logger(label: label) { label in
        let inner: any LogHandler = config.logFormat == "text" ? StreamLogHandler.standardError(label: label) : JSONLogHandler(label: label)
        return LiveLevelHandler(inner, box: level)
    }
}
