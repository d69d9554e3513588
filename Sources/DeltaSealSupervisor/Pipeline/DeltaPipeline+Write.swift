import DeltaSealCore
import DeltaSealSystem
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The write stage: the writer runs in its sandbox into a fresh `out/`.
extension DeltaPipeline {
    /// Runs the writer; → `writerExited`, `batchesChanged` or `stopped` (the drain killed it).
    /// `writerStarted` goes through the machine (and is saved) as soon as the writer runs.
    func write(_ record: inout DeltaRecord, _ attempt: inout Attempt, _ log: Logger) async throws -> DeltaEvent {
        let directory = spool.directory(of: record.id)
        let out = directory + "/out"
        let current = record
        // File work (a big earlier attempt's output to remove) off the cooperative pool.
        let group = try await Blocking.run { [sandbox] in
            for stale in ["out", "packed", "tmp", "writer.log", "verify.log", "verify.err"] {
                try Files.removeTree(directory + "/" + stale)
            }
            try Files.makeDirectories(out, mode: 0o700)
            try Files.makeDirectories(directory + "/tmp", mode: 0o700)
            // The writer owns what it writes and nothing else: its output and private tmp.
            try sandbox.handOver([out, directory + "/tmp"])
            return sandbox.makeGroup("writer-\(current.id.rawValue)-\(current.attempt)")
        }
        // Whatever goes wrong before the writer's output is handed on, its cgroup goes with it.
        var handedOn = false
        defer { if !handedOn, let group { CgroupDelegation.killAndRemove(group) } }
        let (written, started) = try await writers.withPermit { [writerGate] in
            await writerGate.waitUntilOpen()
            // A slot freed by the drain timeout's kill starts no new writer.
            try Task.checkCancellation()
            var started: DeltaRecord?
            let onStart: (Int32, UInt64?) async throws -> Void = { pid, startTime in
                // So a later start can kill a writer this run leaves behind.
                let step = DeltaStateMachine(retry: live.retry).next(current, .writerStarted(pid: pid, startTime: startTime),
                                                                     nowMs: WallClock.nowMilliseconds(), jitter: 0)
                try await Blocking.runUncancellable { [spool] in try spool.save(step.record) }
                started = step.record
            }
            let run = if let forkServer {
                try await runForkedWriter(forkServer, current, out: out, cgroup: group, log, onStart: onStart)
            } else {
                try await runWriter(current, out: out, cgroup: group, log, onStart: onStart)
            }
            // Bad input is the batch's fault, not a sign the writer command is broken.
            await writerGate.record(success: run.outcome == .complete || run.outcome == .badInput)
            return (run, started)
        }
        if let started { record = started }
        /// Everything the writer started, gone: its process group, and its cgroup where there is one.
        func killAll() async {
            written.process?.signalGroup(SIGKILL)
            if let group {
                handedOn = true
                await Blocking.runQuietly { CgroupDelegation.killAndRemove(group) }
            }
        }
        // Whatever the writer says, it must have left its input as it was.
        let checked = record
        do { try await Blocking.runUncancellable { [spool] in try spool.checkBatches(checked) } } catch let changed as Spool.BatchChanged {
            await killAll()
            return .batchesChanged(reason: changed.reason)
        }
        switch written.outcome {
        case .complete:
            handedOn = true
            attempt.writer = written.process
            attempt.writerGroup = group
            return .writerExited(.complete(durationMs: written.durationMs))
        case .badInput:
            await killAll()
            let rejection = WriterContract.parseRejection(stderr: tail(directory + "/writer.log", bytes: 16 << 10))
            return .writerExited(.badInput(reason: WriterContract.format(rejection)))
        case .failed(let reason):
            await killAll()
            if written.stoppedByDrain { return .stopped }
            return .writerExited(.failed(reason: reason + logSuffix(directory + "/writer.log")))
        }
    }

    struct WriterRun: Sendable {
        /// Nil when it could not even start.
        var process: (any WriterProcess)?
        var outcome: WriterContract.Outcome
        var durationMs: Int64
        /// Killed by the drain timeout of a stop: not the writer's failure, no attempt spent.
        var stoppedByDrain: Bool
    }

