import DeltaSealStore
import Foundation

/// Container credentials (ECS task roles, EKS Pod Identity): JSON from
/// `http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, or from
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI` when that is HTTPS or a loopback (or the ECS/EKS link-local)
/// address. `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on every fetch, it rotates) or
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN` goes into `Authorization`.
public struct ContainerCredentials: Sendable {
    public let url: String
    let tokenFile: String?
    let token: String?

    /// The source the environment configures; `nil` if it names none.
    public init?(environment: [String: String]) throws {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            url = "http://169.254.170.2" + (relative.hasPrefix("/") ? relative : "/" + relative)
        } else if let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            guard Self.isAllowed(full) else {
                throw StoreError(.invalidRequest, key: nil,
                                 "AWS_CONTAINER_CREDENTIALS_FULL_URI \(full) must be https or a loopback address", retryable: false)
            }
            url = full
        } else {
            return nil
        }
        tokenFile = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        token = value("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    }

    /// HTTPS anywhere; plain HTTP only to loopback or the ECS (169.254.170.2) and EKS
    /// (169.254.170.23) agents.
    static func isAllowed(_ url: String) -> Bool {
        let lower = url.lowercased()
        if lower.hasPrefix("https://") { return true }
        guard lower.hasPrefix("http://") else { return false }
        let authority = lower.dropFirst("http://".count).split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        let host: String
        if authority.hasPrefix("[") {
            host = String(authority.dropFirst().prefix { $0 != "]" })
        } else {
            host = String(authority.split(separator: ":").first ?? "")
        }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false).map { UInt8($0) }
        let loopbackIPv4 = octets.count == 4 && !octets.contains(nil) && octets[0] == 127
        return host == "localhost" || host == "::1" || loopbackIPv4 || host == "169.254.170.2" || host == "169.254.170.23"
    }

    /// The current credentials.
    public func credentials() throws -> S3Credentials {
        var headers: [(String, String)] = [("Accept", "application/json")]
        if let tokenFile {
            guard let text = AWSConfigFile.read(tokenFile) else {
                throw StoreError(.unauthorized, key: nil, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(tokenFile) cannot be read", retryable: true)
            }
            headers.append(("Authorization", text.trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let token {
            headers.append(("Authorization", token))
        }
        let response = try CredentialHTTP.send("GET", url, headers: headers, what: "container credentials", connectTimeout: 2, totalTimeout: 5)
        guard response.status == 200 else {
            throw StoreError(.unauthorized, key: nil, "container credentials at \(url): \(CredentialHTTP.excerpt(response))",
                             retryable: CredentialHTTP.isRetryable(status: response.status))
        }
        return try CredentialHTTP.credentials(json: response.body, source: "container credentials", what: "container credentials at \(url)")
    }
}
