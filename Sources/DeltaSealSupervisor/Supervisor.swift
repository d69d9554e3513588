import DeltaSealCore
import DeltaSealDelta
import DeltaSealS3
import DeltaSealStore
import DeltaSealStoreOpener
import DeltaSealSystem
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The daemon: claims batches from the spool, runs each delta through its pipeline with bounded
/// concurrency, and resumes whatever an earlier run left in `work/`.
public struct Supervisor: Sendable {
    public let config: SupervisorConfig
    public let logger: Logger

    public init(config: SupervisorConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    /// Raised before anything runs: the configuration or the environment cannot work.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public let problems: [String]
        public var description: String { problems.joined(separator: "\n") }
    }

    /// The fork-server's directory (its log, and a `tmp/` its user owns), and the server, not started yet.
    private func prepareForkServer(_ sandbox: WriterSandbox, _ spool: Spool) throws -> ForkServer {
        try Files.makeDirectories(spool.forkServer + "/tmp", mode: 0o700)
        _ = chmod(spool.forkServer, 0o711)
        try sandbox.handOver([spool.forkServer + "/tmp"])
        return ForkServer()
    }

    /// The verifier fork-server's directory (its log, and its private `tmp/`), and the server, not
    /// started yet: the verifier with its clean environment, as the supervisor's own child.
    private func prepareVerifierServer(_ spool: Spool) throws -> VerifierServer {
        let temporary = spool.verifierServer + "/tmp"
        try Files.makeDirectories(temporary, mode: 0o700)
        return VerifierServer(launch: ForkServer.Launch(
            arguments: [config.verifierPath], environment: VerifierEnvironment.make(temporary: temporary),
            directory: spool.verifierServer, logPath: spool.verifierServer + "/server.log", logLimit: 64 << 10,
            limits: ChildProcess.Limits(), sandbox: nil, readyTimeout: .seconds(10)))
    }

