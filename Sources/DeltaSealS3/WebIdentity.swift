import DeltaSealStore
import DeltaSealSystem
import Foundation

/// `AssumeRoleWithWebIdentity` with a token file that is read again on every refresh (it rotates).
struct WebIdentity: Sendable {
    let roleARN: String
    let tokenFile: String
    let sessionName: String
    let sts: STSClient
    let readFile: @Sendable (String) -> String?

    func provider() -> RefreshingCredentials {
        let label = "web identity (role \(roleARN))"
        return RefreshingCredentials(source: label) { [self] in
            guard let token = readFile(tokenFile)?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
                throw StoreError(.unauthorized, key: nil, "\(label): the token file \(tokenFile) cannot be read or is empty", retryable: true)
            }
            return try sts.assumeRoleWithWebIdentity(roleARN: roleARN, sessionName: sessionName, token: token, label: label)
        }
    }
}
