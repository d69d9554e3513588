import ArgumentParser

/// `--spool`, which every subcommand that reads the spool takes.
struct SpoolOption: ParsableArguments {
    @Option(help: "Spool directory, an absolute path (spool; default ./var/spool).")
    var spool: String?

    var overrides: [SettingOverride] { settingOverrides([("--spool", spool)]) }
}