    /// Checks what would make every delta fail, so the daemon refuses to start instead; returns
    /// how writers will be confined.
    @discardableResult
    public func preflight() throws -> WriterSandbox {
        var problems = config.problems()
        var sandbox: WriterSandbox?
        do { sandbox = try WriterSandbox.make(config) } catch let problem as WriterIdentity.Problem { problems.append(problem.message) }
        let writer = ChildProcess.resolve(config.writerCommand.first ?? "", path: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        if access(writer, X_OK) != 0 { problems.append("writer command \(config.writerCommand.first ?? "") is not an executable file") }
        if access(config.verifierPath, X_OK) != 0 { problems.append("verifier \(config.verifierPath) is not an executable file") }
        guard problems.isEmpty, let sandbox else { throw ConfigurationError(problems: problems) }
        return sandbox
    }

    /// Runs until `stop` is requested or, with `once`, until what was in the spool at start is done.
    /// `store` replaces the store the configuration names (tests wrap the real one to inject faults).
    /// With `scrubEnvironment`, credentials read from the environment are removed from it once
    /// the store has them, so no child spawned later can inherit them (the command does this;
    /// tests that share their process do not).
    public func run(once: Bool, stop: StopRequest = StopRequest(), store: (any ObjectStore)? = nil,
                    health: SupervisorHealth = SupervisorHealth(), live: LiveSettings? = nil,
                    scrubEnvironment: Bool = false,
                    progress: (@Sendable (RunSummary) -> Void)? = nil) async throws -> RunSummary {
        let live = live ?? LiveSettings(config)
        if !Blocking.configure(threads: config.blockingThreads) {
            // In one process the first configuration holds (tests run several supervisors).
            logger.notice("the blocking executor already runs with another size", metadata: [
                "threads": "\(Blocking.executor.limit)", "configured": "\(config.blockingThreads)",
            ])
        }
        var sandbox = try preflight()
        let spool = Spool(root: config.spool)
        try spool.prepare()
        let lock = try SpoolLock(spool: spool.root)
        defer { withExtendedLifetime(lock) {} }
        // Only once the spool is ours: the detection removes this spool's leftover writer cgroups.
        sandbox.detectCgroups(config)
        let environment = ProcessInfo.processInfo.environment
        let verifierCredentials = config.store.scheme == .s3
            ? CredentialChain.longTermCredentials(environment: environment, readFile: AWSConfigFile.read) : nil
        let store = try store ?? StoreOpener.open(config.store, s3: config.s3, environment: environment)
        if scrubEnvironment {
            for name in VerifierEnvironment.secretNames { unsetenv(name) }
        }
        logger.info("writer sandbox", metadata: ["sandbox": "\(sandbox.summary)"])
        for warning in sandbox.identity.warnings { logger.warning("\(warning)") }
        if config.writerLandlock && sandbox.landlockABI == nil {
            logger.warning("this kernel has no Landlock: writers are confined by their user, no_new_privs and the seal's checks only")
        }
        let writerGate = WriterGate(config.restartIntensity, logger: logger)
        let storeHealth = StoreHealth(thresholdMs: config.outageThresholdMs, logger: logger)
        let probeKey = ObjectLayout.join(config.host, ".deltaseal-probe")
        let board = StatusBoard()
        board.sandbox = sandbox.summary
        let pipeline = DeltaPipeline(
            config: config, spool: spool, store: store, logger: logger,
            writers: AsyncSemaphore(config.maxWriters), writerGate: writerGate,
            uploads: AsyncSemaphore(config.maxUploads),
            compression: CompressionBudget(bytes: Int(clamping: config.zstdMemory), onWait: SupervisorMetrics.compressionWait),
            verifications: AsyncSemaphore(config.maxVerifications), stop: stop, live: live,
            sandbox: sandbox, verifierCredentials: verifierCredentials, storeHealth: storeHealth, once: once,
            forkServer: config.writerMode == "fork-server" ? try prepareForkServer(sandbox, spool) : nil,
            verifierServer: config.verifierLaunch == "fork-server" ? try prepareVerifierServer(spool) : nil)
        await collectGarbage(store: store, spool: spool)
        logger.info("supervisor started", metadata: [
            "spool": "\(spool.root)", "store": "\(config.store)", "host": "\(config.host)", "once": "\(once)",
        ])

        let intake = IntakeGate(live: live, logger: logger, storeHealth: storeHealth)
        let slots = AsyncSemaphore(config.maxInFlight)
        let results = RunResults(progress: progress)
        let notifier = SystemdNotifier(environment: environment)
        notifier.notify("READY=1\nSTATUS=started")
        SupervisorMetrics.initialize()
        let stopping = OnceFlag()
        /// Publishes what the daemon knows: status file, gauges, health, systemd's status and
        /// watchdog. Runs from its own timer, whatever intake and the deltas are doing.
        func publish() async {
            await storeHealth.probeIfDue(store, key: probeKey)
            let available = storeHealth.isAvailable
            SupervisorMetrics.storeAvailable(available)
            let paused = intake.refresh(spool: spool)
            let writersPausedMs = await writerGate.pausedForMs
            board.intakePaused = paused
            board.writersPausedMs = writersPausedMs
            board.write(spool: spool)
            let notReady = stop.isRequested ? "draining: intake stopped, finishing the deltas in flight"
                : paused.map { "intake paused: \($0)" }
                ?? (writersPausedMs > 0 ? "writers paused for \(writersPausedMs / 1000) s after a crash loop" : nil)
            health.beat(notReady: notReady)
            SupervisorMetrics.inFlight(results.running)
            SupervisorMetrics.intakePaused(reason: stop.isRequested ? "draining" : paused.map(SupervisorMetrics.pauseLabel)
                                           ?? (writersPausedMs > 0 ? "crash_loop" : nil))
            for (directory, count) in spool.queueDepths() { SupervisorMetrics.spool(directory, count) }
            if stop.isRequested, !stopping.isSet {
                stopping.set()
                notifier.notify("STOPPING=1")
            }
            let summary = results.summary
            notifier.notify("STATUS=\(results.running) in flight, \(summary.shipped) shipped, \(summary.failed) failed"
                            + (notReady.map { "; \($0)" } ?? "") + (notifier.watchdogMicroseconds != nil ? "\nWATCHDOG=1" : ""))
        }
        // Watching incoming/ before anything says the daemon runs: a batch renamed in once
        // status.json exists is seen arriving.
        let arrivals = BatchArrivals(directory: spool.incoming, logger: logger)
        let finished = StopRequest()
        await withDiscardingTaskGroup { outer in
            outer.addTask {
                // The health timer: a beat at least every second, and at the very end. A cancelled
                // group (the drain timeout) ends it: a cancelled sleep returns at once, and a loop
                // around it would spin.
                while !finished.isRequested && !Task.isCancelled {
                    await publish()
                    try? await finished.sleep(for: .seconds(1))
                }
                if !Task.isCancelled { await publish() }
            }
            // Intake and the deltas it starts: the group ends when intake has stopped and the last
            // delta has finished (the drain), while the health timer goes on publishing.
            await withDiscardingTaskGroup { group in
                /// Starts a delta in the slot its caller acquired.
                func launch(_ record: DeltaRecord) {
                    results.started(record.id)
                    group.addTask {
                        let outcome = await pipeline.run(record)
                        results.finished(record.id, outcome)
                        board.record(outcome, id: record.id)
                        await slots.signal()
                    }
                }
                do {
                    try spool.removeDiscarded()
                    for id in try spool.workInProgress() {
                        guard let record = try spool.load(id) else {
                            try spool.discard(id)
                            continue
                        }
                        logger.info("resuming", metadata: ["delta": "\(id)", "state": "\(record.state.rawValue)"])
                        await slots.wait()
                        launch(record)
                    }
                    let settleMs = Int64(config.intakeSettle.components.seconds * 1000
                        + config.intakeSettle.components.attoseconds / 1_000_000_000_000_000)
                    var reported = Set<Spool.Unclaimable>()
                    /// The batches that may be claimed now; entries that never can be are logged once each.
                    func listing() throws -> [String] {
                        let scan = try spool.scanIncoming()
                        for entry in scan.unclaimable where reported.insert(entry).inserted {
                            logger.error("cannot claim an entry of incoming/; it stays there", metadata: [
                                "entry": "\(entry.name)", "reason": "\(entry.reason)",
                            ])
                        }
                        reported.formIntersection(scan.unclaimable)
                        results.unclaimable(scan.unclaimable.count)
                        let now = WallClock.nowMilliseconds()
                        arrivals.refresh(nowMs: now)
                        return scan.batches.filter { arrivals.notReady($0, nowMs: now, settleMs: settleMs) == nil }
                    }
                    var nextCollection = ContinuousClock.now + config.gcInterval
                    // With --once, the batches there at start are waited for while they settle; one
                    // still being written after that stays in incoming/ and the run does not count as done.
                    let atStart = once ? Set(try spool.readyBatches()) : []
                    let settleDeadline = ContinuousClock.now + config.intakeSettle + config.pollInterval
                    while !stop.isRequested {
                        let ready = try listing()
                        for batch in ready {
                            if stop.isRequested { break }
                            // A slot first, then room on disk, then the claim: a claimed batch never waits.
                            await slots.wait()
                            try await intake.waitUntilOpen(spool: spool, stop: stop, pollInterval: config.pollInterval)
                            let id = DeltaID(unixMilliseconds: WallClock.nowMilliseconds(), random: UInt64.random(in: 0 ... .max))
                            // The claim hashes the batch: a big read, off the cooperative pool.
                            let claim = try await Blocking.runUncancellable { [spool, stop] () throws -> (record: DeltaRecord, reopened: Bool)? in
                                guard !stop.isRequested, let record = try spool.claim(batch, as: id) else { return nil }
                                // A writer that opened the batch between the check and the rename: give it back.
                                if case .open = OpenForWriting.check(spool.batchPath(record, batch)) {
                                    try spool.unclaim(record)
                                    return (record, true)
                                }
                                return (record, false)
                            }
                            if claim != nil { arrivals.claimed(batch) }
                            guard let claim, !claim.reopened else {
                                await slots.signal()
                                continue
                            }
                            let record = claim.record
                            logger.info("claimed", metadata: ["delta": "\(id)", "batch": "\(batch)"])
                            launch(record)
                        }
                        if once {
                            let left = Set(try spool.readyBatches()).intersection(atStart)
                            if left.isEmpty { break }
                            // Past the settle time, give up only when every batch left is still not
                            // ready (open for writing); ready ones are claimed on the next pass.
                            let stuck = left.compactMap { batch in
                                arrivals.notReady(batch, nowMs: WallClock.nowMilliseconds(), settleMs: settleMs).map { (batch, $0) }
                            }
                            if ContinuousClock.now >= settleDeadline && stuck.count == left.count {
                                for (batch, reason) in stuck.sorted(by: { $0.0 < $1.0 }) {
                                    logger.warning("batch is still being written; it stays in incoming/", metadata: [
                                        "batch": "\(batch)", "reason": "\(reason)",
                                    ])
                                }
                                results.leftUnclaimed(left.count)
                                break
                            }
                        }
                        try await stop.sleep(for: config.pollInterval)
                        // Deltas put back into work/ while running (`supervisor retry`).
                        for id in try spool.workInProgress() where !results.isActive(id) && !stop.isRequested {
                            guard let record = try spool.load(id) else { continue }
                            logger.info("picked up", metadata: ["delta": "\(id)", "state": "\(record.state.rawValue)"])
                            await slots.wait()
                            launch(record)
                        }
                        if ContinuousClock.now >= nextCollection {
                            await collectGarbage(store: store, spool: spool)
                            nextCollection = ContinuousClock.now + config.gcInterval
                        }
                    }
                } catch is CancellationError {
                    // The drain timeout: the deltas in flight end deferred.
                } catch {
                    logger.error("intake stopped", metadata: ["error": "\(error)"])
                    results.intakeFailed()
                }
            }
            finished.request()
        }
        let summary = results.summary
        health.beat(notReady: "stopped")
        pipeline.forkServer?.stop()
        pipeline.verifierServer?.stop()
        if case .delegated(let delegation) = sandbox.cgroups { delegation.removeBase() }
        logger.info("supervisor stopped", metadata: [
            "shipped": "\(summary.shipped)", "rejected": "\(summary.rejected)", "failed": "\(summary.failed)",
        ])
        return summary
    }
}

extension Supervisor {
    /// Runs the garbage collector (its store calls and spool reads run on the blocking executor);
    /// a failure is logged, never fatal (it runs again later).
    func collectGarbage(store: any ObjectStore, spool: Spool) async {
        let collector = GarbageCollector(store: store, host: config.host, spool: spool, graceMs: config.gcGraceMs, logger: logger)
        do {
            let result = try await collector.run()
            logger.info("gc done", metadata: [
                "deltas": "\(result.deltas)", "objects": "\(result.objects)", "aborted_uploads": "\(result.abortedUploads)",
            ])
        } catch {
            logger.warning("gc failed; it runs again later", metadata: ["error": "\(error)"])
        }
    }

