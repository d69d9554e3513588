/// The life of a delta as a pure function: `(record, event, now) -> (record', actions)`.
///
/// Retry policy, backoff, per-stage attempt counting and what survives a crash are decided here
/// and nowhere else; the pipeline performs the actions and feeds back what happened. Every
/// action with an effect a crash must know about (a writer, a request to the store, an ending)
/// comes after a `save` of the state it depends on, so a crash at any point resumes from the
/// record on disk (`resumed`), never from memory. Seal and pack are local and repeatable: a
/// delta is saved once it is `packed`, not in between (five saves on the way to shipped: writer
/// started, packed, uploading, uploaded, verified).
///
/// Two kinds of attempt are counted. Writer-stage failures (write, seal, pack, an "invalid"
/// verdict, a local error) spend one of `retry.max_attempts` and start again from the batch.
/// Store-stage failures (an upload, a read, a delete, a verification that could not check)
/// start again from what is already packed or uploaded; a failed request of the store never
/// fails a delta by repetition (only a permanent refusal does), and while the store is
/// unavailable nothing is counted at all.
public struct DeltaStateMachine: Sendable {
    public var retry: RetryPolicy

    public init(retry: RetryPolicy) { self.retry = retry }

    /// The outcome of one event: the new record, what to do, and what to tell the operator.
    public struct Step: Sendable, Equatable {
        public var record: DeltaRecord
        public var actions: [DeltaAction]
        public var note: Note?
    }

    /// What a step decided that the log and the metrics tell.
    public enum Note: Sendable, Equatable {
        /// An attempt starts somewhere other than a fresh write.
        case attemptStarts(from: DeltaState, at: DeltaState)
        /// A failed attempt is retried after `delaySeconds`, from `resumeAt`.
        case retrying(reason: String, delaySeconds: Double, resumeAt: DeltaState)
        /// The store cannot take work: the delta waits for it, spending nothing.
        case waitingForStore(reason: String)
        /// The delta failed for good.
        case failed(reason: String)
        /// The writer rejected the batch.
        case rejected(reason: String)
        /// A retry's wait was cut short by a stop.
        case deferredRetry
    }

    /// Where a failed attempt goes on.
    enum Stage { case writer, store }

