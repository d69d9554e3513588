import DeltaSealCore
import DeltaSealDelta
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Logging

/// Moves one delta from its claimed batch to a verified delta in the store.
///
/// A small interpreter of ``DeltaStateMachine``: the machine decides (states, retries, backoff,
/// what survives a crash); the pipeline performs the actions it asks for and feeds back what
/// happened. The stages live beside this file: `DeltaPipeline+Write`, `+Seal`, `+Store`,
/// `+Verify`, `+Endings`.
struct DeltaPipeline: Sendable {
    let config: SupervisorConfig
    let spool: Spool
    let store: any ObjectStore
    let logger: Logger
    let writers: AsyncSemaphore
    let writerGate: WriterGate
    let uploads: AsyncSemaphore
    /// The memory the packs of all deltas in flight share.
    let compression: CompressionBudget
    let verifications: AsyncSemaphore
    /// Once set, no new attempt starts: a delta waiting to retry stays in `work/`.
    let stop: StopRequest
    /// Settings a reload may change while deltas are in flight.
    let live: LiveSettings
    /// How writers are confined (docs/architecture.md, "Writer sandbox").
    let sandbox: WriterSandbox
    /// Credentials the verifier gets through a file in its private directory, never its environment.
    let verifierCredentials: S3Credentials?
    /// Whether the store can take work (outage mode).
    let storeHealth: StoreHealth
    /// `--once`: a delta that would wait for an unavailable store stops instead (it stays in
    /// `work/` and resumes at the next start); the daemon waits.
    let once: Bool
    /// The fork-server writer, with `writer.mode: fork-server`.
    var forkServer: ForkServer? = nil
    /// The verifier fork-server, with `verifier.launch: fork-server`.
    var verifierServer: VerifierServer? = nil

    /// What one run of a delta holds in memory between actions; none of it survives a crash,
    /// and none of it needs to (the record on disk says where to go on).
    struct Attempt {
        /// The writer that exited, until its output is sealed (its group may still have members).
        var writer: (any WriterProcess)?
        /// The writer's cgroup, until the seal has looked for processes holding files.
        var writerGroup: String?
        /// What the seal proved, for the pack.
        var sealed: [Packer.Input]?
    }

    /// Runs the delta to an outcome, resuming from whatever state its record holds.
    func run(_ initial: DeltaRecord) async -> DeltaOutcome {
        var record = initial
        var log = logger
        log[metadataKey: "delta"] = "\(record.id)"
        var attempt = Attempt()
        var event = await lookOffThePool(at: record)
        while true {
            let machine = DeltaStateMachine(retry: live.retry)
            let step = machine.next(record, event, nowMs: WallClock.nowMilliseconds(), jitter: Double.random(in: 0..<1))
            record = step.record
            tell(step.note, record, log)
            var produced: DeltaEvent?
            for action in step.actions {
                switch action {
                case .save:
                    do {
                        // Decided, so written even in a cancelled task: the next start resumes from it.
                        try await Blocking.runUncancellable { [spool, record] in try spool.save(record) }
                    } catch {
                        // The next action depends on the saved state: it does not run. A step
                        // that only keeps accounts (a retry, an ending) goes on.
                        log.error("cannot save state", metadata: ["error": "\(error)", "state": "\(record.state.rawValue)"])
                        if step.actions.contains(where: \.dependsOnSavedState) {
                            produced = .localFailure(reason: "cannot save the delta's state: \(error)", retryable: Self.isRetryable(error))
                        }
                    }
                case .killLeftoverWriter(let pid, let startTime):
                    if ProcessIdentity.killLeftoverGroup(pid: pid, startTime: startTime) {
                        log.warning("killed a writer left by an earlier run", metadata: ["pgid": "\(pid)"])
                    }
                case .finish(let ending):
                    return await finish(ending, record, log)
                default:
                    produced = await perform(action, &record, &attempt, log)
                }
                if produced != nil { break }
            }
            guard let produced else {
                // A machine step always ends in an action that produces an event or finishes.
                event = .localFailure(reason: "internal: no event after \(step.actions)", retryable: true)
                continue
            }
            event = produced
        }
    }

