import DeltaSealCore
import DeltaSealStore
import Foundation

/// The requests credential sources make (STS, SSO, instance metadata, container endpoints): one
/// at a time over a fresh curl handle, with short timeouts, bodies kept in memory.
enum CredentialHTTP {
    /// Sends one request; a transport failure is a retryable ``StoreError`` naming `what`.
    static func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: [UInt8] = [],
                     what: String, connectTimeout: Int = 5, totalTimeout: Int = 20,
                     caBundle: String? = nil) throws -> HTTPResponse {
        let limits = TransferLimits(connectTimeoutSeconds: connectTimeout, stallTimeoutSeconds: totalTimeout,
                                    caBundle: caBundle, totalTimeoutSeconds: totalTimeout)
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body.isEmpty ? .none : .bytes(body))
        do {
            return try CurlHandle().perform(request, limits: limits, sink: nil)
        } catch let error as TransportError {
            throw StoreError(.transient, key: nil, "\(what): \(method) \(url): \(error.description)", retryable: true)
        }
    }

    /// `application/x-www-form-urlencoded` text of `fields`.
    static func form(_ fields: [(String, String)]) -> String {
        fields.map { SigV4.encode($0.0, keepSlash: false) + "=" + SigV4.encode($0.1, keepSlash: false) }.joined(separator: "&")
    }

    /// A JSON object's fields, or nil.
    static func jsonObject(_ body: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
    }

    /// The credentials in a JSON answer with `AccessKeyId`, `SecretAccessKey`, `Token` or
    /// `SessionToken`, `Expiration` (ISO 8601), as container endpoints, instance metadata and
    /// `credential_process` give them.
    static func credentials(json body: [UInt8], source: String, what: String) throws -> S3Credentials {
        guard let object = jsonObject(body) else {
            throw StoreError(.unauthorized, key: nil, "\(what) answered with no JSON object", retryable: true)
        }
        guard let id = object["AccessKeyId"] as? String, !id.isEmpty,
              let secret = object["SecretAccessKey"] as? String, !secret.isEmpty else {
            let code = (object["Code"] as? String).map { " (Code \($0))" } ?? ""
            throw StoreError(.unauthorized, key: nil, "\(what) answered without AccessKeyId and SecretAccessKey\(code)", retryable: true)
        }
        let token = (object["Token"] as? String) ?? (object["SessionToken"] as? String)
        var expiration: Int64?
        if let text = object["Expiration"] as? String {
            guard let parsed = ISODate.parse(text) else {
                throw StoreError(.unauthorized, key: nil, "\(what) answered with an unreadable Expiration", retryable: false)
            }
            expiration = parsed
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token.flatMap { $0.isEmpty ? nil : $0 },
                             source: source, expiration: expiration)
    }

    /// A short, safe excerpt of an error answer.
    static func excerpt(_ response: HTTPResponse) -> String {
        let text = response.bodyText
        if let code = XMLText.value(of: "Code", in: text) {
            return "HTTP \(response.status) \(DisplayText.sanitize(code, limit: 64)): " + DisplayText.sanitize(XMLText.value(of: "Message", in: text) ?? "", limit: 300)
        }
        return "HTTP \(response.status): " + DisplayText.sanitize(String(text.prefix(300)), limit: 300)
    }

    /// Whether an answer with `status` is worth asking again later.
    static func isRetryable(status: Int) -> Bool { status == 429 || status >= 500 }
}