    /// `supervisor gc`: one collection, holding the spool's lock.
    public func collectGarbageOnce() async throws -> GarbageCollector.Result {
        let spool = Spool(root: config.spool)
        try spool.prepare()
        let lock = try SpoolLock(spool: spool.root)
        defer { withExtendedLifetime(lock) {} }
        let store = try StoreOpener.open(config.store, s3: config.s3, environment: ProcessInfo.processInfo.environment)
        return try await GarbageCollector(store: store, host: config.host, spool: spool, graceMs: config.gcGraceMs, logger: logger).run()
    }
}

/// Outcomes of the deltas of one run, collected from their tasks.
final class RunResults: Sendable {
    private struct State {
        var totals = RunSummary()
        var active = Set<DeltaID>()
    }
    private let state = Mutex(State())
    private let progress: (@Sendable (RunSummary) -> Void)?

    init(progress: (@Sendable (RunSummary) -> Void)?) { self.progress = progress }

    func started(_ id: DeltaID) { state.withLock { _ = $0.active.insert(id) } }

    func isActive(_ id: DeltaID) -> Bool { state.withLock { $0.active.contains(id) } }

    func finished(_ id: DeltaID, _ outcome: DeltaOutcome) {
        let now = state.withLock { state -> RunSummary in
            state.totals.add(outcome)
            state.active.remove(id)
            return state.totals
        }
        progress?(now)
        switch outcome {
        case .shipped:
            SupervisorMetrics.delta(outcome: "shipped")
            SupervisorMetrics.shipped(atMs: WallClock.nowMilliseconds())
        case .rejected: SupervisorMetrics.delta(outcome: "rejected")
        case .failed: SupervisorMetrics.delta(outcome: "failed")
        case .deferred: break
        }
    }

