import Foundation

/// The verifier's whole environment: a clean set, its private temporary directory, and the
/// store settings that are not secrets (region, endpoint, CA bundle, profile names). Access
/// keys, secrets and session tokens never pass: they reach it through a file.
enum VerifierEnvironment {
    /// Variables of the supervisor's environment that carry credentials.
    static let secretNames: Set<String> = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"]

    static func make(temporary: String, inherited: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var environment: [String: String] = [
            "PATH": inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": inherited["HOME"] ?? temporary,
            "TMPDIR": temporary,
            "LANG": "C.UTF-8",
        ]
        for (name, value) in inherited where name.hasPrefix("AWS_") && !secretNames.contains(name) {
            environment[name] = value
        }
        return environment
    }
}
