import DeltaSealSystem
import Foundation
import Testing

/// A test server process that prints its port on its first line; killed when released.
final class LoopbackProcess: @unchecked Sendable {
    private let process = Process()
    let port: Int
    let logPath: String

    init(_ arguments: [String], environment: [String: String]? = nil, printsPort: Bool = true, port fixed: Int? = nil) throws {
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        if let environment { process.environment = environment }
        process.standardOutput = printsPort ? pipe : FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let log = NSTemporaryDirectory() + "/loopback-\(UInt32.random(in: 0 ... .max)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        logPath = log
        try process.run()
        if let fixed {
            port = fixed
            return
        }
        var line = Data()
        while !line.contains(10) {
            let byte = pipe.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { throw SystemError("start", arguments[0], errno: EPIPE) }
            line.append(byte)
        }
        port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    var url: String { "http://127.0.0.1:\(port)" }

    var isRunning: Bool { process.isRunning }

    /// The end of what the server wrote to stderr, for a failure's message.
    var logTail: String {
        String(decoding: ((try? Data(contentsOf: URL(fileURLWithPath: logPath))) ?? Data()).suffix(1500), as: UTF8.self)
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// GETs `url` once; the body of a 200 answer, or nil.
    static func get(_ url: String) async -> String? {
        guard let answer = try? await TestSupport.http(url, timeout: 5), answer.status == 200 else { return nil }
        return answer.body
    }
}

/// moto (STS, S3, instance metadata) on a free loopback port, from the project's .venv.
final class MotoServer: @unchecked Sendable {
    let server: LoopbackProcess
    var endpoint: String { server.url }

    static var executable: String {
        if let path = ProcessInfo.processInfo.environment["DELTASEAL_MOTO_SERVER"], !path.isEmpty { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.path + "/.venv/bin/moto_server"
    }

    static var available: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    /// IAM keys of a user allowed everything, when moto checks signatures.
    private(set) var userKeys: (id: String, secret: String)?

    /// With `checkingSignatures`, moto authenticates every request (SigV4 and session tokens
    /// checked against its IAM and STS) after a setup of its own: a user with keys and a role
    /// `arn:aws:iam::123456789012:role/deltaseal`, both allowed everything.
    init(checkingSignatures: Bool = false) async throws {
        let port = try TestSupport.freePort()
        var environment = ProcessInfo.processInfo.environment
        if checkingSignatures { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "5" }
        server = try LoopbackProcess([Self.executable, "-H", "127.0.0.1", "-p", "\(port)"], environment: environment,
                                     printsPort: false, port: port)
        // A deadline for a busy machine (it answers in about 0.6 s on a quiet one); a server that
        // exited fails at once, with what it said.
        let deadline = Date().addingTimeInterval(120)
        while await LoopbackProcess.get(server.url + "/moto-api/data.json") == nil {
            guard server.isRunning else { throw SystemError("moto_server", "exited during start-up: \(server.logTail)", errno: ECHILD) }
            guard Date() < deadline else { throw SystemError("moto_server", "did not answer within 120 s: \(server.logTail)", errno: ETIMEDOUT) }
            try await Task.sleep(for: .milliseconds(200))
        }
        if checkingSignatures {
            let allowAll = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
            let trustAll = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#
            _ = try await cli(["iam", "create-user", "--user-name", "deltaseal"])
            let key = try await cli(["iam", "create-access-key", "--user-name", "deltaseal"])
            let object = try JSONSerialization.jsonObject(with: Data(key.utf8)) as? [String: [String: Any]]
            guard let id = object?["AccessKey"]?["AccessKeyId"] as? String, let secret = object?["AccessKey"]?["SecretAccessKey"] as? String else {
                throw SystemError("moto create-access-key", key, errno: EIO)
            }
            _ = try await cli(["iam", "put-user-policy", "--user-name", "deltaseal", "--policy-name", "all", "--policy-document", allowAll])
            _ = try await cli(["iam", "create-role", "--role-name", "deltaseal", "--assume-role-policy-document", trustAll])
            _ = try await cli(["iam", "put-role-policy", "--role-name", "deltaseal", "--policy-name", "all", "--policy-document", allowAll])
            userKeys = (id, secret)
        }
    }

    /// Runs the AWS CLI against moto (with the user's keys once there are some).
    @discardableResult
    func cli(_ arguments: [String]) async throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let executable = ProcessInfo.processInfo.environment["DELTASEAL_AWS_CLI"] ?? root.path + "/.venv/bin/aws"
        let result = try await TestSupport.run([executable, "--endpoint-url", endpoint, "--region", "us-east-1"] + arguments,
                                         environment: ["AWS_ACCESS_KEY_ID": userKeys?.id ?? "setup", "AWS_SECRET_ACCESS_KEY": userKeys?.secret ?? "setup",
                                                       "PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()])
        guard result.status == 0 else { throw SystemError("aws \(arguments.prefix(2).joined(separator: " "))", result.stderr, errno: EIO) }
        return result.stdout
    }

    /// Creates `bucket` in moto's S3.
    func makeBucket(_ bucket: String) async throws {
        try await cli(["s3api", "create-bucket", "--bucket", bucket])
    }
}

/// Tests/Fixtures/credserver.py: container credentials and an SSO portal on a loopback port.
final class CredentialServer: @unchecked Sendable {
    let server: LoopbackProcess
    var url: String { server.url }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures/credserver.py"
    }

    /// Hands out `accessKey`/`secret` (and `sessionToken`) valid for `lifetime` seconds to whoever
    /// presents `authorization`.
    init(accessKey: String, secret: String, lifetime: Int, authorization: String, sessionToken: String? = nil) throws {
        server = try LoopbackProcess(["/usr/bin/env", "python3", Self.script, accessKey, secret, "\(lifetime)", authorization]
                                     + (sessionToken.map { [$0] } ?? []))
    }

    /// Credentials handed out and requests refused so far.
    func counts() async throws -> (served: Int, refused: Int) {
        let text = try #require(await LoopbackProcess.get(url + "/__count"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Int])
        return (object["served"] ?? -1, object["refused"] ?? -1)
    }
}