    /// Spawns the writer and waits for it; `onStart` is told its pid (and must save it) before the wait.
    func runWriter(_ record: DeltaRecord, out: String, cgroup: String?, _ log: Logger,
                   onStart: (Int32, UInt64?) async throws -> Void) async throws -> WriterRun {
        let directory = spool.directory(of: record.id)
        let batches = record.batches.map { directory + "/batches/" + $0 }
        let arguments = config.writerCommand + ["--input"] + batches + ["--out", out]
        let started = WallClock.monotonicNanoseconds()
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(arguments: arguments, environment: writerEnvironment(record),
                                             workingDirectory: directory, outputPath: directory + "/writer.log",
                                             limits: config.writerLimits,
                                             sandbox: sandbox.confinement(writable: [out, directory + "/tmp"], cgroup: cgroup),
                                             outputLimit: Int(config.writerLogLimit))
        } catch {
            return WriterRun(process: nil, outcome: .failed("cannot start the writer \(config.writerCommand[0]): \(error)"),
                             durationMs: 0, stoppedByDrain: false)
        }
        do {
            try await onStart(process.pid, ProcessIdentity.startTime(of: process.pid))
        } catch {
            // Unrecorded, it could outlive a crash unseen: it does not run.
            process.signalGroup(SIGKILL)
            _ = await process.wait(timeout: live.killGrace, grace: live.killGrace)
            throw error
        }
        log.debug("writer started", metadata: ["pid": "\(process.pid)", "attempt": "\(record.attempt)"])
        let termination = await process.wait(timeout: live.writerTimeout, grace: live.killGrace)
        return writerEnded(process, termination, started: started, record, log)
    }

    /// What a writer's end means, logged and counted the same for a writer process and a
    /// fork-server's child (`mode` says which in the log, for the fork-server). `failure`, when its end is not known (a fork-server that went),
    /// overrides the exit status; a timeout overrides both.
    func writerEnded(_ process: any WriterProcess, _ termination: ChildProcess.Termination, failure: String? = nil,
                     started: UInt64, _ record: DeltaRecord, _ log: Logger, mode: String? = nil) -> WriterRun {
        let directory = spool.directory(of: record.id)
        let durationMs = Int64((WallClock.monotonicNanoseconds() - started) / 1_000_000)
        for line in tail(directory + "/writer.log", bytes: 4096).split(separator: "\n") where !line.isEmpty {
            log.info("writer: \(DisplayText.sanitize(String(line)))")
        }
        var outcome = WriterContract.outcome(exitStatus: termination.exitStatus, signal: termination.signal)
        if let failure { outcome = .failed(failure) }
        if termination.timedOut {
            outcome = .failed("writer timed out after \(live.writerTimeout) and was killed with its process group")
        }
        SupervisorMetrics.stage("write", nanoseconds: WallClock.monotonicNanoseconds() - started)
        SupervisorMetrics.writerExit(code: termination.timedOut ? "timeout"
            : termination.signal.map { "signal_\($0)" } ?? termination.exitStatus.map(String.init) ?? "unknown")
        var metadata: Logger.Metadata = [
            "status": "\(termination.exitStatus.map(String.init) ?? "signal \(termination.signal ?? 0)")",
            "duration_ms": "\(durationMs)",
        ]
        if let mode { metadata["mode"] = "\(mode)" }
        log.info("writer exited", metadata: metadata)
        let killed = termination.signal == SIGTERM || termination.signal == SIGKILL || failure != nil
        return WriterRun(process: process, outcome: outcome, durationMs: durationMs, stoppedByDrain: stop.isRequested && killed)
    }

    /// The writer's whole environment: a fixed clean set plus what the configuration passes
    /// through. Credentials of the object store are never passed.
    func writerEnvironment(_ record: DeltaRecord) -> [String: String] {
        var environment = writerEnvironment(home: spool.directory(of: record.id) + "/tmp")
        environment["DELTASEAL_DELTA_ID"] = record.id.rawValue
        environment["DELTASEAL_ATTEMPT"] = "\(record.attempt)"
        return environment
    }

    /// The part of it that is not about one delta (all the fork-server gets).
    func writerEnvironment(home: String) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        var environment: [String: String] = [
            "PATH": inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": home,
            "LANG": "C.UTF-8",
        ]
        // Credential-like names were refused when the configuration was read unless forced with `!`.
        for entry in config.writerEnvironmentPassthrough {
            let name = entry.hasPrefix("!") ? String(entry.dropFirst()) : entry
            if let value = inherited[name] { environment[name] = value }
        }
        return environment
    }

}
