import ArgumentParser
import DeltaSealCore
import DeltaSealPack
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `verifier`: check, restore and list shipped deltas, standalone.
@main
struct VerifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier",
        abstract: "Check, restore and list shipped deltas.",
        subcommands: [CheckCommand.self, RestoreCommand.self, ListCommand.self],
        defaultSubcommand: CheckCommand.self
    )
}

/// `verifier [check] URL [--quick|--full] [--json]`.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check one shipped delta: manifest, checksums, decompression, SQLite integrity and row counts.",
        discussion: "Exit 0: valid. 1: invalid (the report names the file and the reason). 2: could not check."
    )

    @Argument(help: "The delta's location: file:///STORE/HOST/DELTA-ID or s3://BUCKET/PREFIX/HOST/DELTA-ID.")
    var url: String

    @OptionGroup var check: CheckOptions
    @OptionGroup var s3: S3Arguments

    func run() throws {
        try check.finish(check.verify(url: url, s3: s3, restoreInto: nil))
    }
}

/// `verifier restore URL --out DIR`: a verified download, ready to open.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Verify a shipped delta and write its files into a directory (what a compactor needs).",
        discussion: "Nothing is written to --out unless the whole delta verifies. Exit codes as for check."
    )

    @Argument(help: "The delta's location.")
    var url: String

    @Option(help: "Directory to restore into; must not exist or be empty.")
    var out: String

    @OptionGroup var check: CheckOptions
    @OptionGroup var s3: S3Arguments

    func run() throws {
        let destination = out.hasPrefix("/") ? out : FileManager.default.currentDirectoryPath + "/" + out
        var progress: (@Sendable (Int, Int, String) -> Void)?
        if isatty(2) == 1 && !check.json {
            progress = { done, total, path in
                let end = done == total ? "\n" : ""
                FileHandle.standardError.write(Data("\rverified \(done)/\(total): \(path)\u{1B}[K\(end)".utf8))
            }
        }
        let report: VerificationReport = check.verify(url: url, s3: s3, restoreInto: destination, onFile: progress)
        if report.status == .valid && !check.json { print("restored \(report.files) files into \(destination)") }
        try check.finish(report)
    }
}

/// What check and restore share.
struct CheckOptions: ParsableArguments {
    @Flag(name: .customLong("quick"), help: "Run PRAGMA quick_check instead of integrity_check.")
    var quick = false

    @Flag(name: .customLong("full"), help: "Run PRAGMA integrity_check (the default).")
    var full = false

    @Flag(name: .customLong("json"), help: "Print the report as JSON.")
    var json = false

    @Option(name: .customLong("time-budget"), help: "Seconds any SQLite check may take, plus 0.125 s per MiB of the file.")
    var timeBudget: Double = SQLiteBudget().baseSeconds

    @Option(name: .customLong("max-value-bytes"), help: "Largest string or blob a SQLite check may make.")
    var maxValueBytes: Int32 = SQLiteBudget().valueBytes

    @Option(name: .customLong("max-heap-bytes"), help: "Most heap the SQLite checks may hold.")
    var maxHeapBytes: Int64 = SQLiteBudget().heapBytes

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full exclude each other") }
        if !(timeBudget > 0) { throw ValidationError("--time-budget must be a positive number of seconds") }
        if maxValueBytes < 1 { throw ValidationError("--max-value-bytes must be positive") }
        if maxHeapBytes < 1 << 20 { throw ValidationError("--max-heap-bytes must be at least 1 MiB") }
    }

    func verify(url: String, s3: S3Arguments, restoreInto: String?,
                onFile: (@Sendable (Int, Int, String) -> Void)? = nil) -> VerificationReport {
        do {
            let location = try StoreURL(parsing: url, workingDirectory: FileManager.default.currentDirectoryPath)
            let store = try StoreOpener.open(location, s3: s3.options(), environment: ProcessInfo.processInfo.environment,
                                             credentials: s3.takeCredentials())
            CleanupOnSignal.install()
            var verifier = DeltaVerifier(fullCheck: !quick)
            verifier.budget.baseSeconds = timeBudget
            verifier.budget.valueBytes = maxValueBytes
            verifier.budget.heapBytes = maxHeapBytes
            verifier.onFile = onFile
            return verifier.verify(store, restoreInto: restoreInto)
        } catch {
            var failed = VerificationReport(location: url)
            failed.status = .couldNotCheck
            failed.problems.append(.init(file: nil, reason: "\(error)"))
            return failed
        }
    }

    func finish(_ report: VerificationReport) throws {
        if json {
            print(String(decoding: try StableJSON.encode(report), as: UTF8.self), terminator: "")
        } else {
            print(report.summary)
        }
        throw ExitCode(report.status.exitStatus)
    }
}