    /// Performs one action that produces an event; local errors become `localFailure`.
    private func perform(_ action: DeltaAction, _ record: inout DeltaRecord, _ attempt: inout Attempt,
                         _ log: Logger) async -> DeltaEvent {
        // Cancelled (the drain timeout): nothing new starts; the delta resumes at the next start.
        if Task.isCancelled && action.dependsOnSavedState { return .stopped }
        do {
            switch action {
            case .wait(let untilMs):
                let wait = untilMs - WallClock.nowMilliseconds()
                if wait > 0 { try? await stop.sleep(for: .milliseconds(wait)) }
                return await lookOffThePool(at: record)
            case .resume:
                attempt = Attempt()
                return await lookOffThePool(at: record)
            case .spawnWriter:
                return try await write(&record, &attempt, log)
            case .seal:
                return try await seal(record, &attempt, log)
            case .pack:
                return try await pack(record, &attempt)
            case .awaitStore:
                return await storeIsAvailable() ? .storeReady : .stopped
            case .readUploadedManifest:
                return try await readUploadedManifest(record)
            case .upload:
                return try await upload(record, log)
            case .deleteObjects:
                return try await deleteObjects(record)
            case .verify:
                return try await verifications.withPermit { [record] in
                    try Task.checkCancellation()
                    return try await verify(record, log)
                }
            case .save, .killLeftoverWriter, .finish:
                return .localFailure(reason: "internal: \(action) performed as a stage", retryable: true)
            }
        } catch is CancellationError {
            return .stopped
        } catch {
            return .localFailure(reason: "\(error)", retryable: Self.isRetryable(error))
        }
    }

    /// ``look(at:)`` on the blocking executor: it hashes every batch (a big batch is a big read),
    /// which must not hold a thread of the cooperative pool the supervisor's tasks share.
    private func lookOffThePool(at record: DeltaRecord) async -> DeltaEvent {
        // Uncancellable: what the machine decides next, a drain's `stopped` included, needs it.
        (try? await Blocking.runUncancellable { [self] in look(at: record) }) ?? look(at: record)
    }

    /// What the spool holds for the delta, as the machine needs it to resume.
    private func look(at record: DeltaRecord) -> DeltaEvent {
        let directory = spool.directory(of: record.id)
        var disk = DeltaEvent.DeltaDisk(hasOutput: Files.isDirectory(directory + "/out"),
                                        hasPacked: Files.exists(directory + "/packed/" + ObjectLayout.manifestKey),
                                        stopRequested: stop.isRequested)
        // Batches are checked only where an attempt may start now: never for a decided delta
        // (its batch may be moved already), not before a retry's wait is over.
        guard !record.state.isTerminal, (record.notBeforeMs ?? 0) <= WallClock.nowMilliseconds() else { return .resumed(disk) }
        do {
            if record.batchDigests == nil {
                // Claimed by a supervisor that died before recording them: no writer has run yet,
                // so the batches as they are now are the claim (hashed once, not checked against
                // the digests just taken from them).
                disk.batchDigests = try spool.digests(of: record)
            } else {
                try spool.checkBatches(record)
            }
        } catch let changed as Spool.BatchChanged {
            disk.batchProblem = changed.reason
        } catch {
            return .localFailure(reason: "cannot read the delta's batches: \(error)", retryable: Self.isRetryable(error))
        }
        return .resumed(disk)
    }

    /// Logs and counts what a step decided.
    private func tell(_ note: DeltaStateMachine.Note?, _ record: DeltaRecord, _ log: Logger) {
        switch note {
        case .attemptStarts(let from, let at)?:
            log.info("attempt starts", metadata: ["from": "\(from.rawValue)", "at": "\(at.rawValue)", "attempt": "\(record.attempt)"])
        case .retrying(let reason, let delay, let resumeAt)?:
            log.warning("attempt failed, retrying", metadata: [
                "attempt": "\(record.attempt)", "store_attempts": "\(record.storeAttempts ?? 0)", "resume_at": "\(resumeAt.rawValue)",
                "retry_in_s": "\(String(format: "%.2f", delay))", "error": "\(reason)",
            ])
            SupervisorMetrics.retry()
        case .waitingForStore(let reason)?:
            log.warning("store unavailable: the delta waits for it, no attempt spent", metadata: ["error": "\(reason)"])
        case .failed(let reason)?:
            log.error("delta failed", metadata: ["attempt": "\(record.attempt)", "error": "\(reason)"])
        case .rejected?, nil:
            break
        case .deferredRetry?:
            log.info("stop requested: the retry waits for the next start", metadata: ["attempt": "\(record.attempt)"])
        }
    }

    /// Local failures (disk full, permissions) are retried unless the error says no retry helps.
    static func isRetryable(_ error: any Error) -> Bool {
        (error as? SystemError)?.isRetryable ?? true
    }
}

extension DeltaAction {
    /// Whether the action needs the state saved before it (a stage), rather than following a
    /// step that only keeps accounts.
    var dependsOnSavedState: Bool {
        switch self {
        case .spawnWriter, .seal, .pack, .awaitStore, .readUploadedManifest, .upload, .deleteObjects, .verify: true
        case .save, .killLeftoverWriter, .wait, .resume, .finish: false
        }
    }
}
