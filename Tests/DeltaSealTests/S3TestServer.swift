import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Testing

/// The SeaweedFS server bin/test starts (real SigV4, real checksums), from its environment.
struct S3TestServer: Sendable {
    let endpoint: String
    let accessKey: String
    let secretKey: String
    let bucket: String

    /// The running server, or `nil` when the suite runs without one (plain `swift test`).
    static let current: S3TestServer? = {
        let env = ProcessInfo.processInfo.environment
        guard let endpoint = env["DELTASEAL_TEST_S3_ENDPOINT"], let key = env["DELTASEAL_TEST_S3_ACCESS_KEY"],
              let secret = env["DELTASEAL_TEST_S3_SECRET_KEY"], let bucket = env["DELTASEAL_TEST_S3_BUCKET"] else { return nil }
        return S3TestServer(endpoint: endpoint, accessKey: key, secretKey: secret, bucket: bucket)
    }()

    static var available: Bool { current != nil }

    /// A fresh prefix, so tests running in parallel never see each other's objects.
    static func uniquePrefix(_ label: String = #function) -> String {
        "t-" + label.filter { $0.isLetter || $0.isNumber }.prefix(30) + "-" + String(UInt32.random(in: 0 ... .max), radix: 16)
    }

    /// The environment a DeltaSeal process needs to reach this server.
    func environment(secret: String? = nil) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["AWS_ACCESS_KEY_ID"] = accessKey
        env["AWS_SECRET_ACCESS_KEY"] = secret ?? secretKey
        env["AWS_REGION"] = "us-east-1"
        env["AWS_ENDPOINT_URL"] = endpoint
        for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN"] { env.removeValue(forKey: name) }
        return env
    }

    /// An S3 store on `s3://bucket/prefix`, optionally through another endpoint (a proxy).
    func store(prefix: String, endpoint: String? = nil, options: S3Options = S3Options(), secret: String? = nil) throws -> S3Store {
        var options = options
        options.endpoint = endpoint ?? self.endpoint
        options.region = "us-east-1"
        return try S3Store(location: StoreURL(scheme: .s3, root: bucket, prefix: prefix), options: options,
                           credentials: S3Credentials(accessKeyID: accessKey, secretAccessKey: secret ?? secretKey, source: "test"),
                           environment: [:])
    }

    /// Runs the AWS CLI (the interoperability reference) against the server.
    func aws(_ arguments: [String]) async throws -> TestSupport.Result {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let cli = ProcessInfo.processInfo.environment["DELTASEAL_AWS_CLI"] ?? root.path + "/.venv/bin/aws"
        return try await TestSupport.run([cli, "--endpoint-url", endpoint] + arguments, environment: environment())
    }
}

/// The fault-injection proxy (Tests/Fixtures/faultproxy.py) in front of the S3 server.
final class FaultProxy: @unchecked Sendable {
    private let process = Process()
    let endpoint: String
    /// The proxy's record of each request and what it did to it.
    let logPath: String

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures/faultproxy.py"
    }

    /// `seed`: the probabilistic rules draw from it, so a run can be repeated.
    init(upstream: String, seed: UInt64? = nil) throws {
        let hostPort = upstream.replacingOccurrences(of: "http://", with: "")
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script, hostPort] + (seed.map { ["\($0)"] } ?? [])
        process.standardOutput = pipe
        process.standardInput = FileHandle.nullDevice
        let log = NSTemporaryDirectory() + "/faultproxy-\(UInt32.random(in: 0 ... .max)).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        logPath = log
        try process.run()
        var line = Data()
        while !line.contains(10) {
            let byte = pipe.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty { throw SystemError("faultproxy", Self.script, errno: EPIPE) }
            line.append(byte)
        }
        endpoint = "http://127.0.0.1:" + String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        // SIGKILL: a child of the test runner may inherit SIGTERM as ignored.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// One rule; see faultproxy.py.
    struct Rule: Encodable {
        var action: String
        var method: String?
        var contains: String?
        var times: Int? = 1
        var seconds: Double?
        var probability: Double?
    }

    /// Replaces the rules; returns nothing until the proxy has them.
    func set(_ rules: [Rule]) async throws {
        _ = try await control(method: "POST", body: String(decoding: JSONEncoder().encode(rules), as: UTF8.self))
    }

    /// Faults injected so far, by action.
    func injected() async throws -> [String: Int] {
        let text = try await control(method: "GET", body: "")
        return try JSONDecoder().decode([String: Int].self, from: Data(text.utf8))
    }

    private func control(method: String, body: String) async throws -> String {
        let answer = try await TestSupport.http(endpoint + "/__faults", method: method, body: body, timeout: 10)
        guard answer.status == 200 else { throw SystemError("faultproxy control", "\(answer.status) \(answer.body)", errno: EIO) }
        return answer.body
    }
}
