import ArgumentParser
import DeltaSealCore
import DeltaSealSupervisor
import Foundation

/// `supervisor retry DELTA-ID... | --all-failed`: failed deltas back into the pipeline.
struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Move failed deltas back into the pipeline, under the same delta id, with fresh attempts.",
        discussion: "A running supervisor picks them up within one poll interval. Exit 0, 1 if a named delta is not in failed/, 64 for arguments that are not delta ids."
    )

    @OptionGroup var file: ConfigFileOptions
    @OptionGroup var spool: SpoolOption

    @Argument(help: "Delta ids in failed/ (e.g. 20261125T140509123Z-3fa9c01b7e).")
    var ids: [String] = []

    @Flag(name: .customLong("all-failed"), help: "Every delta in failed/.")
    var allFailed = false

    /// Checked before anything is read: the reason alone on stderr (no usage text to bury it), exit 64.
    func validate() throws {
        func refuse(_ message: String) -> ExitCode {
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            return ExitCode(64)
        }
        if ids.isEmpty && !allFailed { throw refuse("name the delta ids to retry, or --all-failed") }
        if !ids.isEmpty && allFailed { throw refuse("name delta ids or --all-failed, not both") }
        let bad = ids.filter { DeltaID($0) == nil }
        if !bad.isEmpty {
            throw refuse("not a delta id: \(bad.joined(separator: ", ")) (expected YYYYMMDDTHHMMSSmmmZ-XXXXXXXXXX, as listed in failed/)")
        }
    }

    func run() throws {
        let config = try file.loadOrExit(spool.overrides)
        let spool = Spool(root: config.spool)
        let chosen = allFailed ? try spool.failedDeltas() : ids.compactMap(DeltaID.init)
        if allFailed && chosen.isEmpty { print("no delta in \(spool.failed)") }
        var missing = false
        for id in chosen {
            do {
                try spool.retry(id)
                print("requeued \(id)")
            } catch let error as Spool.NotFailed {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                missing = true
            }
        }
        if missing { throw ExitCode(1) }
    }
}
