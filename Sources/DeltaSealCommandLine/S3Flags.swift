import ArgumentParser

/// The S3 flags of every command that reaches a store (`supervisor start`, `gc`, `config check`;
/// `verifier check`, `restore`, `list`): one set of names, value names and order, which the
/// supervisor also hands its verifier (`S3Options.arguments`).
///
/// Values stay the text given: the supervisor applies them as overrides of its settings, so a flag
/// is checked by the same rules as the file and the environment; the verifier reads them itself.
/// `Help` words each flag's help for its executable (the supervisor's names the setting).
public struct S3Flags<Help: S3FlagsHelp>: ParsableArguments {
    @Option(help: Help.endpoint)
    public var endpoint: String?

    @Option(help: Help.region)
    public var region: String?

    @Option(help: Help.addressing)
    public var addressing: String?

    @Option(name: .customLong("stall-timeout"), help: Help.stallTimeout)
    public var stallTimeout: String?

    @Option(name: .customLong("s3-max-attempts"), help: Help.maxAttempts)
    public var maxAttempts: String?

    public init() {}

    /// The flags given, by the names declared above (for the supervisor's settings).
    public var given: [(flag: String, value: String?)] {
        [("--endpoint", endpoint), ("--region", region), ("--addressing", addressing), ("--stall-timeout", stallTimeout),
         ("--s3-max-attempts", maxAttempts)]
    }
}
