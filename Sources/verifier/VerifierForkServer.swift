import CDeltaSealLinux
import DeltaSealCore
import DeltaSealDelta
import DeltaSealSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `verifier --fork-server`: the verifier started once by the supervisor, which forks a child per
/// delta (docs/formats.md, "Verifier fork-server"). A child is a process of its own, as a
/// verifier process is: nothing of the supervisor's memory, its own exit status and report. It
/// starts warm, without the ~6 ms of loading, relocating and conformance scanning a verifier
/// process pays before its first instruction.
///
/// The server speaks the writer fork-server's protocol with one op, `verify`, and stays one
/// thread: forking a process with other threads could copy a lock one of them held. Before each
/// fork it counts its threads and refuses (the supervisor then starts a verifier process).
enum VerifierForkServer {
    static let protocolVersion = 1
    /// The largest request read; a longer one is refused, not cut.
    static let maxRequest = 1 << 20

    /// A child forked, until the supervisor says it may be reaped.
    private struct Child {
        var id: String
        /// Its pidfd until its end is reported, then -1.
        var pidfd: Int32
    }

    /// Serves the supervisor on descriptor 0 until the socket ends, then kills what it forked and
    /// exits. Returns only in a forked child: that child's arguments, with its descriptors,
    /// working directory and environment already the request's.
    static func serve() -> [String] {
        let channel = dup(0)
        guard channel >= 0 else { fatal("dup of the socket: \(String(cString: strerror(errno)))") }
        // Descriptor 0 is /dev/null from here: a child inherits no copy of the supervisor's socket.
        let null = open("/dev/null", O_RDONLY)
        if null >= 0 { dup2(null, 0); close(null) }
        warm()
        var children: [pid_t: Child] = [:]
        say("ready (pid \(getpid()), protocol \(protocolVersion))")
        send(channel, ["ready": true, "protocol": protocolVersion, "pid": Int(getpid())])
        var buffer = [UInt8](repeating: 0, count: maxRequest + 1)
        while true {
            let watched = children.filter { $0.value.pidfd >= 0 }
            var polls = [pollfd(fd: channel, events: Int16(POLLIN), revents: 0)]
                + watched.map { pollfd(fd: $0.value.pidfd, events: Int16(POLLIN), revents: 0) }
            guard poll(&polls, nfds_t(polls.count), -1) >= 0 else {
                if errno == EINTR { continue }
                fatal("poll: \(String(cString: strerror(errno)))")
            }
            for (index, (pid, child)) in watched.enumerated() where polls[index + 1].revents != 0 {
                var status: Int32 = -1, signal: Int32 = 0
                // Not reaped: its pid names nobody else while the supervisor may still signal it.
                guard dsl_pidfd_wait(child.pidfd, dsl_wait_nowait() | dsl_wait_nohang(), &status, &signal) == 1 else { continue }
                close(child.pidfd)
                children[pid]?.pidfd = -1
                send(channel, status >= 0 ? ["id": child.id, "exit": Int(status)] : ["id": child.id, "signal": Int(signal)])
            }
            guard polls[0].revents != 0 else { continue }
            var fds = [Int32](repeating: -1, count: 8)
            var fdCount: Int32 = 0, truncated: Int32 = 0
            let count = buffer.withUnsafeMutableBytes { bytes in
                dsl_recv_with_fds(channel, bytes.baseAddress, UInt(bytes.count), &fds, 8, &fdCount, &truncated)
            }
            let received = Array(fds.prefix(Int(fdCount)))
            if count <= 0 {
                if count < 0, errno == EINTR || errno == EAGAIN { continue }
                // The supervisor went: so does the server, and what it forked.
                for pid in children.keys { kill(-pid, SIGKILL) }
                _exit(0)
            }
            if let argv = handle(Array(buffer.prefix(count)), cut: truncated != 0 || count > maxRequest, fds: received,
                                 channel: channel, children: &children) {
                return argv
            }
        }
    }

