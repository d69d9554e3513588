import DeltaSealStore
import Foundation

/// A profile's `credential_process`: a command (run by `/bin/sh -c`) that prints
/// `{"Version": 1, "AccessKeyId": …, "SecretAccessKey": …, "SessionToken": …, "Expiration": …}`.
public struct CredentialProcess: Sendable {
    public let command: String
    public let profile: String

    public init(command: String, profile: String) {
        self.command = command
        self.profile = profile
    }

    /// Runs the command once and reads its answer.
    public func credentials() throws -> S3Credentials {
        let label = "credential_process of profile \(profile)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw StoreError(.unauthorized, key: nil, "\(label) could not start: \(error)", retryable: false)
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw StoreError(.unauthorized, key: nil, "\(label) failed (exit status \(process.terminationStatus))", retryable: true)
        }
        return try Self.parse(Array(data.prefix(1 << 20)), label: label)
    }

    /// The credentials in a process's output.
    static func parse(_ output: [UInt8], label: String) throws -> S3Credentials {
        guard let object = CredentialHTTP.jsonObject(output) else {
            throw StoreError(.unauthorized, key: nil, "\(label) printed no JSON object", retryable: false)
        }
        guard (object["Version"] as? Int) == 1 else {
            throw StoreError(.unauthorized, key: nil, "\(label) printed Version \(object["Version"].map { "\($0)" } ?? "none"), expected 1",
                             retryable: false)
        }
        return try CredentialHTTP.credentials(json: output, source: label, what: label)
    }
}
