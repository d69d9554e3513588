import ArgumentParser
import DeltaSealCore
import DeltaSealSupervisor
import Foundation

/// `supervisor retry DELTA-ID... | --all-failed`: failed deltas back into the pipeline.
struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Move failed deltas back into the pipeline, under the same delta id, with fresh attempts.",
        discussion: "A running supervisor picks them up within one poll interval. Exit 0, or 1 if a named delta is not in failed/."
    )

    @OptionGroup var options: StartOptions

    @Argument(help: "Delta ids in failed/.")
    var ids: [String] = []

    @Flag(name: .customLong("all-failed"), help: "Every delta in failed/.")
    var allFailed = false

    func validate() throws {
        if ids.isEmpty == !allFailed { throw ValidationError("name delta ids or --all-failed (not both)") }
    }

    func run() throws {
        let config = try options.loadOrExit()
        let spool = Spool(root: config.spool)
        let chosen = allFailed ? try spool.failedDeltas() : ids.compactMap(DeltaID.init)
        if chosen.count != (allFailed ? chosen.count : ids.count) {
            throw ValidationError("not delta ids: \(ids.filter { DeltaID($0) == nil }.joined(separator: ", "))")
        }
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
