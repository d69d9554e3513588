import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Access key, secret and optional session token. Never printed: `description` shows only the
/// access key id.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?
    /// Where they came from, for messages ("environment", "web identity (role arn:…)",
    /// "IMDSv2 role X"); never a secret.
    public let source: String
    /// When temporary credentials stop working (Unix milliseconds); `nil` for long-term keys.
    public let expiration: Int64?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String,
                expiration: Int64? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
        self.expiration = expiration
    }

    /// The same keys, said to come from `source`.
    func from(_ source: String) -> S3Credentials {
        S3Credentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: sessionToken,
                      source: source, expiration: expiration)
    }

    public var description: String { "access key \(accessKeyID) from \(source) (secret redacted)" }
    public var debugDescription: String { description }

    /// These credentials as an AWS shared credentials file (profile `default`), to hand to a
    /// child process through a private file instead of its environment.
    /// The first line, a comment, says where they came from (never a secret).
    public var sharedCredentialsFile: String {
        "# source: \(source.filter { !$0.isNewline })\n"
            + "[default]\naws_access_key_id = \(accessKeyID)\naws_secret_access_key = \(secretAccessKey)\n"
            + (sessionToken.map { "aws_session_token = \($0)\n" } ?? "")
    }

    /// Reads credentials from a file written as ``sharedCredentialsFile`` and removes the file,
    /// so they exist on disk only as long as it takes to read them.
    public static func takeFile(_ path: String) throws -> S3Credentials {
        defer { unlink(path) }
        guard let text = AWSConfigFile.read(path), let values = INIFile.section("default", in: text),
              let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw NotFound(searched: ["--credentials-file \(path)"])
        }
        let origin = text.split(whereSeparator: \.isNewline).first { $0.hasPrefix("# source: ") }
            .map { "; " + $0.dropFirst("# source: ".count) } ?? ""
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"],
                             source: "the supervisor (a private file\(origin))")
    }

    /// No credentials in any of the standard places.
    public struct NotFound: Error, CustomStringConvertible {
        public let searched: [String]
        public var description: String {
            "no AWS credentials found (searched: \(searched.joined(separator: ", "))); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where a role is available (web identity, container, EC2)"
        }
    }

    /// The credentials the standard chain gives now (see ``CredentialChain``): environment, web
    /// identity, the profile (static keys, `credential_process`, `role_arn`, SSO), container
    /// credentials, then EC2 instance metadata. Temporary ones are not refreshed: use
    /// ``CredentialChain/provider(environment:readFile:)`` for a store that runs for long.
    public static func resolve(environment: [String: String], readFile: @escaping @Sendable (String) -> String?) throws -> S3Credentials {
        try CredentialChain.provider(environment: environment, readFile: readFile).credentials()
    }

    /// The region in the AWS CLI's order: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
    /// `region` in the config file; `nil` if none says.
    public static func region(environment: [String: String], readFile: (String) -> String?) -> String? {
        for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
            if let value = environment[name], !value.isEmpty { return value }
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let configFile = environment["AWS_CONFIG_FILE"] ?? (environment["HOME"] ?? "/root") + "/.aws/config"
        guard let text = readFile(configFile) else { return nil }
        return INIFile.section(profile == "default" ? "default" : "profile " + profile, in: text)?["region"]
    }
}
