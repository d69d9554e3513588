import CDeltaSealLinux
import DeltaSealCore
import DeltaSealSystem
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A fork-server: a command started once with `--fork-server` which forks one child per request
/// (docs/formats.md, "Fork-server protocol"). The writer's (`writer.mode: fork-server`) is the
/// writer command, sandboxed as a writer is; the verifier's (`verifier.launch: fork-server`) is
/// the verifier. Started on first use; when it exits it is started again on the next.
///
/// Everything it says is untrusted: a pid it names is checked (``ForkedProcess/adopt(pid:parent:)``)
/// before anything is signalled, a reply that does not parse or names no request is ignored, and a
/// server that stops answering fails the deltas waiting on it (they are retried), never the daemon.
final class ForkServer: Sendable {
    /// What the server said about one request.
    final class Job: Sendable {
        let id: String
        let serverPID: pid_t
        /// The child's pid, or why there is none.
        let forked = OneShot<Result<pid_t, Failure>>()
        /// How the child ended (exit status or signal), or why that is not known.
        let ended = OneShot<Result<ChildProcess.Termination, Failure>>()
        fileprivate let server: Running

        fileprivate init(id: String, server: Running) {
            self.id = id
            self.serverPID = server.process.pid
            self.server = server
        }

        /// Ends both waits with `failure`: no child, or no word of how it ended.
        func fail(_ failure: Failure) {
            forked.set(.failure(failure))
            ended.set(.failure(failure))
        }