    /// Batches a `--once` run left in `incoming/` because they were still being written.
    func leftUnclaimed(_ count: Int) { state.withLock { $0.totals.deferred += count } }

    /// How many entries of `incoming/` cannot be claimed, as last seen.
    func unclaimable(_ count: Int) { state.withLock { $0.totals.unclaimable = count } }

    /// Intake itself broke (the spool became unreadable): the run cannot count as all shipped.
    func intakeFailed() { state.withLock { $0.totals.failed += 1 } }

    var running: Int { state.withLock { $0.active.count } }
    var summary: RunSummary { state.withLock { $0.totals } }
}

/// Liveness and readiness, for `/healthz` and `/readyz`.
public final class SupervisorHealth: Sendable {
    private struct State {
        var lastBeatMs = WallClock.nowMilliseconds()
        var reason: String? = "starting"
    }
    private let state = Mutex(State())

    public init() {}

    /// The health timer's beat: the process can make progress; `notReady` says why it would
    /// not take and ship a new batch now (nil: it would).
    func beat(notReady: String?) {
        state.withLock {
            $0.lastBeatMs = WallClock.nowMilliseconds()
            $0.reason = notReady
        }
    }

    /// `nil` when the health timer beat recently (the process can make progress, however busy
    /// its writers are), else why the process is not healthy: what `/healthz` answers.
    public func unhealthy(maxSilenceMs: Int64) -> String? {
        state.withLock {
            let silence = WallClock.nowMilliseconds() - $0.lastBeatMs
            return silence > maxSilenceMs ? "the health timer has not run for \(silence / 1000) s" : nil
        }
    }

    /// `nil` when it would take and ship a new batch now, else why not (intake paused for disk,
    /// the work area, the store; writers paused after a crash loop; draining): what `/readyz` answers.
    public var notReady: String? { state.withLock { $0.reason } }
}
