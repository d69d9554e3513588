import ArgumentParser
import DeltaSealCore
import DeltaSealPack
import DeltaSealS3
import DeltaSealStore
import Foundation

/// `verifier URL [--quick|--full] [--json]`: checks one shipped delta, standalone.
@main
struct VerifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verifier",
        abstract: "Check one shipped delta: manifest, checksums, decompression, SQLite integrity and row counts.",
        discussion: "Exit 0: valid. 1: invalid (the report names the file and the reason). 2: could not check."
    )

    @Argument(help: "The delta's location: file:///STORE/HOST/DELTA-ID or s3://BUCKET/PREFIX/HOST/DELTA-ID.")
    var url: String

    @Flag(name: .customLong("quick"), help: "Run PRAGMA quick_check instead of integrity_check.")
    var quick = false

    @Flag(name: .customLong("full"), help: "Run PRAGMA integrity_check (the default).")
    var full = false

    @Flag(name: .customLong("json"), help: "Print the report as JSON.")
    var json = false

    @OptionGroup var s3: S3Arguments

    func validate() throws {
        if quick && full { throw ValidationError("--quick and --full exclude each other") }
    }

    func run() throws {
        let report: VerificationReport
        do {
            let location = try StoreURL(parsing: url, workingDirectory: FileManager.default.currentDirectoryPath)
            let store = try StoreOpener.open(location, s3: s3.options(), environment: ProcessInfo.processInfo.environment)
            report = DeltaVerifier(fullCheck: !quick).verify(store)
        } catch {
            var failed = VerificationReport(location: url)
            failed.status = .couldNotCheck
            failed.problems.append(.init(file: nil, reason: "\(error)"))
            report = failed
        }
        if json {
            print(String(decoding: try StableJSON.encode(report), as: UTF8.self), terminator: "")
        } else {
            print(report.summary)
        }
        throw ExitCode(report.status.exitStatus)
    }
}