        /// Tells the server it may reap the child now (nothing will signal its group any more).
        func reap(_ pid: pid_t) { server.send(["op": "reap", "pid": Int(pid)], fds: []) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A server process and its socket.
    fileprivate final class Running: Sendable {
        let process: ChildProcess
        let socket: Int32
        let ready = OneShot<Result<Void, Failure>>()
        let jobs = Mutex<[String: Job]>([:])
        let gone = Atomic<Bool>(false)
        /// Children it forked that are not reaped yet: killed if the server dies, since nobody
        /// would say how they end.
        let children = Mutex<[pid_t: ForkedProcess]>([:])

        init(process: ChildProcess, socket: Int32) {
            self.process = process
            self.socket = socket
        }

        deinit { close(socket) }

        func send(_ message: [String: Any], fds: [Int32]) {
            _ = trySend(message, fds: fds)
        }

        func trySend(_ message: [String: Any], fds: [Int32]) -> Bool {
            guard !gone.load(ordering: .acquiring), let data = try? JSONSerialization.data(withJSONObject: message) else { return false }
            let sent = data.withUnsafeBytes { bytes in
                fds.withUnsafeBufferPointer { dsl_send_with_fds(socket, bytes.baseAddress, UInt(bytes.count), $0.baseAddress, Int32(fds.count)) }
            }
            return sent == data.count
        }

        /// Reads replies until the socket ends, then fails whatever still waits and kills the
        /// children left (on a thread of its own: the socket is read with blocking calls).
        func listen() {
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                received(Array(buffer[0..<count]))
            }
            gone.store(true, ordering: .releasing)
            let failure = Failure(description: "the fork-server (pid \(process.pid)) exited")
            ready.set(.failure(failure))
            for job in jobs.withLock({ jobs in defer { jobs = [:] }; return Array(jobs.values) }) { job.fail(failure) }
            for child in children.withLock({ $0.values }) { child.signalGroup(SIGKILL) }
            process.signalGroup(SIGKILL)
        }

        private func received(_ bytes: [UInt8]) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return }
            if object["ready"] as? Bool == true {
                if object["protocol"] as? Int == ForkServer.protocolVersion {
                    ready.set(.success(()))
                } else {
                    ready.set(.failure(Failure(description: "the fork-server speaks protocol \(object["protocol"].map { "\($0)" } ?? "none"), "
                                               + "not \(ForkServer.protocolVersion)")))
                }
                return
            }
            guard let id = object["id"] as? String, let job = jobs.withLock({ $0[id] }) else { return }
            if let error = object["error"] as? String {
                job.fail(Failure(description: "the fork-server refused: " + DisplayText.sanitize(String(error.prefix(500)))))
                jobs.withLock { $0[id] = nil }
            } else if let pid = object["pid"] as? Int, let pid = pid_t(exactly: pid) {
                job.forked.set(.success(pid))
            } else if let status = object["exit"] as? Int {
                job.ended.set(.success(.init(exitStatus: Int32(clamping: status), signal: nil, timedOut: false)))
                jobs.withLock { $0[id] = nil }
            } else if let signal = object["signal"] as? Int {
                job.ended.set(.success(.init(exitStatus: nil, signal: Int32(clamping: signal), timedOut: false)))
                jobs.withLock { $0[id] = nil }
            }
        }
    }

    static let protocolVersion = 1

    private let current = Mutex<Running?>(nil)
    private let starting = Mutex<Bool>(false)

    /// What starting the server takes, from the pipeline.
    struct Launch: Sendable {
        var arguments: [String]
        var environment: [String: String]
        var directory: String
        var logPath: String
        var logLimit: Int
        var limits: ChildProcess.Limits
        /// How it is confined; nil: as the supervisor's own child (the verifier's).
        var sandbox: Sandbox?
        /// How long it may take to say it is ready (its imports).
        var readyTimeout: Duration
    }

    /// Sends one request, starting the server first if none runs: `write` (with `fds`: the
    /// child's stdout and stderr, the go pipe, the Landlock ruleset where there is one) or
    /// `verify` (stdout, stderr, the go pipe).
    func submit(_ op: String = "write", id: String, argv: [String], cwd: String, environment: [String: String], fds: [Int32],
                launch: Launch) async throws -> Job {
        let server = try await running(launch)
        let job = Job(id: id, server: server)
        server.jobs.withLock { $0[id] = job }
        let request: [String: Any] = ["op": op, "id": id, "argv": argv, "cwd": cwd, "env": environment]
        guard server.trySend(request, fds: fds) else {
            server.jobs.withLock { $0[id] = nil }
            throw Failure(description: "cannot send to the fork-server (pid \(server.process.pid)): "
                          + (server.gone.load(ordering: .acquiring) ? "it exited" : String(cString: strerror(errno))))
        }
        return job
    }

    /// Keeps `child` to be killed should the server die before it is reaped.
    func track(_ child: ForkedProcess, of job: Job) { job.server.children.withLock { $0[child.pid] = child } }
    func untrack(_ pid: pid_t, of job: Job) { _ = job.server.children.withLock { $0.removeValue(forKey: pid) } }

    /// Ends the server at the supervisor's stop: it exits when its socket ends; what it forked
    /// has ended or was stopped with the drain.
    func stop() {
        guard let server = current.withLock({ state in defer { state = nil }; return state }) else { return }
        shutdown(server.socket, Int32(SHUT_RDWR))
        server.process.signalGroup(SIGTERM)
    }

    private func running(_ launch: Launch) async throws -> Running {
        if let server = current.withLock({ $0 }), !server.gone.load(ordering: .acquiring) { return server }
        // One start at a time; others wait for it and use it.
        while !starting.withLock({ starting in defer { starting = true }; return !starting }) {
            try await Task.sleep(for: .milliseconds(20))
            if let server = current.withLock({ $0 }), !server.gone.load(ordering: .acquiring) { return server }
        }
        defer { starting.withLock { $0 = false } }
        let server = try start(launch)
        switch await server.ready.value(timeout: launch.readyTimeout) {
        case .success?:
            current.withLock { $0 = server }
            return server
        case .failure(let failure)?:
            server.process.signalGroup(SIGKILL)
            throw Failure(description: failure.description + Self.logSuffix(launch))
        case nil:
            server.process.signalGroup(SIGKILL)
            throw Failure(description: "the fork-server did not say it was ready within \(launch.readyTimeout)" + Self.logSuffix(launch))
        }
    }

    private func start(_ launch: Launch) throws -> Running {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw SystemError("socketpair", "fork-server", errno: errno)
        }
        defer { close(pair[1]) }
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(arguments: launch.arguments + ["--fork-server"], environment: launch.environment,
                                             workingDirectory: launch.directory, outputPath: launch.logPath,
                                             limits: launch.limits, sandbox: launch.sandbox, outputLimit: launch.logLimit,
                                             input: pair[1])
        } catch {
            close(pair[0])
            throw Failure(description: "cannot start the fork-server \(launch.arguments[0]): \(error)")
        }
        let server = Running(process: process, socket: pair[0])
        NamedThread.start("ds-fork-server", stackSize: 256 << 10) { server.listen() }
        return server
    }

    private static func logSuffix(_ launch: Launch) -> String {
        let tail = String(decoding: (try? Files.readTail(launch.logPath, bytes: 2048)) ?? [], as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return tail.isEmpty ? "" : "; its log ends: " + DisplayText.sanitize(tail)
    }
}
