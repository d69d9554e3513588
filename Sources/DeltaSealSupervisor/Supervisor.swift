import DeltaSealCore
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Logging

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

    /// Checks what would make every delta fail, so the daemon refuses to start instead.
    public func preflight() throws {
        var problems = config.problems()
        let writer = ChildProcess.resolve(config.writerCommand.first ?? "", path: ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        if access(writer, X_OK) != 0 { problems.append("writer command \(config.writerCommand.first ?? "") is not an executable file") }
        if access(config.verifierPath, X_OK) != 0 { problems.append("verifier \(config.verifierPath) is not an executable file") }
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
    }

    /// Runs until `stop` is requested or, with `once`, until what was in the spool at start is done.
    /// `store` replaces the store the configuration names (tests wrap the real one to inject faults).
    public func run(once: Bool, stop: StopRequest = StopRequest(), store: (any ObjectStore)? = nil) async throws -> RunSummary {
        try preflight()
        let spool = Spool(root: config.spool)
        try spool.prepare()
        let lock = try SpoolLock(spool: spool.root)
        defer { withExtendedLifetime(lock) {} }
        let store = try store ?? StoreOpener.open(config.store, s3: config.s3, environment: ProcessInfo.processInfo.environment)
        let pipeline = DeltaPipeline(
            config: config, spool: spool, store: store, logger: logger,
            writers: AsyncSemaphore(config.maxWriters), writerGate: WriterGate(config.restartIntensity, logger: logger),
            uploads: AsyncSemaphore(config.maxUploads),
            verifications: AsyncSemaphore(config.maxVerifications))
        collectGarbage(store: store, spool: spool)
        logger.info("supervisor started", metadata: [
            "spool": "\(spool.root)", "store": "\(config.store)", "host": "\(config.host)", "once": "\(once)",
        ])

        var summary = RunSummary()
        await withTaskGroup(of: DeltaOutcome.self) { group in
            var running = 0
            func admit() async {
                while running >= config.maxInFlight, let outcome = await group.next() {
                    summary.add(outcome)
                    running -= 1
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
                    await admit()
                    group.addTask { await pipeline.run(record) }
                    running += 1
                }
                var listing = try spool.readyBatches()
                let intake = IntakeGate(limits: config.intake, logger: logger)
                var nextCollection = ContinuousClock.now + config.gcInterval
                while !stop.isRequested {
                    for batch in listing {
                        if stop.isRequested { break }
                        await admit()
                        try await intake.waitUntilOpen(spool: spool, stop: stop, pollInterval: config.pollInterval)
                        if stop.isRequested { break }
                        let id = DeltaID(unixMilliseconds: WallClock.nowMilliseconds(), random: UInt64.random(in: 0 ... .max))
                        guard let record = try spool.claim(batch, as: id) else { continue }
                        logger.info("claimed", metadata: ["delta": "\(id)", "batch": "\(batch)"])
                        group.addTask { await pipeline.run(record) }
                        running += 1
                    }
                    if once { break }
                    try await stop.sleep(for: config.pollInterval)
                    if ContinuousClock.now >= nextCollection {
                        collectGarbage(store: store, spool: spool)
                        nextCollection = ContinuousClock.now + config.gcInterval
                    }
                    listing = try spool.readyBatches()
                }
            } catch {
                logger.error("intake stopped", metadata: ["error": "\(error)"])
                summary.failed += 1
            }
            for await outcome in group { summary.add(outcome) }
        }
        logger.info("supervisor stopped", metadata: [
            "shipped": "\(summary.shipped)", "rejected": "\(summary.rejected)", "failed": "\(summary.failed)",
        ])
        return summary
    }
}

extension Supervisor {
    /// Runs the garbage collector; a failure is logged, never fatal (it runs again later).
    func collectGarbage(store: any ObjectStore, spool: Spool) {
        let collector = GarbageCollector(store: store, host: config.host, spool: spool, graceMs: config.gcGraceMs, logger: logger)
        do {
            let result = try collector.run()
            logger.info("gc done", metadata: [
                "deltas": "\(result.deltas)", "objects": "\(result.objects)", "aborted_uploads": "\(result.abortedUploads)",
            ])
        } catch {
            logger.warning("gc failed; it runs again later", metadata: ["error": "\(error)"])
        }
    }

    /// `supervisor gc`: one collection, holding the spool's lock.
    public func collectGarbageOnce() throws -> GarbageCollector.Result {
        let spool = Spool(root: config.spool)
        try spool.prepare()
        let lock = try SpoolLock(spool: spool.root)
        defer { withExtendedLifetime(lock) {} }
        let store = try StoreOpener.open(config.store, s3: config.s3, environment: ProcessInfo.processInfo.environment)
        return try GarbageCollector(store: store, host: config.host, spool: spool, graceMs: config.gcGraceMs, logger: logger).run()
    }
}

/// A request to stop intake, set from a signal handler or a test.
public final class StopRequest: Sendable {
    private let flag = OnceFlag()

    public init() {}

    /// Asks the supervisor to stop claiming batches and finish what it has.
    public func request() { flag.set() }

    /// Whether a stop was asked for.
    public var isRequested: Bool { flag.isSet }

    /// Sleeps up to `duration`, waking early when a stop is requested.
    func sleep(for duration: Duration) async throws {
        let step = Duration.milliseconds(50)
        var left = duration
        while left > .zero, !isRequested {
            try await Task.sleep(for: min(step, left))
            left -= step
        }
    }
}


import Foundation
#if canImport(Glibc)
import Glibc
#endif
