import ArgumentParser
import DeltaSealCommandLine
import DeltaSealS3
import Synchronization

/// How to reach an S3 server: the flags of `supervisor start`, and the credentials it hands over.
struct S3Arguments: ParsableArguments {
    @OptionGroup var flags: S3Flags<VerifierS3Help>

    @Option(name: .customLong("credentials-file"),
            help: "Read the credentials from this AWS credentials file (profile default) and delete it (how the supervisor hands them over).")
    var credentialsFile: String?

    /// Credentials from `--credentials-file`, nil without the flag (see ``takeCredentialsFile(_:)``).
    func credentials() throws -> S3Credentials? {
        try credentialsFile.map(Self.takeCredentialsFile)
    }

    /// The credentials in the file at `path`, which is read and deleted on first use; they are
    /// kept for the rest of the process, since a listing and every check of a range use them.
    static func takeCredentialsFile(_ path: String) throws -> S3Credentials {
        try taken.withLock { taken in
            if let known = taken[path] { return known }
            let credentials = try S3Credentials.takeFile(path)
            taken[path] = credentials
            return credentials
        }
    }

    private static let taken = Mutex<[String: S3Credentials]>([:])

    /// A number that does not parse is a usage error (64), before any store is opened.
    func validate() throws {
        try Self.validateNumbers(stallTimeout: flags.stallTimeout, maxAttempts: flags.maxAttempts)
    }

    private static func validateNumbers(stallTimeout: String?, maxAttempts: String?) throws {
        if let text = stallTimeout, Double(text) == nil {
            throw ValidationError("The value '\(text)' is invalid for '--stall-timeout <stall-timeout>'")
        }
        if let text = maxAttempts, Int(text) == nil {
            throw ValidationError("The value '\(text)' is invalid for '--s3-max-attempts <s3-max-attempts>'")
        }
    }

    func options() throws -> S3Options {
        try Self.options(endpoint: flags.endpoint, region: flags.region, addressing: flags.addressing,
                         stallTimeout: flags.stallTimeout, maxAttempts: flags.maxAttempts)
    }

    /// The options the S3 flags' texts give (nil: not given). The parsed command and the
    /// supervisor's hand-read call (``SupervisorCall``) both go through here.
    static func options(endpoint: String?, region: String?, addressing: String?, stallTimeout: String?,
                        maxAttempts: String?) throws -> S3Options {
        try validateNumbers(stallTimeout: stallTimeout, maxAttempts: maxAttempts)
        var options = S3Options()
        options.endpoint = endpoint
        options.region = region
        let addressing = addressing ?? "auto"
        guard let style = S3Options.Addressing(rawValue: addressing) else {
            throw ValidationError("--addressing must be auto, path or virtual, not \(addressing)")
        }
        options.addressing = style
        if let stallTimeout = stallTimeout.flatMap(Double.init) {
            guard stallTimeout > 0, stallTimeout.isFinite else { throw ValidationError("--stall-timeout must be a positive number of seconds") }
            options.stallTimeoutSeconds = stallTimeout
        }
        if let maxAttempts = maxAttempts.flatMap(Int.init) {
            guard maxAttempts >= 1 else { throw ValidationError("--s3-max-attempts must be at least 1") }
            options.maxAttempts = maxAttempts
        }
        return options
    }
}

/// The S3 flags' help in the verifier.
enum VerifierS3Help: S3FlagsHelp {
    static let endpoint: ArgumentHelp = "S3 endpoint (https://host[:port]); overrides AWS_ENDPOINT_URL."
    static let region: ArgumentHelp = "S3 signing region; overrides AWS_REGION and AWS_DEFAULT_REGION."
    // What the parser printed when the flag was declared with its default.
    static let addressing: ArgumentHelp = "Bucket addressing: auto, path or virtual. (default: auto)"
    static let stallTimeout: ArgumentHelp = "Seconds a transfer may move no byte before it is abandoned."
    static let maxAttempts: ArgumentHelp = "Attempts per S3 request on throttling, 5xx, resets and truncated bodies."
}
