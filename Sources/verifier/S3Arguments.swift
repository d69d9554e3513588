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

    /// Credentials from `--credentials-file`, nil without the flag. The file is read and deleted
    /// on first use and its credentials kept for the rest of the process: a listing and every
    /// check of a range use them.
    func credentials() throws -> S3Credentials? {
        guard let path = credentialsFile else { return nil }
        return try Self.taken.withLock { taken in
            if let known = taken[path] { return known }
            let credentials = try S3Credentials.takeFile(path)
            taken[path] = credentials
            return credentials
        }
    }

    private static let taken = Mutex<[String: S3Credentials]>([:])

    /// A number that does not parse is a usage error (64), before any store is opened.
    func validate() throws {
        if let text = flags.stallTimeout, Double(text) == nil {
            throw ValidationError("The value '\(text)' is invalid for '--stall-timeout <stall-timeout>'")
        }
        if let text = flags.maxAttempts, Int(text) == nil {
            throw ValidationError("The value '\(text)' is invalid for '--s3-max-attempts <s3-max-attempts>'")
        }
    }

    func options() throws -> S3Options {
        var options = S3Options()
        options.endpoint = flags.endpoint
        options.region = flags.region
        let addressing = flags.addressing ?? "auto"
        guard let style = S3Options.Addressing(rawValue: addressing) else {
            throw ValidationError("--addressing must be auto, path or virtual, not \(addressing)")
        }
        options.addressing = style
        if let stallTimeout = flags.stallTimeout.flatMap(Double.init) {
            guard stallTimeout > 0, stallTimeout.isFinite else { throw ValidationError("--stall-timeout must be a positive number of seconds") }
            options.stallTimeoutSeconds = stallTimeout
        }
        if let maxAttempts = flags.maxAttempts.flatMap(Int.init) {
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
