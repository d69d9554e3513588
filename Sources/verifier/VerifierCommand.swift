import ArgumentParser
import CDeltaSealBuildInfo
import DeltaSealCore
import DeltaSealDelta
import DeltaSealS3
import DeltaSealStore
import DeltaSealStoreOpener
import DeltaSealSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `verifier`: check, restore and list shipped deltas, standalone (entered by ``VerifierMain``).
struct VerifierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier",
        abstract: "Check, restore and list shipped deltas.",
        version: DeltaSealVersion.line("verifier", commit: BuildCommit.current(compiled: String(cString: deltaseal_git_commit()))),
        subcommands: [CheckCommand.self, RestoreCommand.self, ListCommand.self],
        defaultSubcommand: CheckCommand.self
    )
}

/// `verifier [check] URL [--quick|--full] [--json]`: one delta; or, given a store (or `--host`,
/// `--since`), every delta in that range.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check shipped deltas: manifest, checksums, decompression, SQLite integrity and row counts.",
        discussion: """
            URL is one delta (…/HOST/DELTA-ID), or a store (file:///STORE, s3://BUCKET/PREFIX) to check every shipped delta \
            in it, narrowed by --host and --since, with a summary table (or, with --json, one report). \
            Exit 0: valid (all of them). 1: invalid (the report names the file and the reason). 2: could not check. \
            Over a range the worst verdict wins. With --check-command, the writer's own reader then opens each \
            restored delta (docs/formats.md, "Check command").
            """
    )

    @Argument(help: "A delta (file:///STORE/HOST/DELTA-ID, s3://BUCKET/PREFIX/HOST/DELTA-ID) or a store.")
    var url: String

    @Option(help: "Check every delta of this host (URL is the store).")
    var host: String?

    @Option(help: "Check the deltas created at or after this: RFC 3339, a delta id, or an age (24h) (URL is the store).")
    var since: String?

    @OptionGroup var check: CheckOptions
    @OptionGroup var s3: S3Arguments

    func validate() throws {
        if let since { _ = try SinceTime(since) }
    }

    /// A range when asked for one, or when the URL does not end in a delta id.
    var isRange: Bool {
        host != nil || since != nil || DeltaID(url.split(separator: "/").last.map(String.init) ?? "") == nil
    }

    func run() async throws {
        guard isRange else { return try check.finish(await check.verify(url: url, s3: s3, restoreInto: nil)) }
        let entries: [ShippedDeltas.Entry]
        do {
            entries = try await ShippedDeltas(url, s3: s3).entries(host: host, since: since.map { try SinceTime($0) })
        } catch {
            return try check.finish(.couldNotCheck(url, reason: "cannot list \(url): \(error)"))
        }
        var range = RangeReport(store: url, host: host, since: since)
        for entry in entries {
            let report = await check.verify(url: entry.url, s3: s3, restoreInto: nil)
            range.add(report)
            if !check.json && isatty(2) == 1 {
                FileHandle.standardError.write(Data("\rchecked \(range.deltas.count)/\(entries.count)\u{1B}[K\(range.deltas.count == entries.count ? "\n" : "")".utf8))
            }
        }
        if check.json {
            print(String(decoding: try StableJSON.encode(range), as: UTF8.self), terminator: "")
        } else {
            print(range.table)
        }
        throw ExitCode(range.status.exitStatus)
    }
}

