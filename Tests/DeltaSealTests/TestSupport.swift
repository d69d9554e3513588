import DeltaSealCore
import DeltaSealSystem
import Foundation
import Synchronization
import Testing

/// Paths and helpers shared by the integration tests: real executables, real files, real processes.
enum TestSupport {
    /// Where the built executables are: `DELTASEAL_BIN_DIR` (set by bin/test) or `.build/debug`.
    static let binDirectory: String = {
        if let dir = ProcessInfo.processInfo.environment["DELTASEAL_BIN_DIR"], !dir.isEmpty { return dir }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug").path
    }()

    static var writer: String { binDirectory + "/writer" }
    static var verifier: String { binDirectory + "/verifier" }
    static var supervisor: String { binDirectory + "/supervisor" }

    /// A fresh directory, removed by the caller's `defer`.
    static func temporaryDirectory(_ label: String = #function) throws -> String {
        let safe = label.filter { $0.isLetter || $0.isNumber }
        let base = NSTemporaryDirectory().hasSuffix("/") ? String(NSTemporaryDirectory().dropLast()) : NSTemporaryDirectory()
        var template = Array((base + "/deltaseal-\(safe.prefix(40))-XXXXXX").utf8CString)
        let path = String(cString: template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }!)
        // Writers run as their own unprivileged user: they must be able to pass through to the spool.
        chmod(path, 0o711)
        return path
    }

    /// The output of a finished process.
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The same from async code: the wait happens on a thread of its own, so tests running in
    /// parallel never starve the cooperative pool (two threads on two cores) that the in-process
    /// supervisors of other tests need.
    static func run(_ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil) async throws -> Result {
        // Not the blocking executor: a test may wait minutes for a daemon, and the in-process
        // supervisors of other tests share that executor's bounded threads.
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                nameWaiterThread()
                do { continuation.resume(returning: try runWaiting(arguments, cwd: cwd, environment: environment)) } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    /// Waits for `process` to exit, on a thread of its own like `run`; its termination status.
    static func exitStatus(of process: Process) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread {
                nameWaiterThread()
                process.waitUntilExit()
                continuation.resume(returning: process.terminationStatus)
            }.start()
        }
    }

    /// The name of the threads `run` and `exitStatus` wait on, so that a test counting its
    /// process's threads can leave them out.
    static let waiterThreadName = "test-waiter"

    private static func nameWaiterThread() { NamedThread.nameCurrent(waiterThreadName) }

    /// An HTTP request through Python's urllib (no client in the tests of our own making): the
    /// status and body, or (0, the error) when no answer came within `timeout` seconds.
    static func http(_ url: String, method: String = "GET", body: String? = nil, timeout: Double = 5) async throws -> (status: Int, body: String) {
        let result = try await run(["/usr/bin/env", "python3", "-c", """
            import sys, urllib.request, urllib.error
            data = sys.argv[4].encode() if sys.argv[3] != "GET" else None
            try:
                r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], data=data, method=sys.argv[3]), timeout=float(sys.argv[2]))
                print(r.status); print(r.read().decode(), end="")
            except urllib.error.HTTPError as e:
                print(e.code); print(e.read().decode(), end="")
            """, url, String(timeout), method, body ?? ""])
        guard result.status == 0, let newline = result.stdout.firstIndex(of: "\n") else { return (0, result.stderr) }
        return (Int(result.stdout[..<newline]) ?? 0, String(result.stdout[result.stdout.index(after: newline)...]))
    }

    /// Ports `freePort` handed out in this run: a port just released may come back from the
    /// next bind to port 0, and two servers of parallel tests must not be given the same one.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A free loopback port, never the same one twice in a run.
    static func freePort() throws -> Int {
        for _ in 0..<100 {
            let port = try boundAndReleasedPort()
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw SystemError("bind", "127.0.0.1:0 (no port not handed out before)", errno: EADDRINUSE)
    }

    /// A loopback port: bound to port 0, read back and released.
    private static func boundAndReleasedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket", "127.0.0.1", errno: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw SystemError("bind", "127.0.0.1:0", errno: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func runWaiting(_ arguments: [String], cwd: String?, environment: [String: String]?) throws -> Result {
        let scratch = try temporaryDirectory("run")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        _ = FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/out"))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/err"))
        try process.run()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOfFile: scratch + "/out", encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOfFile: scratch + "/err", encoding: .utf8)) ?? "")
    }

    /// One valid NDJSON record.
    static func record(_ id: String, collection: String = "docs", dimension: Int = 4, document: String? = "text") -> String {
        let embedding = (0..<dimension).map { "\(Double($0) / 10 + 0.5)" }.joined(separator: ",")
        let doc = document.map { ",\"document\":\"\($0)\"" } ?? ""
        return "{\"collection\":\"\(collection)\",\"id\":\"\(id)\",\"embedding\":[\(embedding)]\(doc),\"metadata\":{\"n\":1,\"ok\":true,\"tag\":\"x\"}}"
    }

    /// A batch of `count` valid records as NDJSON text.
    static func batch(records count: Int, prefix: String = "r") -> String {
        (0..<count).map { record("\(prefix)\($0)") }.joined(separator: "\n") + "\n"
    }

    /// Writes `text` to `path`, creating parent directories.
    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // Close-on-exec: tests run in parallel and spawn processes all the time; a child that
        // inherited this descriptor would hold the batch open for writing, and intake rightly
        // never claims a batch someone may still be writing.
        let file = try PosixFile.create(path, mode: 0o644)
        try file.write(Array(text.utf8))
        try file.close()
    }

    /// Writes an executable shell script.
    static func script(_ body: String, at path: String) throws -> String {
        try write("#!/usr/bin/env bash\nset -u\n" + body + "\n", to: path)
        chmod(path, 0o755)
        return path
    }

    /// Drops a batch into a spool's `incoming/` the way producers must: temporary name, then rename.
    static func dropBatch(_ text: String, named name: String, spool: String) throws {
        try FileManager.default.createDirectory(atPath: spool + "/incoming", withIntermediateDirectories: true)
        try write(text, to: spool + "/incoming/." + name + ".tmp")
        try FileManager.default.moveItem(atPath: spool + "/incoming/." + name + ".tmp", toPath: spool + "/incoming/" + name)
    }

    /// Files below `root`, relative, sorted.
    static func files(under root: String) -> [String] {
        (try? Files.walk(root).files) ?? []
    }

    /// Whether `pid` is gone (or a zombie nobody has reaped yet).
    static func processIsGone(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return true }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}
