import DeltaSealStore
import DeltaSealSystem
import Foundation

/// The shared config and credentials files (`AWS_CONFIG_FILE`, default `~/.aws/config`;
/// `AWS_SHARED_CREDENTIALS_FILE`, default `~/.aws/credentials`) and what a profile in them says
/// to use, in the AWS SDKs' order: `role_arn` (with `source_profile` or `credential_source`),
/// `role_arn` with `web_identity_token_file`, SSO (`sso_session` or `sso_start_url`), static keys,
/// `credential_process`.
struct ProfileFiles: Sendable {
    let environment: [String: String]
    let readFile: @Sendable (String) -> String?
    let home: String
    let credentialsFile: String
    let configFile: String

    init(environment: [String: String], readFile: @escaping @Sendable (String) -> String?) {
        self.environment = environment
        self.readFile = readFile
        home = environment["HOME"] ?? "/root"
        credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? home + "/.aws/credentials"
        configFile = environment["AWS_CONFIG_FILE"] ?? home + "/.aws/config"
    }

    /// The profile `AWS_PROFILE` names, and whether it was named (rather than `default`).
    var selected: (name: String, explicit: Bool) {
        if let name = environment["AWS_PROFILE"], !name.isEmpty { return (name, true) }
        return ("default", false)
    }

    /// A profile's settings: the config file's, overridden by the credentials file's; and where
    /// its static keys would come from. `nil` if neither file has the profile.
    func values(of profile: String) -> (values: [String: String], keysFrom: String)? {
        let configText = readFile(configFile)
        let credentialsText = readFile(credentialsFile)
        var config = configText.flatMap { INIFile.section(profile == "default" ? "default" : "profile " + profile, in: $0) }
        if config == nil, profile == "default" { config = configText.flatMap { INIFile.section("profile default", in: $0) } }
        let credentials = credentialsText.flatMap { INIFile.section(profile, in: $0) }
        guard config != nil || credentials != nil else { return nil }
        var merged = config ?? [:]
        for (key, value) in credentials ?? [:] { merged[key] = value }
        let keysFrom = credentials?["aws_access_key_id"] != nil ? credentialsFile : configFile
        return (merged, keysFrom)
    }

    /// An `[sso-session NAME]` section of the config file.
    func ssoSession(_ name: String) -> [String: String]? {
        readFile(configFile).flatMap { INIFile.section("sso-session " + name, in: $0) }
    }

    /// The provider a profile configures; `nil` if the profile sets none of the known settings.
    func provider(for profile: String, depth: Int = 0) throws -> (any CredentialProvider)? {
        guard depth < 8 else {
            throw StoreError(.invalidRequest, key: nil, "profile \(profile): source_profile chain is longer than 8 or loops", retryable: false)
        }
        guard let (values, keysFrom) = values(of: profile) else { return nil }
        let region = values["region"] ?? S3Credentials.region(environment: environment, readFile: readFile)

        if let roleARN = values["role_arn"] {
            let sts = STSClient(environment: environment, region: values["sts_region"] ?? region)
            let sessionName = values["role_session_name"] ?? STSClient.defaultSessionName()
            if let tokenFile = values["web_identity_token_file"] {
                return WebIdentity(roleARN: roleARN, tokenFile: tokenFile, sessionName: sessionName, sts: sts, readFile: readFile).provider()
            }
            let source: any CredentialProvider
            let via: String
            if let sourceProfile = values["source_profile"] {
                if sourceProfile == profile, let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] {
                    source = StaticCredentials(S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"],
                                                             source: "profile \(profile) in \(keysFrom)"))
                } else {
                    guard let inner = try provider(for: sourceProfile, depth: depth + 1) else {
                        throw StoreError(.unauthorized, key: nil, "profile \(profile): source_profile \(sourceProfile) has no credentials", retryable: false)
                    }
                    source = inner
                }
                via = "source_profile \(sourceProfile)"
            } else if let named = values["credential_source"] {
                source = try credentialSource(named, profile: profile)
                via = "credential_source \(named)"
            } else {
                throw StoreError(.invalidRequest, key: nil, "profile \(profile) sets role_arn but neither source_profile nor credential_source",
                                 retryable: false)
            }
            let durationSeconds = values["duration_seconds"].flatMap(Int.init)
            let label = "role \(roleARN) of profile \(profile) (\(via))"
            return RefreshingCredentials(source: label) {
                let base = try source.credentials()
                do {
                    return try sts.assumeRole(roleARN: roleARN, sessionName: sessionName, externalID: values["external_id"],
                                              durationSeconds: durationSeconds, with: base, label: label)
                } catch let error as StoreError where error.message.contains("ExpiredToken") {
                    source.invalidate(base)
                    throw error
                }
            }
        }
        if let sso = try SSOCredentials(profile: profile, values: values, sessions: ssoSession, home: home, environment: environment) {
            let readFile = self.readFile
            return RefreshingCredentials(source: "SSO role \(sso.roleName) of profile \(profile)") {
                try sso.credentials(readFile: readFile, now: WallClock.nowMilliseconds())
            }
        }
        if let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"] {
            return StaticCredentials(S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"],
                                                   source: "profile \(profile) in \(keysFrom)"))
        }
        if let command = values["credential_process"] {
            let process = CredentialProcess(command: command, profile: profile)
            return RefreshingCredentials(source: "credential_process of profile \(profile)") { try process.credentials() }
        }
        return nil
    }

    /// `credential_source`: `Environment`, `Ec2InstanceMetadata` or `EcsContainer`.
    private func credentialSource(_ name: String, profile: String) throws -> any CredentialProvider {
        switch name {
        case "Environment":
            guard let fixed = CredentialChain.environmentKeys(environment) else {
                throw StoreError(.unauthorized, key: nil, "profile \(profile): credential_source Environment but AWS_ACCESS_KEY_ID is not set",
                                 retryable: false)
            }
            return StaticCredentials(fixed)
        case "Ec2InstanceMetadata":
            let imds = InstanceMetadata(environment: environment)
            return RefreshingCredentials(source: "IMDSv2") { try imds.credentials() }
        case "EcsContainer":
            guard let container = try ContainerCredentials(environment: environment) else {
                throw StoreError(.unauthorized, key: nil, "profile \(profile): credential_source EcsContainer but no AWS_CONTAINER_CREDENTIALS_* is set",
                                 retryable: false)
            }
            return RefreshingCredentials(source: "container credentials") { try container.credentials() }
        default:
            throw StoreError(.invalidRequest, key: nil, "profile \(profile): unknown credential_source \(name)", retryable: false)
        }
    }
}
