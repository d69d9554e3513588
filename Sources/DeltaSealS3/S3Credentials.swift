#if canImport(Glibc)
import Glibc
#endif

/// Access key, secret and optional session token. Never printed: `description` shows only the
/// access key id.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let accessKeyID: String
    public let secretAccessKey: String
    public let sessionToken: String?
    /// Where they came from, for messages ("environment", "profile default in ~/.aws/credentials").
    public let source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.source = source
    }

    public var description: String { "access key \(accessKeyID) from \(source) (secret redacted)" }
    public var debugDescription: String { description }

    /// These credentials as an AWS shared credentials file (profile `default`), to hand to a
    /// child process through a private file instead of its environment.
    public var sharedCredentialsFile: String {
        "[default]\naws_access_key_id = \(accessKeyID)\naws_secret_access_key = \(secretAccessKey)\n"
            + (sessionToken.map { "aws_session_token = \($0)\n" } ?? "")
    }

    /// Reads credentials from a file written as ``sharedCredentialsFile`` and removes the file,
    /// so they exist on disk only as long as it takes to read them.
    public static func takeFile(_ path: String) throws -> S3Credentials {
        defer { unlink(path) }
        guard let text = StoreOpener.readFile(path), let values = INIFile.section("default", in: text),
              let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else {
            throw NotFound(searched: ["--credentials-file \(path)"])
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"],
                             source: "the supervisor (a private file)")
    }

    /// No credentials in any of the standard places.
    public struct NotFound: Error, CustomStringConvertible {
        public let searched: [String]
        public var description: String {
            "no AWS credentials found (searched: \(searched.joined(separator: ", "))); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a profile"
        }
    }

    /// Resolves credentials in the AWS CLI's order: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/
    /// `AWS_SESSION_TOKEN`; then the profile (`AWS_PROFILE`, default `default`) in the shared
    /// credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`); then in the
    /// config file (`AWS_CONFIG_FILE`, default `~/.aws/config`).
    public static func resolve(environment: [String: String], readFile: (String) -> String?) throws -> S3Credentials {
        if let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty,
           let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty {
            let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, source: "environment")
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let home = environment["HOME"] ?? "/root"
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config"
        for (path, section) in [(credentialsFile, profile), (configFile, profile == "default" ? "default" : "profile " + profile)] {
            guard let text = readFile(path), let values = INIFile.section(section, in: text),
                  let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] else { continue }
            return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"],
                                 source: "profile \(profile) in \(path)")
        }
        throw NotFound(searched: ["AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "profile \(profile) in \(credentialsFile)",
                                  "profile \(profile) in \(configFile)"])
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

/// The AWS CLI's INI files: `[section]`, `key = value`, `#` and `;` comments.
enum INIFile {
    static func section(_ name: String, in text: String) -> [String: String]? {
        var current: String?
        var values: [String: String]?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if current == name && values == nil { values = [:] }
                continue
            }
            guard current == name, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            values?[key] = value
        }
        return values
    }
}

import Foundation
