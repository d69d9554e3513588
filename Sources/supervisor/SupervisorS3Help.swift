import ArgumentParser
import DeltaSealCommandLine

/// The S3 flags' help in the supervisor: each names the setting it overrides.
enum SupervisorS3Help: S3FlagsHelp {
    static let endpoint: ArgumentHelp = "S3 endpoint, https://host[:port] (s3.endpoint; overrides AWS_ENDPOINT_URL)."
    static let region: ArgumentHelp = "S3 signing region (s3.region; overrides AWS_REGION and AWS_DEFAULT_REGION)."
    static let addressing: ArgumentHelp = "S3 bucket addressing: auto, path or virtual (s3.addressing)."
    static let stallTimeout: ArgumentHelp = "Seconds (fractions allowed) a transfer may move no byte (s3.stall_timeout)."
    static let maxAttempts: ArgumentHelp = "Attempts per S3 request before the delta's attempt fails (s3.max_attempts)."
}
