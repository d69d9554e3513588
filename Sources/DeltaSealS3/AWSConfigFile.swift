import DeltaSealSystem

/// The files the AWS sources read: shared credentials and config files, web identity tokens.
public enum AWSConfigFile {
    /// Reads one (at most 1 MiB); `nil` if there is none.
    @Sendable public static func read(_ path: String) -> String? {
        (try? Files.readAll(path, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) }
    }
}
