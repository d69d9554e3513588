import CDeltaSealLinux
import DeltaSealCore
import DeltaSealSystem
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The verifier fork-server (`verifier.launch: fork-server`, the default): `verifier
/// --fork-server` started once, forking a child per delta that runs exactly what a verifier
/// process would, with the same arguments, environment, working directory, stdout and stderr.
/// Each verification is still a process of its own; it starts warm instead of paying the
/// verifier's start-up (docs/benchmarks.md, "Where a tiny delta's time goes").
///
/// Only a speed-up: whenever the server cannot take a delta before its child has started (it
/// cannot start, says it is not ready, refuses, names a pid that is not its child), the delta is
/// verified by a verifier process, and so is every delta of the next ``pause``.
final class VerifierServer: Sendable {
    let server = ForkServer()
    let launch: ForkServer.Launch
    /// How long the verifier processes take over after the server failed.
    let pause: Duration
    private let retryAt = Mutex<UInt64>(0)

    init(launch: ForkServer.Launch, pause: Duration = .seconds(60)) {
        self.launch = launch
        self.pause = pause
    }

    /// How a verification by the server went.
    enum Run {
        /// Its child ran: how it ended, and why that is not known where it is not.
        case ran(ChildProcess.Termination, failure: String?)
        /// No child ran: a verifier process does it instead.
        case unavailable(String)
    }

    /// Whether the server is to be asked (not within a pause).
    var isAvailable: Bool { retryAt.withLock { $0 } <= WallClock.monotonicNanoseconds() }

    /// Verifies by a child of the server: `arguments` as for a verifier process (the program
    /// first), its stdout and stderr into `outputPath` and `errorPath`.
    func run(id: String, arguments: [String], environment: [String: String], workingDirectory: String,
             outputPath: String, errorPath: String, timeout: Duration, grace: Duration, _ log: Logger) async -> Run {
        var descriptors: [Int32] = []
        defer { descriptors.forEach { close($0) } }
        var go: [Int32] = [-1, -1]
        do {
            for path in [outputPath, errorPath] {
                descriptors.append(try syscallRetrying("open", path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600) })
            }
            guard dsl_pipe2(&go, O_CLOEXEC) == 0 else { throw SystemError("pipe2", "verifier fork-server go", errno: errno) }
            descriptors.append(go[0])
        } catch {
            return unavailable("\(error)", log)
        }
        var goOpen = true
        defer { if goOpen { close(go[1]) } }
        let job: ForkServer.Job
        do {
            job = try await server.submit("verify", id: id, argv: Array(arguments.dropFirst()), cwd: workingDirectory,
                                          environment: environment, fds: descriptors, launch: launch)
        } catch {
            return unavailable("\(error)", log)
        }
        let pid: pid_t
        switch await job.forked.value(timeout: launch.readyTimeout) {
        case .success(let forked)?: pid = forked
        case .failure(let failure)?: return unavailable(failure.description, log)
        case nil: return unavailable("no child within \(launch.readyTimeout)", log)
        }
        let process: ForkedProcess
        do { process = try ForkedProcess.adopt(pid: pid, parent: job.serverPID) } catch {
            // Not signalled: that pid is not ours to touch. A real child sees its go pipe end.
            return unavailable("it named \(error)", log)
        }
        server.track(process, of: job)
        defer {
            server.untrack(pid, of: job)
            job.reap(pid)
        }
        var letter = UInt8(ascii: "g")
        guard write(go[1], &letter, 1) == 1 else {
            process.signalGroup(SIGKILL)
            return unavailable("cannot start its child \(pid): \(String(cString: strerror(errno)))", log)
        }
        close(go[1])
        goOpen = false
        var termination = ChildProcess.Termination(exitStatus: nil, signal: nil, timedOut: false)
        termination.timedOut = await process.wait(timeout: timeout, grace: grace)
        switch await job.ended.value(timeout: grace + .seconds(5)) {
        case .success(let ended)?:
            termination.exitStatus = ended.exitStatus
            termination.signal = ended.signal
            return .ran(termination, failure: nil)
        case .failure(let failure)?:
            return .ran(termination, failure: "verifier fork-server: " + failure.description)
        case nil:
            return .ran(termination, failure: "verifier fork-server: it did not say how its child \(pid) ended")
        }
    }

    func stop() { server.stop() }

    private func unavailable(_ reason: String, _ log: Logger) -> Run {
        let until = WallClock.monotonicNanoseconds() + UInt64(pause.components.seconds) * 1_000_000_000
        retryAt.withLock { $0 = until }
        SupervisorMetrics.verifierFallback()
        log.warning("verifier fork-server unavailable; verifier processes take over",
                    metadata: ["reason": "\(reason)", "for_seconds": "\(pause.components.seconds)"])
        return .unavailable(reason)
    }
}
