import ArgumentParser
import DeltaSealCore
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
