import DeltaSealStore

/// EC2 instance metadata (IMDSv2): a session token from `PUT /latest/api/token`, then the role
/// from `GET /latest/meta-data/iam/security-credentials/` and its credentials from `.../<role>`.
///
/// The endpoint is `AWS_EC2_METADATA_SERVICE_ENDPOINT`, default `http://169.254.169.254`;
/// `AWS_EC2_METADATA_DISABLED=true` turns the source off. Timeouts are short (1 s to connect,
/// 2 s per request) since off EC2 nothing answers.
public struct InstanceMetadata: Sendable {
    public let endpoint: String

    public init(environment: [String: String]) {
        let configured = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://169.254.169.254"
        endpoint = configured.hasSuffix("/") ? String(configured.dropLast()) : configured
    }

    /// Whether the environment turns instance metadata off.
    public static func isDisabled(_ environment: [String: String]) -> Bool {
        environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true"
    }

    /// The instance role's current credentials.
    public func credentials() throws -> S3Credentials {
        let token = try request("PUT", "/latest/api/token", headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
        let auth = [("X-aws-ec2-metadata-token", token.bodyText.trimmingCharacters(in: .whitespacesAndNewlines))]
        let roles = try request("GET", "/latest/meta-data/iam/security-credentials/", headers: auth)
        guard let role = roles.bodyText.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw StoreError(.unauthorized, key: nil, "IMDSv2 at \(endpoint): the instance has no IAM role", retryable: false)
        }
        let answer = try request("GET", "/latest/meta-data/iam/security-credentials/" + SigV4.encode(role, keepSlash: false), headers: auth)
        return try CredentialHTTP.credentials(json: answer.body, source: "IMDSv2 role \(role)", what: "IMDSv2 at \(endpoint)")
    }

    private func request(_ method: String, _ path: String, headers: [(String, String)]) throws -> HTTPResponse {
        let response = try CredentialHTTP.send(method, endpoint + path, headers: headers, what: "IMDSv2",
                                               connectTimeout: 1, totalTimeout: 2)
        guard response.status == 200 else {
            throw StoreError(.unauthorized, key: nil, "IMDSv2 at \(endpoint): \(method) \(path): \(CredentialHTTP.excerpt(response))",
                             retryable: CredentialHTTP.isRetryable(status: response.status))
        }
        return response
    }
}
