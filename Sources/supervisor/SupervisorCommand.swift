import ArgumentParser
import CDeltaSealBuildInfo
import DeltaSealCore
import DeltaSealSystem

/// `supervisor`: the DeltaSeal daemon and its operator commands.
@main
struct SupervisorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervisor",
        abstract: "Seal, ship and verify SQLite deltas written by short-lived writer processes.",
        version: DeltaSealVersion.line("supervisor", commit: BuildCommit.current(compiled: String(cString: deltaseal_git_commit()))),
        subcommands: [StartCommand.self, StatusCommand.self, DemoCommand.self, GCCommand.self, ConfigCommand.self, RetryCommand.self]
    )
}
