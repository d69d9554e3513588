import DeltaSealStore

/// The AWS SDKs' default credential chain; the first source that is configured wins:
///
/// 1. the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`;
/// 2. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (+ `AWS_ROLE_SESSION_NAME`),
///    through STS `AssumeRoleWithWebIdentity`;
/// 3. the profile `AWS_PROFILE` (default `default`) in the shared config and credentials files
///    (see ``ProfileFiles``): assumed roles, SSO, static keys, `credential_process`;
/// 4. container credentials: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`;
/// 5. EC2 instance metadata (IMDSv2), unless `AWS_EC2_METADATA_DISABLED=true`.
///
/// Temporary credentials are refreshed before they expire (``RefreshingCredentials``).
public enum CredentialChain {
    /// The provider of the first configured source. Only instance metadata, the last resort, is
    /// asked here (to know whether there is one); the others are asked on first use.
    public static func provider(environment: [String: String],
                                readFile: @escaping @Sendable (String) -> String?) throws -> any CredentialProvider {
        if let fixed = environmentKeys(environment) { return StaticCredentials(fixed) }
        if let provider = webIdentity(environment, readFile: readFile) { return provider }
        let files = ProfileFiles(environment: environment, readFile: readFile)
        let (profile, explicit) = files.selected
        var searched = ["AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN",
                        "profile \(profile) in \(files.credentialsFile)", "profile \(profile) in \(files.configFile)"]
        if let provider = try files.provider(for: profile) { return provider }
        // A profile that was asked for by name and is not there is an error, not a reason to go on.
        if explicit { throw S3Credentials.NotFound(searched: searched) }
        if let container = try ContainerCredentials(environment: environment) {
            return RefreshingCredentials(source: "container credentials") { try container.credentials() }
        }
        searched.append("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI")
        if InstanceMetadata.isDisabled(environment) {
            searched.append("instance metadata (AWS_EC2_METADATA_DISABLED)")
            throw S3Credentials.NotFound(searched: searched)
        }
        let imds = InstanceMetadata(environment: environment)
        let first: S3Credentials
        do { first = try imds.credentials() } catch {
            searched.append("IMDSv2 at \(imds.endpoint) (\(error))")
            throw S3Credentials.NotFound(searched: searched)
        }
        let provider = RefreshingCredentials(source: first.source) { try imds.credentials() }
        provider.prime(first)
        return provider
    }

    /// Credentials a child process may be handed as they are (in a file): long-term keys only.
    /// `nil` when the chain gives temporary credentials the child had better fetch itself, so
    /// they cannot expire in its hands, or when there are none.
    public static func longTermCredentials(environment: [String: String],
                                           readFile: @escaping @Sendable (String) -> String?) -> S3Credentials? {
        (try? provider(environment: environment, readFile: readFile) as? StaticCredentials)?.fixed
    }

    /// The environment's static keys, if both are set.
    static func environmentKeys(_ environment: [String: String]) -> S3Credentials? {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty,
              let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else { return nil }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token, source: "environment")
    }

    private static func webIdentity(_ environment: [String: String], readFile: @escaping @Sendable (String) -> String?) -> RefreshingCredentials? {
        guard let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty,
              let roleARN = environment["AWS_ROLE_ARN"], !roleARN.isEmpty else { return nil }
        let region = S3Credentials.region(environment: environment, readFile: readFile)
        let sessionName = environment["AWS_ROLE_SESSION_NAME"].flatMap { $0.isEmpty ? nil : $0 } ?? STSClient.defaultSessionName()
        return WebIdentity(roleARN: roleARN, tokenFile: tokenFile, sessionName: sessionName,
                           sts: STSClient(environment: environment, region: region), readFile: readFile).provider()
    }
}