    /// The step that follows `event` for `record` at `nowMs`; `jitter` (in `0..<1`) spreads the
    /// backoff of retries.
    public func next(_ record: DeltaRecord, _ event: DeltaEvent, nowMs: Int64, jitter: Double) -> Step {
        var r = record
        switch (record.state, event) {
        case (.verified, _):
            // Decided; whatever failed after the verdict (a save), only the local cleanup is left.
            // Never the delta itself: that could ship it twice.
            return Step(record: r, actions: [.finish(.shipped)])
        case (.rejected, _):
            return Step(record: r, actions: [.finish(.rejected)])
        case (.failed, .objectsDeleted) where r.objectsMayRemain == true:
            r.objectsMayRemain = nil
            return Step(record: r, actions: [.save, .finish(.failed)])
        case (.failed, _):
            // A failed removal leaves `objects_may_remain`: the report says so, gc removes them.
            return Step(record: r, actions: [.finish(.failed)])
        case (_, .resumed(let disk)):
            return resume(r, disk, nowMs: nowMs)

        case (.claimed, .writerStarted(let pid, let startTime)):
            r.writerPID = pid
            r.writerStartTime = startTime
            return Step(record: r, actions: [.save])
        case (.claimed, .writerExited(.complete(let durationMs))):
            r.state = .written
            r.writerDurationMs = durationMs
            r.writerPID = nil
            r.writerStartTime = nil
            // Not saved: sealing and packing are local and repeatable. A crash before `packed` is
            // saved resumes from the record on disk (`claimed`, with the writer's pid to kill)
            // and writes again; the durable boundaries are the ones a crash must know about.
            return Step(record: r, actions: [.seal])
        case (.claimed, .writerExited(.badInput(let reason))):
            r.state = .rejected
            r.lastError = reason
            r.writerPID = nil
            r.writerStartTime = nil
            return Step(record: r, actions: [.save, .finish(.rejected)], note: .rejected(reason: reason))
        case (.claimed, .writerExited(.failed(let reason))):
            r.writerPID = nil
            r.writerStartTime = nil
            return fail(r, reason: reason, retryable: true, stage: .writer, resumeAt: .claimed, nowMs: nowMs, jitter: jitter)
        case (_, .batchesChanged(let reason)):
            // Never written, rejected or deleted as if it were the producer's: kept as it is now.
            r.writerPID = nil
            r.writerStartTime = nil
            return fail(r, reason: reason, retryable: false, stage: .writer, resumeAt: .claimed, nowMs: nowMs, jitter: jitter)

        case (.written, .sealed), (.sealed, .sealed):
            r.state = .sealed
            return Step(record: r, actions: [.pack])
        case (.written, .sealFailed(let reason, let permanent)), (.sealed, .sealFailed(let reason, let permanent)):
            return fail(r, reason: "not sealed: " + reason, retryable: !permanent, stage: .writer, resumeAt: .claimed,
                        nowMs: nowMs, jitter: jitter)
        case (.sealed, .packed):
            r.state = .packed
            return Step(record: r, actions: [.save, .awaitStore])
        case (.sealed, .packFailed(let reason, let retryable)):
            return fail(r, reason: reason, retryable: retryable, stage: .writer, resumeAt: .claimed, nowMs: nowMs, jitter: jitter)

        case (.packed, .storeReady):
            // Recorded before the first request: from here objects of this attempt may exist.
            r.state = .uploading
            return Step(record: r, actions: [.save, .upload])
        case (.uploaded, .storeReady):
            // Objects marked for removal are never verified: they go first.
            return Step(record: r, actions: [r.writeAgain == true ? .deleteObjects : .verify])

        case (.uploading, .uploadedManifest(let matches)):
            // The manifest is the commit marker: without it (or with a stale one) the upload
            // starts over and overwrites what it left.
            r.state = matches ? .uploaded : .packed
            return Step(record: r, actions: [.save, .awaitStore])
        case (.uploading, .uploaded):
            r.state = .uploaded
            r.storeAttempts = nil
            return Step(record: r, actions: [.save, .awaitStore])
        case (.uploading, .manifestConflict(let reason)):
            return fail(r, reason: reason, retryable: false, stage: .store, resumeAt: .packed, nowMs: nowMs, jitter: jitter)
        case (.uploading, .storeFailed(.upload, let failure)), (.uploading, .storeFailed(.readManifest, let failure)):
            return storeFailed(r, failure, resumeAt: .packed, nowMs: nowMs, jitter: jitter)

        case (.uploading, .objectsDeleted(let disk)), (.uploaded, .objectsDeleted(let disk)):
            let target: DeltaState = r.writeAgain == true || !disk.hasOutput ? .claimed : .sealed
            r.state = target
            r.writeAgain = nil
            return Step(record: r, actions: [.save, target == .claimed ? .spawnWriter : .seal])
        case (.uploading, .storeFailed(.deleteObjects, let failure)), (.uploaded, .storeFailed(.deleteObjects, let failure)):
            // Left in its state: the next attempt (or start) removes them first.
            return storeFailed(r, failure, resumeAt: r.state, nowMs: nowMs, jitter: jitter)

        case (.uploaded, .verified(.valid)):
            r.state = .verified
            r.lastError = nil
            r.storeAttempts = nil
            return Step(record: r, actions: [.save, .finish(.shipped)])
        case (.uploaded, .verified(.invalid(let reason))):
            return fail(r, reason: reason, retryable: true, stage: .writer, resumeAt: .claimed, nowMs: nowMs, jitter: jitter)
        case (.uploaded, .verified(.couldNotCheck(let reason, let storeAvailable))):
            // Says nothing about the delta: verify it again.
            let failure = DeltaEvent.StoreFailure(reason: reason, retryable: true, storeAvailable: storeAvailable)
            return fail(r, reason: reason, retryable: true, stage: .store, resumeAt: .uploaded, store: failure, canExhaust: true,
                        nowMs: nowMs, jitter: jitter)

        case (_, .stopped):
            // What is on disk is where it resumes: every change a crash must know is saved when
            // it happens (an unsaved seal or pack is simply done again).
            return Step(record: r, actions: [.finish(.deferred)])
        case (_, .localFailure(let reason, let retryable)):
            return fail(r, reason: reason, retryable: retryable, stage: .writer, resumeAt: .claimed, nowMs: nowMs, jitter: jitter)
        default:
            return fail(r, reason: "internal: event \(event) in state \(record.state.rawValue)", retryable: true, stage: .writer,
                        resumeAt: .claimed, nowMs: nowMs, jitter: jitter)
        }
    }

