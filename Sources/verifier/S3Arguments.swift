import ArgumentParser
import DeltaSealS3

/// How to reach an S3 server; the same flags as `supervisor start`.
struct S3Arguments: ParsableArguments {
    @Option(help: "S3 endpoint (https://host[:port]); overrides AWS_ENDPOINT_URL.")
    var endpoint: String?

    @Option(help: "S3 signing region; overrides AWS_REGION and AWS_DEFAULT_REGION.")
    var region: String?

    @Option(help: "Bucket addressing: auto, path or virtual.")
    var addressing: String = "auto"

    @Option(name: .customLong("stall-timeout"), help: "Seconds a transfer may move no byte before it is abandoned.")
    var stallTimeout: Double?

    @Option(name: .customLong("s3-max-attempts"), help: "Attempts per S3 request on throttling, 5xx, resets and truncated bodies.")
    var maxAttempts: Int?

    @Option(name: .customLong("credentials-file"),
            help: "Read the credentials from this AWS credentials file (profile default) and delete it (how the supervisor hands them over).")
    var credentialsFile: String?

    /// Credentials from `--credentials-file`, which is deleted once read; nil without the flag.
    func takeCredentials() throws -> S3Credentials? {
        try credentialsFile.map(S3Credentials.takeFile)
    }

    func options() throws -> S3Options {
        var options = S3Options()
        options.endpoint = endpoint
        options.region = region
        guard let style = S3Options.Addressing(rawValue: addressing) else {
            throw ValidationError("--addressing must be auto, path or virtual, not \(addressing)")
        }
        options.addressing = style
        if let stallTimeout {
            guard stallTimeout > 0, stallTimeout.isFinite else { throw ValidationError("--stall-timeout must be a positive number of seconds") }
            options.stallTimeoutSeconds = stallTimeout
        }
        if let maxAttempts {
            guard maxAttempts >= 1 else { throw ValidationError("--s3-max-attempts must be at least 1") }
            options.maxAttempts = maxAttempts
        }
        return options
    }
}
