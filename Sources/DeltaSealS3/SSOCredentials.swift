import Crypto
import DeltaSealCore
import DeltaSealStore
import Foundation

/// IAM Identity Center (SSO) profiles: the access token `aws sso login` cached in
/// `~/.aws/sso/cache/<sha1>.json` (sha1 of the `sso_session` name, or of `sso_start_url` for
/// legacy profiles) is exchanged at the portal (`GetRoleCredentials`) for role credentials.
/// DeltaSeal never logs in itself: an expired token is an error that says to run `aws sso login`.
public struct SSOCredentials: Sendable {
    public let profile: String
    public let accountID: String
    public let roleName: String
    /// `sso_region`: where the portal is.
    public let region: String
    /// The cache file holding the access token.
    public let cacheFile: String
    /// `AWS_ENDPOINT_URL_SSO`, else `https://portal.sso.<region>.amazonaws.com`.
    public let portal: String
    let caBundle: String?

    /// The SSO settings of a profile; `nil` if it has none.
    init?(profile: String, values: [String: String], sessions: (String) -> [String: String]?, home: String,
          environment: [String: String]) throws {
        guard values["sso_session"] != nil || values["sso_start_url"] != nil else { return nil }
        func missing(_ key: String) -> StoreError {
            StoreError(.unauthorized, key: nil, "profile \(profile) uses SSO but sets no \(key)", retryable: false)
        }
        var region = values["sso_region"]
        let cacheKey: String
        if let session = values["sso_session"] {
            guard let settings = sessions(session) else { throw missing("[sso-session \(session)] section") }
            region = settings["sso_region"] ?? region
            cacheKey = session
        } else {
            cacheKey = values["sso_start_url"]!
        }
        guard let account = values["sso_account_id"] else { throw missing("sso_account_id") }
        guard let role = values["sso_role_name"] else { throw missing("sso_role_name") }
        guard let region else { throw missing("sso_region") }
        self.profile = profile
        accountID = account
        roleName = role
        self.region = region
        cacheFile = home + "/.aws/sso/cache/" + Self.cacheName(cacheKey)
        let override = [environment["AWS_ENDPOINT_URL_SSO"], environment["AWS_ENDPOINT_URL"]].compactMap { $0 }.first { !$0.isEmpty }
        portal = override.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? "https://portal.sso.\(region).amazonaws.com"
        caBundle = environment["AWS_CA_BUNDLE"]
    }

    /// `<sha1 hex>.json` of a session name or start URL.
    static func cacheName(_ key: String) -> String { Hex.encode(Insecure.SHA1.hash(data: Array(key.utf8))) + ".json" }

    /// The cached access token, if it is still valid at `now` (Unix ms).
    static func accessToken(cache text: String, now: Int64, file: String) throws -> String {
        guard let object = CredentialHTTP.jsonObject(Array(text.utf8)), let token = object["accessToken"] as? String,
              let expires = (object["expiresAt"] as? String).flatMap(ISODate.parse) else {
            throw StoreError(.unauthorized, key: nil, "the SSO token cache \(file) has no accessToken and expiresAt; run aws sso login",
                             retryable: false)
        }
        guard expires > now else {
            throw StoreError(.unauthorized, key: nil, "the SSO token in \(file) has expired; run aws sso login", retryable: false)
        }
        return token
    }

    /// The role credentials in a `GetRoleCredentials` answer.
    static func parse(_ body: [UInt8], source: String) throws -> S3Credentials {
        guard let object = CredentialHTTP.jsonObject(body), let role = object["roleCredentials"] as? [String: Any],
              let id = role["accessKeyId"] as? String, let secret = role["secretAccessKey"] as? String else {
            throw StoreError(.unauthorized, key: nil, "the SSO portal answered without roleCredentials", retryable: true)
        }
        let expiration = (role["expiration"] as? NSNumber)?.int64Value
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: role["sessionToken"] as? String,
                             source: source, expiration: expiration)
    }

    /// Role credentials for the cached token.
    public func credentials(readFile: (String) -> String?, now: Int64) throws -> S3Credentials {
        guard let text = readFile(cacheFile) else {
            throw StoreError(.unauthorized, key: nil, "profile \(profile): no SSO token cache at \(cacheFile); run aws sso login", retryable: false)
        }
        let token = try Self.accessToken(cache: text, now: now, file: cacheFile)
        let url = portal + "/federation/credentials?account_id=" + SigV4.encode(accountID, keepSlash: false)
            + "&role_name=" + SigV4.encode(roleName, keepSlash: false)
        let response = try CredentialHTTP.send("GET", url, headers: [("x-amz-sso_bearer_token", token)],
                                               what: "SSO GetRoleCredentials", caBundle: caBundle)
        guard response.status == 200 else {
            throw StoreError(.unauthorized, key: nil, "SSO GetRoleCredentials for profile \(profile): \(CredentialHTTP.excerpt(response))"
                             + (response.status == 401 ? "; run aws sso login" : ""),
                             retryable: CredentialHTTP.isRetryable(status: response.status))
        }
        return try Self.parse(response.body, source: "SSO role \(roleName) of profile \(profile)")
    }
}
