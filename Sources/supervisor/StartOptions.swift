import ArgumentParser
import DeltaSealCore
import DeltaSealS3
import DeltaSealStore
import DeltaSealSupervisor
import Foundation
import Logging

/// Options shared by the commands that run the pipeline.
struct StartOptions: ParsableArguments {
    @Option(help: "Spool directory (default ./var/spool).")
    var spool: String?

    @Option(help: "Store URL: file:///PATH, a plain path, or s3://BUCKET/PREFIX (default ./var/store).")
    var store: String?

    @Option(help: "Writer command; the supervisor appends --input FILE... --out DIR.")
    var writer: String?

    @Option(help: "This host's id in object keys (default: the host name).")
    var host: String?

    @Option(name: .customLong("writer-timeout"), help: "Seconds a writer may run before its process group is killed.")
    var writerTimeout: Double?

    @Option(name: .customLong("max-attempts"), help: "Attempts per delta before it goes to failed/.")
    var maxAttempts: Int?

    @Option(name: .customLong("retry-base-delay"), help: "Seconds before the first retry; doubles after each.")
    var retryBaseDelay: Double?

    @Option(help: "S3 endpoint (https://host[:port]); overrides AWS_ENDPOINT_URL.")
    var endpoint: String?

    @Option(help: "S3 signing region; overrides AWS_REGION and AWS_DEFAULT_REGION.")
    var region: String?

    @Option(help: "S3 bucket addressing: auto, path or virtual.")
    var addressing: String?

    @Option(name: .customLong("multipart-threshold"), help: "Bytes from which an object is uploaded in parts (S3).")
    var multipartThreshold: Int64?

    @Option(name: .customLong("part-size"), help: "Bytes per multipart part (S3; at least 5 MiB).")
    var partSize: Int64?

    @Option(name: .customLong("stall-timeout"), help: "Seconds a store transfer may move no byte before it is abandoned (S3).")
    var stallTimeout: Int?

    @Option(name: .customLong("writer-max-open-files"), help: "RLIMIT_NOFILE for each writer.")
    var writerMaxOpenFiles: UInt64?

    @Option(name: .customLong("writer-max-memory"), help: "RLIMIT_AS for each writer, in bytes.")
    var writerMaxMemory: UInt64?

    @Option(name: .customLong("writer-max-cpu"), help: "RLIMIT_CPU for each writer, in seconds.")
    var writerMaxCPU: UInt64?

    @Option(name: .customLong("max-in-flight"), help: "Deltas in the pipeline at once.")
    var maxInFlight: Int?

    @Option(name: .customLong("max-work-bytes"), help: "Intake pauses while work/ holds this many bytes.")
    var maxWorkBytes: Int64?

    @Option(name: .customLong("min-free-bytes"), help: "Intake pauses while the spool's file system has less free.")
    var minFreeBytes: Int64?

    @Option(name: .customLong("crash-loop-failures"), help: "Writer failures within --crash-loop-window that pause all writers.")
    var crashLoopFailures: Int?

    @Option(name: .customLong("crash-loop-window"), help: "Seconds over which writer failures are counted.")
    var crashLoopWindow: Double?

    @Option(name: .customLong("crash-loop-pause"), help: "Seconds all writers pause after a crash loop.")
    var crashLoopPause: Double?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    /// The effective configuration.
    func config() throws -> SupervisorConfig {
        let cwd = FileManager.default.currentDirectoryPath
        var config = SupervisorConfig(workingDirectory: cwd, executableDirectory: Executable.directory)
        if let spool { config.spool = Files.absolutePath(spool, cwd: cwd) }
        if let store { config.store = try StoreURL(parsing: store, workingDirectory: cwd) }
        if let writer {
            let words = try CommandWords.split(writer)
            guard !words.isEmpty else { throw ValidationError("--writer is empty") }
            config.writerCommand = words
        }
        if let host { config.host = host }
        if let writerTimeout { config.writerTimeout = .milliseconds(Int64(writerTimeout * 1000)) }
        if let maxAttempts { config.retry.maxAttempts = maxAttempts }
        if let retryBaseDelay { config.retry.baseDelay = retryBaseDelay }
        if let endpoint { config.s3.endpoint = endpoint }
        if let region { config.s3.region = region }
        if let addressing {
            guard let style = S3Options.Addressing(rawValue: addressing) else {
                throw ValidationError("--addressing must be auto, path or virtual, not \(addressing)")
            }
            config.s3.addressing = style
        }
        if let multipartThreshold { config.s3.multipartThreshold = multipartThreshold }
        if let stallTimeout { config.s3.stallTimeoutSeconds = stallTimeout }
        if let writerMaxOpenFiles { config.writerLimits.openFiles = writerMaxOpenFiles }
        if let writerMaxMemory { config.writerLimits.addressSpaceBytes = writerMaxMemory }
        if let writerMaxCPU { config.writerLimits.cpuSeconds = writerMaxCPU }
        if let maxInFlight { config.maxInFlight = maxInFlight }
        if let maxWorkBytes { config.intake.maxWorkBytes = maxWorkBytes }
        if let minFreeBytes { config.intake.minFreeBytes = minFreeBytes }
        if let crashLoopFailures { config.restartIntensity.maxFailures = crashLoopFailures }
        if let crashLoopWindow { config.restartIntensity.windowMs = Int64(crashLoopWindow * 1000) }
        if let crashLoopPause { config.restartIntensity.pauseMs = Int64(crashLoopPause * 1000) }
        if let partSize {
            guard partSize >= 5 << 20 else { throw ValidationError("--part-size must be at least 5242880 (5 MiB), S3's minimum") }
            config.s3.partSize = partSize
        }
        return config
    }

    func logger(label: String) throws -> Logger {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
        }
        var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = level
        return logger
    }
}

/// Where this executable is, so its siblings `writer` and `verifier` can be found.
enum Executable {
    static var directory: String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (path as NSString).deletingLastPathComponent
    }
}

extension Files {
    static func absolutePath(_ path: String, cwd: String) -> String {
        path.hasPrefix("/") ? path : (cwd as NSString).appendingPathComponent(path)
    }
}

import DeltaSealSystem
