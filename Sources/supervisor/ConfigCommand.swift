import ArgumentParser
import DeltaSealSupervisor
import Foundation

/// `supervisor config check`: the checks `start` runs, and the effective configuration.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect the configuration.",
        subcommands: [Check.self, Flags.self]
    )

    /// `supervisor config flags`: every setting, its flags and its variable, from the schema.
    struct Flags: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "flags",
            abstract: "List every setting: its key, its flags (start and config check take them all), its variable."
        )

        func run() {
            for setting in ConfigSchema.settings {
                print("\(setting.flags.joined(separator: ", ")) VALUE")
                print("    \(setting.key) (\(setting.environmentName)): \(setting.help)")
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Run the checks start runs (Preflight) and print the effective settings.",
            discussion: """
                Checks the settings (file, DELTASEAL_* variables, flags), the writer command (on PATH, and runnable by the \
                writers' user), the verifier, the spool (created if missing, then written to), the metrics address (bound and \
                closed), S3 credentials (where they come from, never the secret) and, unless --offline, that the store takes a \
                0-byte PUT and DELETE of HOST/.deltaseal-probe. Every setting flag of start is accepted too (`config flags` lists \
                them), to check a command line. Exit 0: usable. 78: configuration (a bad setting, an executable that cannot run, missing or \
                refused credentials); 73: the spool cannot be created or written; 69: the store did not answer. A supervisor \
                running on the spool, or a metrics address in use, is reported but is no error (check beside a running daemon before a reload).
                """
        )

        @OptionGroup var file: ConfigFileOptions

        @Flag(help: "Skip the checks that need the network (the store probe).")
        var offline = false

        @OptionGroup(visibility: .hidden) var spool: SpoolOption
        @OptionGroup(visibility: .hidden) var store: StoreOptions
        @OptionGroup(visibility: .hidden) var pipeline: SettingFlags

        func run() async throws {
            let config = try file.loadOrExit(spool.overrides + store.overrides + pipeline.overrides)
            print(ConfigLoader.describe(config))
            let report = await Preflight(config: config, environment: ProcessInfo.processInfo.environment).run(.check(probeStore: !offline))
            for note in report.notes { print("# \(note)") }
            for warning in report.warnings { print("# warning: \(warning)") }
            guard let status = report.exitStatus else { return }
            FileHandle.standardError.write(Data(report.problems.map { "error: \($0)\n" }.joined().utf8))
            throw ExitCode(status)
        }
    }
}
