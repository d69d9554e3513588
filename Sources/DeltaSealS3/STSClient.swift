import Crypto
import DeltaSealCore
import DeltaSealStore
import DeltaSealSystem
import Foundation

/// AWS STS over the Query API: `AssumeRole` (signed with source credentials) and
/// `AssumeRoleWithWebIdentity` (unsigned: the token is the proof).
///
/// The endpoint is `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the regional
/// `https://sts.<region>.amazonaws.com` (the global `https://sts.amazonaws.com` with
/// `AWS_STS_REGIONAL_ENDPOINTS=legacy` or without a region).
public struct STSClient: Sendable {
    /// `scheme://host[:port]` with no path.
    public let endpoint: String
    /// The signing region.
    public let region: String
    let caBundle: String?

    public init(environment: [String: String], region: String?) {
        let region = region.flatMap { $0.isEmpty ? nil : $0 }
        let override = [environment["AWS_ENDPOINT_URL_STS"], environment["AWS_ENDPOINT_URL"]].compactMap { $0 }.first { !$0.isEmpty }
        if let override {
            endpoint = override.hasSuffix("/") ? String(override.dropLast()) : override
            self.region = region ?? "us-east-1"
        } else if let region, environment["AWS_STS_REGIONAL_ENDPOINTS"]?.lowercased() != "legacy" {
            endpoint = region.hasPrefix("cn-") ? "https://sts.\(region).amazonaws.com.cn" : "https://sts.\(region).amazonaws.com"
            self.region = region
        } else {
            endpoint = "https://sts.amazonaws.com"
            self.region = "us-east-1"
        }
        caBundle = environment["AWS_CA_BUNDLE"]
    }

    /// `AssumeRole` for `roleARN`, signed with `source`.
    public func assumeRole(roleARN: String, sessionName: String, externalID: String? = nil, durationSeconds: Int? = nil,
                           with source: S3Credentials, label: String) throws -> S3Credentials {
        var fields = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleARN), ("RoleSessionName", sessionName)]
        if let externalID { fields.append(("ExternalId", externalID)) }
        if let durationSeconds { fields.append(("DurationSeconds", "\(durationSeconds)")) }
        let body = Array(CredentialHTTP.form(fields).utf8)
        let host = endpoint.components(separatedBy: "://").last.map { $0.split(separator: "/").first.map(String.init) ?? $0 } ?? endpoint
        let contentType = "application/x-www-form-urlencoded; charset=utf-8"
        let signer = SigV4(credentials: source, region: region, service: "sts")
        let payloadHash = Hex.encode(SHA256.hash(data: body))
        let signed = signer.sign(method: "POST", path: "/", query: [], headers: [("host", host), ("content-type", contentType)],
                                 payloadHash: payloadHash, amzDate: SigV4.amzDate(unixMilliseconds: WallClock.nowMilliseconds()))
        return try call(body: body, headers: [("Content-Type", contentType)] + signed, action: "AssumeRole", label: label)
    }

    /// `AssumeRoleWithWebIdentity` for `roleARN` with the OIDC `token`.
    public func assumeRoleWithWebIdentity(roleARN: String, sessionName: String, token: String, label: String) throws -> S3Credentials {
        let body = Array(CredentialHTTP.form([
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ]).utf8)
        return try call(body: body, headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")],
                        action: "AssumeRoleWithWebIdentity", label: label)
    }

    private func call(body: [UInt8], headers: [(String, String)], action: String, label: String) throws -> S3Credentials {
        let response = try CredentialHTTP.send("POST", endpoint + "/", headers: headers + [("Accept", "application/xml")], body: body,
                                               what: "STS \(action) (\(label))", caBundle: caBundle)
        return try Self.parse(response, action: action, label: label)
    }

    /// The credentials of an STS answer, or an error that says whether asking again may help.
    static func parse(_ response: HTTPResponse, action: String, label: String) throws -> S3Credentials {
        guard (200..<300).contains(response.status) else {
            let code = XMLText.value(of: "Code", in: response.bodyText) ?? ""
            let retryable = CredentialHTTP.isRetryable(status: response.status) || code == "Throttling" || code == "IDPCommunicationError"
            throw StoreError(.unauthorized, key: nil, "STS \(action) (\(label)) refused: \(CredentialHTTP.excerpt(response))", retryable: retryable)
        }
        let block = XMLText.blocks("Credentials", in: response.bodyText).first ?? ""
        guard let id = XMLText.value(of: "AccessKeyId", in: block), let secret = XMLText.value(of: "SecretAccessKey", in: block) else {
            throw StoreError(.unauthorized, key: nil, "STS \(action) (\(label)) answered without credentials", retryable: true)
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: XMLText.value(of: "SessionToken", in: block),
                             source: label, expiration: XMLText.value(of: "Expiration", in: block).flatMap(ISODate.parse))
    }

    /// A session name as the SDKs make one when none is configured.
    static func defaultSessionName() -> String { "deltaseal-\(WallClock.nowMilliseconds())" }
}