    /// A run takes the delta up: endings are finished, a retry waits for its time, and an
    /// attempt starts from the furthest stage whose output is still on disk.
    private func resume(_ record: DeltaRecord, _ disk: DeltaEvent.DeltaDisk, nowMs: Int64) -> Step {
        var r = record
        if let notBefore = r.notBeforeMs {
            if disk.stopRequested { return Step(record: r, actions: [.finish(.deferred)], note: .deferredRetry) }
            if notBefore > nowMs { return Step(record: r, actions: [.wait(untilMs: notBefore)]) }
        }
        var actions: [DeltaAction] = []
        if let pid = r.writerPID {
            // A writer started by a run that died: it must not write into the next attempt.
            actions.append(.killLeftoverWriter(pid: pid, startTime: r.writerStartTime))
            r.writerPID = nil
            r.writerStartTime = nil
        }
        r.notBeforeMs = nil
        // Objects to remove are a mark of the states in which objects may exist.
        if !r.state.mayHaveObjects { r.writeAgain = nil }
        if r.batchDigests == nil { r.batchDigests = disk.batchDigests }
        if let problem = disk.batchProblem {
            var step = next(r, .batchesChanged(reason: problem), nowMs: nowMs, jitter: 0)
            step.actions = actions + step.actions
            return step
        }
        let from = r.state
        let next: DeltaAction
        switch r.state {
        case .written, .sealed:
            if disk.hasOutput { next = .seal } else { r.state = .claimed; next = .spawnWriter }
        case .packed:
            if disk.hasPacked { next = .awaitStore }
            else if disk.hasOutput { r.state = .sealed; next = .seal }
            else { r.state = .claimed; next = .spawnWriter }
        case .uploading, .uploaded:
            // Objects may exist. Without the packed delta they cannot be checked or verified,
            // and a writer that runs again must not meet them: they go first, manifest first.
            if r.writeAgain == true || !disk.hasPacked { next = .deleteObjects }
            else if r.state == .uploading { next = .readUploadedManifest }
            else { next = .awaitStore }
        default:
            r.state = .claimed
            next = .spawnWriter
        }
        let note: Note? = from != .claimed || r.state != .claimed ? .attemptStarts(from: from, at: r.state) : nil
        return Step(record: r, actions: actions + (r != record ? [.save] : []) + [next], note: note)
    }

    /// A failed request of the store.
    private func storeFailed(_ record: DeltaRecord, _ failure: DeltaEvent.StoreFailure, resumeAt: DeltaState, nowMs: Int64,
                             jitter: Double) -> Step {
        fail(record, reason: failure.reason, retryable: failure.retryable, stage: .store, resumeAt: resumeAt, store: failure,
             canExhaust: false, nowMs: nowMs, jitter: jitter)
    }

    /// Records a failed attempt: retried after a backoff, waiting for the store, or failed.
    ///
    /// `canExhaust` false: repeating it never uses up the attempts (a store that fails and
    /// recovers never fails a delta; only a permanent error does).
    private func fail(_ record: DeltaRecord, reason: String, retryable: Bool, stage: Stage, resumeAt: DeltaState,
                      store: DeltaEvent.StoreFailure? = nil, canExhaust: Bool = true, nowMs: Int64, jitter: Double) -> Step {
        var r = record
        r.lastError = reason
        if r.state.mayHaveObjects && resumeAt == .claimed {
            // The objects go (manifest first) before the writer runs again; until then the
            // state says they may exist.
            r.writeAgain = true
        } else {
            r.state = resumeAt
        }
        if stage == .store, let store {
            // A refusal another delta already failed for: wait for the store, do not fail behind it.
            let refusedBefore = !store.retryable && !store.firstRefusal
            if refusedBefore || (store.retryable && !store.storeAvailable) {
                r.notBeforeMs = nil
                return Step(record: r, actions: [.save, .resume], note: .waitingForStore(reason: reason))
            }
        }
        let spent = stage == .store ? (r.storeAttempts ?? 0) + 1 : r.attempt
        let exhausted = canExhaust && !retry.allowsAttempt(after: spent)
        guard retryable && !exhausted else {
            r.state = .failed
            r.writeAgain = nil
            guard record.state.mayHaveObjects else {
                return Step(record: r, actions: [.save, .finish(.failed)], note: .failed(reason: reason))
            }
            // No reader may take a failed attempt for a delta: its objects go first, manifest
            // first, once; the failure is decided and saved before.
            r.objectsMayRemain = true
            return Step(record: r, actions: [.save, .deleteObjects], note: .failed(reason: reason))
        }
        let delay = retry.delay(afterAttempt: min(spent, 30), jitter: jitter)
        if stage == .store { r.storeAttempts = spent } else { r.attempt += 1 }
        r.notBeforeMs = nowMs + Int64(delay * 1000)
        return Step(record: r, actions: [.save, .resume],
                    note: .retrying(reason: reason, delaySeconds: delay, resumeAt: r.writeAgain == true ? .claimed : r.state))
    }
}