/// `verifier restore URL --out DIR`, or `verifier restore STORE --host H --latest --out DIR`:
/// a verified download, ready to open.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Verify a shipped delta and write its files into a directory (what a compactor needs).",
        discussion: "Nothing is written to --out unless the whole delta verifies; a non-empty --out is refused before anything is downloaded. Exit codes as for check."
    )

    @Argument(help: "The delta's location; with --latest, the store.")
    var url: String

    @Option(help: "Directory to restore into; must not exist or be empty.")
    var out: String

    @Flag(help: "Restore the newest shipped delta of --host from the store URL.")
    var latest = false

    @Option(help: "With --latest: whose newest delta.")
    var host: String?

    @OptionGroup var check: CheckOptions
    @OptionGroup var s3: S3Arguments

    func validate() throws {
        if latest && host == nil { throw ValidationError("--latest needs --host (whose newest delta)") }
        if host != nil && !latest { throw ValidationError("--host goes with --latest (the URL names one delta otherwise)") }
    }

    func run() async throws {
        let destination = out.hasPrefix("/") ? out : FileManager.default.currentDirectoryPath + "/" + out
        // Before any download: a delta's worth of bytes fetched only to be refused is wasted.
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: destination), !entries.isEmpty {
            return try check.finish(.couldNotCheck(url, reason: "--out \(destination) is not empty (\(entries.count) entries); "
                                                   + "nothing was downloaded"))
        }
        var deltaURL = url
        if latest, let host {
            do {
                guard let newest = try await ShippedDeltas(url, s3: s3).entries(host: host, since: nil).last else {
                    throw StoreError(.notFound, key: nil, "no shipped delta of host \(host) in \(url)")
                }
                deltaURL = newest.url
            } catch {
                return try check.finish(.couldNotCheck(url, reason: "\(error)"))
            }
        }
        var progress: (@Sendable (Int, Int, String) -> Void)?
        if isatty(2) == 1 && !check.json {
            progress = { done, total, path in
                let end = done == total ? "\n" : ""
                FileHandle.standardError.write(Data("\rverified \(done)/\(total): \(path)\u{1B}[K\(end)".utf8))
            }
        }
        let report: VerificationReport = await check.verify(url: deltaURL, s3: s3, restoreInto: destination, onFile: progress)
        if report.status == .valid && !check.json { print("restored \(report.files) files of \(deltaURL) into \(destination)") }
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

    @Option(name: .customLong("check-command"),
            help: "Once every file checked valid, run 'CMD ARGS --delta DIR --manifest FILE' on the restored delta in the writer sandbox; exit 0 valid, 1 invalid, 2 could not check.")
    var checkCommand: String?

    @Option(name: .customLong("check-timeout"), help: "Seconds the check command may run before its process group is killed.")
    var checkTimeout: Double = 300

    @Option(name: .customLong("check-user"), help: "Who the check runs as, as writer.user: auto (as root: \(WriterIdentity.defaultUser)), self, root or a user name.")
    var checkUser = "auto"

    @Option(name: .customLong("check-group"), help: "The check's group; empty: the user's primary group.")
    var checkGroup = ""

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full exclude each other") }
        if !(timeBudget > 0) { throw ValidationError("--time-budget must be a positive number of seconds") }
        if maxValueBytes < 1 { throw ValidationError("--max-value-bytes must be positive") }
        if maxHeapBytes < 1 << 20 { throw ValidationError("--max-heap-bytes must be at least 1 MiB") }
        if let checkCommand {
            let words: [String]
            do { words = try CommandWords.split(checkCommand) } catch { throw ValidationError("--check-command: \(error)") }
            if words.isEmpty { throw ValidationError("--check-command is empty") }
        }
        if !(checkTimeout > 0) || checkTimeout > 1e9 { throw ValidationError("--check-timeout must be a positive number of seconds") }
    }

    /// The check command, with its identity resolved by the writers' rules; nil without one.
    func deltaCheck() throws -> DeltaCheck? {
        guard let checkCommand else { return nil }
        let identity = try WriterIdentity.resolve(user: checkUser, group: checkGroup)
        for warning in identity.warnings { FileHandle.standardError.write(Data("verifier: check command: \(warning)\n".utf8)) }
        return DeltaCheck(command: try CommandWords.split(checkCommand), timeout: .milliseconds(Int64((checkTimeout * 1000).rounded())),
                          identity: identity.identity)
    }

    func verify(url: String, s3: S3Arguments, restoreInto: String?,
                onFile: (@Sendable (Int, Int, String) -> Void)? = nil) async -> VerificationReport {
        let options: S3Options
        do { options = try s3.options() } catch {
            return .couldNotCheck(url, reason: "\(error)")
        }
        var budget = SQLiteBudget()
        budget.baseSeconds = timeBudget
        budget.valueBytes = maxValueBytes
        budget.heapBytes = maxHeapBytes
        return await VerifyRequest(fullCheck: !quick, budget: budget, s3: options, credentials: s3.credentials,
                                   deltaCheck: deltaCheck).verify(url: url, restoreInto: restoreInto, onFile: onFile)
    }

    func finish(_ report: VerificationReport) throws {
        throw ExitCode(try VerifyRequest.print(report, json: json))
    }
}
