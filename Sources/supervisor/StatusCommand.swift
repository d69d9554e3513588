import ArgumentParser
import DeltaSealDelta
import DeltaSealSupervisor
import Foundation

/// `supervisor status [--json]`: what the supervisor of a spool is doing.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show deltas in flight by stage, queue depths, shipped in the last hour, recent failures, and whether intake is paused.",
        discussion: "Reads the spool (works whether or not the daemon runs) and the running daemon's status.json."
    )

    @OptionGroup var file: ConfigFileOptions
    @OptionGroup var spool: SpoolOption

    @Flag(help: "Print JSON for scripts.")
    var json = false

    func run() throws {
        let config = try file.loadOrExit(spool.overrides)
        let status = try SupervisorStatus.read(spool: Spool(root: config.spool))
        if json {
            print(String(decoding: try StableJSON.encode(status), as: UTF8.self), terminator: "")
        } else {
            print(status.table)
        }
    }
}
