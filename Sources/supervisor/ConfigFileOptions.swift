import ArgumentParser
import DeltaSealSupervisor
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A setting given on the command line: its key, the value, and the flag, for error messages.
typealias SettingOverride = (key: String, value: String, flag: String)

/// The configuration file, which every subcommand reads, and how it becomes the effective
/// configuration: defaults, the file, `DELTASEAL_*` variables, then only the flags actually given
/// (a flag's absence never overrides the file).
struct ConfigFileOptions: ParsableArguments {
    @Option(help: "YAML configuration file (default: DELTASEAL_CONFIG, else /etc/deltaseal/deltaseal.yaml if it exists).")
    var config: String?

    @Flag(name: .customLong("no-expand-env"), help: "Take ${VAR} and $VAR in the file literally (also DELTASEAL_NO_EXPAND_ENV=1).")
    var noExpandEnvironment = false

    /// The effective configuration; a bad setting is a `ConfigLoader.ConfigError`.
    func load(_ overrides: [SettingOverride]) throws -> SupervisorConfig {
        let environment = ProcessInfo.processInfo.environment
        // Relative store and spool paths only from a person at a terminal: under systemd the
        // working directory is /, and a relative path would land wherever that happens to be.
        return try ConfigLoader(workingDirectory: FileManager.default.currentDirectoryPath, executableDirectory: Executable.directory,
                                home: environment["HOME"], interactive: isatty(0) == 1)
            .load(file: config, environment: environment, flags: overrides, expandEnvironment: noExpandEnvironment ? false : nil)
    }

    /// Loads the configuration, or prints the error and exits 78 (EX_CONFIG).
    func loadOrExit(_ overrides: [SettingOverride]) throws -> SupervisorConfig {
        do {
            return try load(overrides)
        } catch let error as ConfigLoader.ConfigError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}