    /// One request: nil in the server, the child's arguments in a child.
    private static func handle(_ bytes: [UInt8], cut: Bool, fds: [Int32], channel: Int32, children: inout [pid_t: Child]) -> [String]? {
        func fail(_ id: Any?, _ reason: String) -> [String]? {
            var reply: [String: Any] = ["error": reason]
            if let id = id as? String { reply["id"] = id }
            send(channel, reply)
            return nil
        }
        func refuse(_ id: Any?, _ reason: String) -> [String]? {
            fds.forEach { close($0) }
            return fail(id, reason)
        }
        guard !cut else { return refuse(nil, "a request was cut (over \(maxRequest) bytes, or too many descriptors)") }
        guard let request = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            return refuse(nil, "a request is not a JSON object")
        }
        switch request["op"] as? String {
        case "reap":
            fds.forEach { close($0) }
            guard let number = request["pid"] as? Int, let pid = pid_t(exactly: number), children.removeValue(forKey: pid) != nil else {
                return nil
            }
            // Nothing signals its group after this; whatever of it is left goes now.
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return nil
        case "verify":
            guard let id = request["id"] as? String, !id.isEmpty else { return refuse(nil, "a verify request needs an id") }
            guard let argv = request["argv"] as? [String], let cwd = request["cwd"] as? String,
                  let environment = request["env"] as? [String: String] else {
                return refuse(id, "a verify request needs argv (strings), cwd and env (strings)")
            }
            guard fds.count == 3 else { return refuse(id, "a verify request takes 3 descriptors (stdout, stderr, go), got \(fds.count)") }
            let threads = (try? Files.list("/proc/self/task").count) ?? 0
            guard threads == 1 else { return refuse(id, "the server runs \(threads) threads; forking it is not safe") }
            fflush(nil)
            let pid = fork()
            let forkError = errno
            if pid == 0 {
                close(channel)
                return child(argv: argv, cwd: cwd, environment: environment, stdout: fds[0], stderr: fds[1], go: fds[2])
            }
            fds.forEach { close($0) }
            guard pid > 0 else { return fail(id, "fork: \(String(cString: strerror(forkError)))") }
            // Also from here, so the group exists before the supervisor looks.
            setpgid(pid, pid)
            let pidfd = dsl_pidfd_open(pid)
            guard pidfd >= 0 else {
                // Its end could not be watched: it never gets its go.
                let reason = "pidfd_open: \(String(cString: strerror(errno)))"
                kill(pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                return fail(id, reason)
            }
            children[pid] = Child(id: id, pidfd: pidfd)
            send(channel, ["id": id, "pid": Int(pid)])
            return nil
        case let op:
            return refuse(request["id"], "unknown op \(op.map { "'\($0)'" } ?? "none")")
        }
    }

    /// In the child: its own process group, stdout and stderr, the supervisor's go, no other
    /// descriptor, then the request's working directory and environment.
    private static func child(argv: [String], cwd: String, environment: [String: String],
                              stdout: Int32, stderr: Int32, go: Int32) -> [String] {
        setpgid(0, 0)
        dup2(stdout, 1)
        dup2(stderr, 2)
        var letter: UInt8 = 0
        var got = 0
        repeat { got = read(go, &letter, 1) } while got < 0 && errno == EINTR
        // End of file: the supervisor did not accept this child.
        guard got == 1, letter == UInt8(ascii: "g") else { _exit(70) }
        dsl_close_above(2)
        guard chdir(cwd) == 0 else {
            fatal("chdir \(cwd): \(String(cString: strerror(errno)))")
        }
        clearenv()
        for (name, value) in environment where !name.isEmpty && !name.contains("=") { setenv(name, value, 1) }
        return argv
    }

    /// What every verification does first, done once here so that each child inherits it: the
    /// type metadata and conformances of the report and the manifest.
    private static func warm() {
        _ = try? StableJSON.encode(VerificationReport.couldNotCheck("file:///warm", reason: "warm"))
        _ = try? StableJSON.decode(Manifest.self, from: Array("{}".utf8))
    }

    private static func send(_ channel: Int32, _ message: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: message) else { return }
        _ = data.withUnsafeBytes { dsl_send_with_fds(channel, $0.baseAddress, UInt($0.count), nil, 0) }
    }

    /// A line on stderr (the server's log), unbuffered: a child inherits no pending output.
    private static func say(_ text: String) {
        let line = Array("verifier --fork-server: \(text)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    private static func fatal(_ reason: String) -> Never {
        say(reason)
        exit(VerifierExit.couldNotCheck)
    }
}
