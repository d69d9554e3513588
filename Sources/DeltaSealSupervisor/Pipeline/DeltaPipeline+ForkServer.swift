import CDeltaSealLinux
import DeltaSealCore
import DeltaSealSystem
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// A writer that exited and whose output is not sealed yet: a process of its own
/// (``ChildProcess``) or a fork-server's child (``ForkedWriter``).
protocol WriterProcess: AnyObject, Sendable {
    var pid: pid_t { get }
    @discardableResult func signalGroup(_ signal: Int32) -> Bool
    var groupIsAlive: Bool { get }
    var outputWasHeldOpen: Bool { get }
}

extension ChildProcess: WriterProcess {}

/// A fork-server's child: the process, checked, and its bounded log. When the handle goes the
/// server is told it may reap the child (nothing signals its group after that).
final class ForkedWriter: WriterProcess {
    let process: ForkedProcess
    let log: BoundedLog
    private let job: ForkServer.Job
    private let server: ForkServer

    init(process: ForkedProcess, log: BoundedLog, job: ForkServer.Job, server: ForkServer) {
        self.process = process
        self.log = log
        self.job = job
        self.server = server
    }

    deinit {
        server.untrack(process.pid, of: job)
        job.reap(process.pid)
    }

    var pid: pid_t { process.pid }
    func signalGroup(_ signal: Int32) -> Bool { process.signalGroup(signal) }
    var groupIsAlive: Bool { process.groupIsAlive }
    var outputWasHeldOpen: Bool { log.wasHeldOpen }
}

extension DeltaPipeline {
    /// The write of one delta by the fork-server: the same contract, arguments, environment,
    /// working directory, log, timeout and sandbox as a writer process, with these steps between
    /// the fork and the child's first instruction: the pid the server names is checked (a child of
    /// the server leading its own group), moved into the delta's cgroup, and recorded; only then
    /// does the child get its go.
    func runForkedWriter(_ server: ForkServer, _ record: DeltaRecord, out: String, cgroup: String?, _ log: Logger,
                         onStart: (Int32, UInt64?) async throws -> Void) async throws -> WriterRun {
        let directory = spool.directory(of: record.id)
        let batches = record.batches.map { directory + "/batches/" + $0 }
        let started = WallClock.monotonicNanoseconds()
        func failed(_ reason: String) -> WriterRun {
            WriterRun(process: nil, outcome: .failed("fork-server: " + reason), durationMs: 0, stoppedByDrain: stop.isRequested)
        }
        let output: BoundedLog
        var go: [Int32] = [-1, -1]
        do {
            output = try BoundedLog(path: directory + "/writer.log", limit: Int(config.writerLogLimit))
            guard dsl_pipe2(&go, O_CLOEXEC) == 0 else { throw SystemError("pipe2", "fork-server go", errno: errno) }
        } catch {
            return failed("\(error)")
        }
        var goOpen = true
        defer {
            close(go[0])
            if goOpen { close(go[1]) }
        }
        var fds = [output.writeEnd, go[0]]
        var ruleset: Int32 = -1
        defer { if ruleset >= 0 { close(ruleset) } }
        if sandbox.landlock {
            do { ruleset = try sandbox.landlockRuleset(writable: [out, directory + "/tmp"]) } catch { return failed("\(error)") }
            fds.append(ruleset)
        }
        let job: ForkServer.Job
        do {
            job = try await server.submit(id: "\(record.id.rawValue)-\(record.attempt)",
                                          argv: ["--input"] + batches + ["--out", out], cwd: directory,
                                          environment: writerEnvironment(record), fds: fds, launch: forkServerLaunch())
        } catch {
            return failed("\(error)")
        }
        // Sent: the child holds its own copies; the log drains from here.
        output.start()

        let pid: pid_t
        switch await job.forked.value(timeout: live.writerTimeout) {
        case .success(let forked)?: pid = forked
        case .failure(let failure)?: return failed(failure.description)
        case nil: return failed("no child within \(live.writerTimeout)")
        }
        let process: ForkedProcess
        do { process = try ForkedProcess.adopt(pid: pid, parent: job.serverPID) } catch {
            // Not signalled: whatever that pid is, it is not ours to touch. A real child of the
            // server sees its go pipe end and exits.
            return failed("it named \(error)")
        }
        server.track(process, of: job)
        let writer = ForkedWriter(process: process, log: output, job: job, server: server)
        if let cgroup, !CgroupDelegation.move(pid, into: cgroup) {
            process.signalGroup(SIGKILL)
            return failed("cannot move its child \(pid) into \(cgroup): \(String(cString: strerror(errno)))")
        }
        do {
            try await onStart(pid, ProcessIdentity.startTime(of: pid))
        } catch {
            process.signalGroup(SIGKILL)
            throw error
        }
        var letter: UInt8 = UInt8(ascii: "g")
        guard Glibc.write(go[1], &letter, 1) == 1 else {
            process.signalGroup(SIGKILL)
            return failed("cannot start its child \(pid): \(String(cString: strerror(errno)))")
        }
        close(go[1])
        goOpen = false
        log.debug("writer forked", metadata: ["pid": "\(pid)", "server": "\(job.serverPID)", "attempt": "\(record.attempt)"])

        // The wait: the child's own exit (its pidfd) under the timeout, then what the server says.
        // As for a writer process, a cancelled task (the drain) does not enforce the timeout and
        // waits on: the drain's stop ends the server, and with it its children.
        var termination = ChildProcess.Termination(exitStatus: nil, signal: nil, timedOut: false)
        termination.timedOut = await process.wait(timeout: live.writerTimeout, grace: live.killGrace)
        var serverFailure: String?
        switch await job.ended.value(timeout: live.killGrace + .seconds(5)) {
        case .success(let ended)?:
            termination.exitStatus = ended.exitStatus
            termination.signal = ended.signal
        case .failure(let failure)?: serverFailure = "fork-server: " + failure.description
        case nil: serverFailure = "fork-server: it did not say how its child \(pid) ended"
        }
        await output.finish(linger: ChildProcess.outputLinger)
        return writerEnded(writer, termination, failure: serverFailure, started: started, record, log, mode: "fork-server")
    }

    /// How the fork-server is started: the writer command with `--fork-server`, as its user, with
    /// `no_new_privs`, under Landlock writing only below `work/` (each child narrows that to its
    /// own delta) and its own `tmp/`, with the writers' clean environment.
    func forkServerLaunch() -> ForkServer.Launch {
        let home = spool.forkServer + "/tmp"
        return ForkServer.Launch(
            arguments: config.writerCommand, environment: writerEnvironment(home: home), directory: spool.forkServer,
            logPath: spool.forkServer + "/server.log", logLimit: Int(config.writerLogLimit), limits: config.writerLimits,
            sandbox: sandbox.confinement(writable: [spool.work, home]), readyTimeout: live.writerTimeout)
    }
}
