import ArgumentParser

/// The help of each S3 flag, in one executable's words.
public protocol S3FlagsHelp {
    /// `--endpoint`: `https://host[:port]`.
    static var endpoint: ArgumentHelp { get }
    /// `--region`: the signing region.
    static var region: ArgumentHelp { get }
    /// `--addressing`: auto, path or virtual.
    static var addressing: ArgumentHelp { get }
    /// `--stall-timeout`: seconds without a byte moved.
    static var stallTimeout: ArgumentHelp { get }
    /// `--s3-max-attempts`: attempts per request.
    static var maxAttempts: ArgumentHelp { get }
}
