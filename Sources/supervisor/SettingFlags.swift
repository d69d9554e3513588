import ArgumentParser
import DeltaSealSupervisor

/// Every setting of the configuration as a flag (`start`, and `config check`, which checks what
/// `start` would run): the flags come from ``ConfigSchema``, named after the keys
/// (`writer.timeout` is `--writer-timeout`) plus the short names the schema keeps as aliases, so
/// the file, the environment and the command line cannot disagree. `supervisor config flags` lists them.
struct SettingFlags: ParsableArguments {
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var words: [String] = []

    func validate() throws {
        do { _ = try ConfigSchema.overrides(flags: words) } catch let error as ConfigSchema.FlagError {
            throw ValidationError(error.description)
        }
    }

    /// The flags given, as configuration keys.
    var overrides: [SettingOverride] {
        ((try? ConfigSchema.overrides(flags: words)) ?? []).map { ($0.key, $0.value, $0.flag) }
    }
}

/// Flags an option group declares itself (`--spool`, `--store`, the shared S3 group), as the
/// settings the schema names them for; a flag that names none is a programming error, which
/// `SettingFlagsTests` catches.
func settingOverrides(_ given: [(flag: String, value: String?)]) -> [SettingOverride] {
    given.compactMap { flag, value in
        guard let value else { return nil }
        guard let setting = ConfigSchema.setting(flag: flag) else { preconditionFailure("\(flag) names no setting of ConfigSchema") }
        return (setting.key, value, flag)
    }
}
