import DeltaSealCore
import Testing

/// The life of a delta, decided by a pure function: every state against every event, then whole
/// lives in a model world with faults and a crash at every action boundary, each resumed from
/// the record that was saved last.
@Suite struct DeltaStateMachineTests {
    static let machine = DeltaStateMachine(retry: RetryPolicy(maxAttempts: 3, baseDelay: 1, maxDelay: 8))
    static let id = DeltaID(unixMilliseconds: 1_795_615_509_123, random: 0x3fa9c01b7e)
    static let digest = BatchDigest(name: "b.ndjson", bytes: 10, sha256: "ab")

    static func record(_ state: DeltaState) -> DeltaRecord {
        var record = DeltaRecord(id: id, batches: ["b.ndjson"], claimedAtMs: 1000)
        record.state = state
        record.batchDigests = [digest]
        return record
    }

    static let disks: [DeltaEvent.DeltaDisk] = [false, true].flatMap { output in
        [false, true].flatMap { packed in
            [false, true].map { stop in DeltaEvent.DeltaDisk(hasOutput: output, hasPacked: packed, stopRequested: stop) }
        }
    } + [DeltaEvent.DeltaDisk(hasOutput: true, hasPacked: true, batchProblem: "batch b.ndjson changed after it was claimed")]

    static let failures: [DeltaEvent.StoreFailure] = [
        .init(reason: "503", retryable: true), .init(reason: "down", retryable: true, storeAvailable: false),
        .init(reason: "denied", retryable: false, firstRefusal: true), .init(reason: "denied", retryable: false, firstRefusal: false),
    ]

    /// One of every event, with the payloads that lead different ways.
    static let events: [DeltaEvent] = disks.map { .resumed($0) } + [
        .writerStarted(pid: 42, startTime: 7), .writerExited(.complete(durationMs: 5)), .writerExited(.badInput(reason: "line 3")),
        .writerExited(.failed(reason: "exit 1")), .batchesChanged(reason: "changed"), .sealed,
        .sealFailed(reason: "held by pid 9", permanent: false), .sealFailed(reason: "symlink", permanent: true), .packed,
        .packFailed(reason: "too big", retryable: false), .packFailed(reason: "ENOSPC", retryable: true), .storeReady,
        .uploadedManifest(matches: true), .uploadedManifest(matches: false), .uploaded, .manifestConflict(reason: "exists"),
        .objectsDeleted(.init(hasOutput: true, hasPacked: true)), .objectsDeleted(.init(hasOutput: false, hasPacked: false)),
        .verified(.valid), .verified(.invalid(reason: "bad page")), .verified(.couldNotCheck(reason: "timeout", storeAvailable: true)),
        .verified(.couldNotCheck(reason: "timeout", storeAvailable: false)), .localFailure(reason: "EIO", retryable: true),
        .localFailure(reason: "EACCES", retryable: false), .stopped,
    ] + DeltaEvent.StoreStage.allCases.flatMap { stage in failures.map { .storeFailed(stage, $0) } }

    /// Records in every state, fresh and with the marks a life leaves (a retry's time, a writer
    /// pid, objects to remove, spent attempts).
    static var records: [DeltaRecord] {
        DeltaState.allCases.flatMap { state -> [DeltaRecord] in
            var waiting = record(state)
            waiting.notBeforeMs = 50_000
            var retryDue = record(state)
            retryDue.notBeforeMs = 500
            retryDue.attempt = 2
            var writing = record(state)
            writing.writerPID = 42
            var again = record(state)
            again.writeAgain = true
            var spent = record(state)
            spent.attempt = 3
            spent.storeAttempts = 2
            return [record(state), waiting, retryDue, writing, again, spent]
        }
    }

    // MARK: - Every state × every event

    @Test func everyStateAndEventLeadsToAWellFormedStep() {
        var pairs = 0
        for record in Self.records {
            for event in Self.events {
                let step = Self.machine.next(record, event, nowMs: 1000, jitter: 0.5)
                Self.checkShape(step, from: record, after: event)
                pairs += 1
            }
        }
        #expect(pairs == DeltaState.allCases.count * 6 * Self.events.count)
    }

    /// What holds for any step, whatever came before.
    static func checkShape(_ step: DeltaStateMachine.Step, from record: DeltaRecord, after event: DeltaEvent,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        let context = "\(record.state) + \(event) -> \(step.record.state) \(step.actions)"
        let actions = step.actions
        #expect(!actions.isEmpty, "\(context)", sourceLocation: sourceLocation)
        if case .writerStarted = event, record.state == .claimed {
            // Told while the writer runs: recorded, and the wait for its exit goes on.
            #expect(actions == [.save] && step.record.writerPID == 42, "\(context)", sourceLocation: sourceLocation)
            return
        }
        let producing = actions.filter(\.producesEvent)
        #expect(producing.count <= 1, "\(context)", sourceLocation: sourceLocation)
        // The last action produces the next event or ends the run; nothing comes after a finish.
        #expect(actions.last.map { $0.producesEvent || $0.isFinish } == true, "\(context)", sourceLocation: sourceLocation)
        #expect(actions.dropLast().allSatisfy { !$0.producesEvent && !$0.isFinish }, "\(context)", sourceLocation: sourceLocation)
        // Anything changed is saved before an action a crash must know about; only the local,
        // repeatable seal and pack may follow an unsaved change.
        if step.record != record, let last = actions.last, last != .seal, last != .pack {
            #expect(actions.dropLast().contains(.save), "changed but not saved first: \(context)", sourceLocation: sourceLocation)
        }
        // Nothing unchanged is saved again (each save is an fsync).
        if step.record == record { #expect(!actions.contains(.save), "saved unchanged: \(context)", sourceLocation: sourceLocation) }
        let state = step.record.state
        for action in actions {
            switch action {
            case .spawnWriter:
                // The writer runs only for a fresh write, never while objects of an attempt may exist.
                #expect(state == .claimed && step.record.writeAgain != true, "\(context)", sourceLocation: sourceLocation)
            case .upload:
                #expect(state == .uploading, "\(context)", sourceLocation: sourceLocation)
            case .verify:
                #expect(state == .uploaded && step.record.writeAgain != true, "\(context)", sourceLocation: sourceLocation)
            case .readUploadedManifest:
                #expect(state == .uploading, "\(context)", sourceLocation: sourceLocation)
            case .deleteObjects:
                #expect(state.mayHaveObjects || (state == .failed && step.record.objectsMayRemain == true), "\(context)",
                        sourceLocation: sourceLocation)
            case .seal:
                #expect(state == .written || state == .sealed, "\(context)", sourceLocation: sourceLocation)
            case .pack:
                #expect(state == .sealed, "\(context)", sourceLocation: sourceLocation)
                #expect(step.record.state == .sealed && (record.state == .written || record.state == .sealed),
                        "\(context)", sourceLocation: sourceLocation)
            case .finish(.shipped):
                #expect(state == .verified, "\(context)", sourceLocation: sourceLocation)
            case .finish(.rejected):
                #expect(state == .rejected, "\(context)", sourceLocation: sourceLocation)
            case .finish(.failed):
                #expect(state == .failed, "\(context)", sourceLocation: sourceLocation)
            case .finish(.deferred):
                #expect(!state.isTerminal, "\(context)", sourceLocation: sourceLocation)
            case .save, .killLeftoverWriter, .wait, .resume, .awaitStore:
                break
            }
        }
        // Only a valid verdict makes a delta verified.
        if state == .verified && record.state != .verified {
            #expect(record.state == .uploaded && event == .verified(.valid), "\(context)", sourceLocation: sourceLocation)
        }
        #expect(step.record.attempt >= record.attempt, "\(context)", sourceLocation: sourceLocation)
        #expect(step.record.attempt <= max(record.attempt, Self.machine.retry.maxAttempts), "\(context)", sourceLocation: sourceLocation)
        // A decided delta stays decided.
        if record.state.isTerminal { #expect(state == record.state, "\(context)", sourceLocation: sourceLocation) }
        // A delta that fails with objects in the store tries to remove them before it finishes.
        if state == .failed && record.state.mayHaveObjects {
            #expect(Array(actions.suffix(2)) == [.save, .deleteObjects] && step.record.objectsMayRemain == true, "\(context)", sourceLocation: sourceLocation)
        }
    }

    // MARK: - Policies, one by one

    @Test func writerFailuresSpendAttemptsWithBackoffThenFail() {
        var record = Self.record(.claimed)
        var delays: [Double] = []
        for _ in 1..<3 {
            let step = Self.machine.next(record, .writerExited(.failed(reason: "exit 1")), nowMs: 10_000, jitter: 0)
            guard case .retrying(_, let delay, .claimed)? = step.note else { Issue.record("\(step)"); return }
            delays.append(delay)
            #expect(step.actions == [.save, .resume])
            #expect(step.record.notBeforeMs == 10_000 + Int64(delay * 1000))
            record = step.record
        }
        #expect(delays == [0.5, 1.0])
        #expect(record.attempt == 3)
        let last = Self.machine.next(record, .writerExited(.failed(reason: "exit 1")), nowMs: 10_000, jitter: 0)
        #expect(last.record.state == .failed)
        #expect(last.actions == [.save, .finish(.failed)])
        #expect(last.record.lastError == "exit 1")
    }

    @Test func aRetryWaitsForItsTimeAndAStopDefersItWithoutSpendingAnything() {
        var record = Self.record(.claimed)
        record.notBeforeMs = 5000
        let waiting = Self.machine.next(record, .resumed(.init(hasOutput: false, hasPacked: false)), nowMs: 1000, jitter: 0)
        #expect(waiting.actions == [.wait(untilMs: 5000)])
        #expect(waiting.record == record)
        let stopped = Self.machine.next(record, .resumed(.init(hasOutput: false, hasPacked: false, stopRequested: true)), nowMs: 6000, jitter: 0)
        #expect(stopped.actions == [.finish(.deferred)])
        #expect(stopped.record == record)
        let due = Self.machine.next(record, .resumed(.init(hasOutput: false, hasPacked: false)), nowMs: 6000, jitter: 0)
        #expect(due.actions == [.save, .spawnWriter])
        #expect(due.record.notBeforeMs == nil)
    }

    @Test func storeRequestsThatFailNeverExhaustTheAttempts() {
        var record = Self.record(.uploading)
        for n in 1...50 {
            let step = Self.machine.next(record, .storeFailed(.upload, .init(reason: "503", retryable: true)), nowMs: 0, jitter: 1)
            #expect(step.record.state == .packed)
            #expect(step.record.storeAttempts == n)
            #expect(step.record.attempt == 1, "the writer stage is not charged")
            record = step.record
            record.state = .uploading
        }
        // The backoff is capped.
        let step = Self.machine.next(record, .storeFailed(.upload, .init(reason: "503", retryable: true)), nowMs: 0, jitter: 1)
        #expect(step.record.notBeforeMs == 8000)
    }

    @Test func anOutageWaitsForTheStoreAndSpendsNothing() {
        let record = Self.record(.uploading)
        let step = Self.machine.next(record, .storeFailed(.upload, .init(reason: "refused", retryable: true, storeAvailable: false)),
                                     nowMs: 0, jitter: 0)
        #expect(step.note == .waitingForStore(reason: "refused"))
        #expect(step.record.state == .packed)
        #expect(step.record.storeAttempts == nil && step.record.attempt == 1 && step.record.notBeforeMs == nil)
        #expect(step.actions == [.save, .resume])
        // Resumed, it waits for the store before it uploads again.
        let resumed = Self.machine.next(step.record, .resumed(.init(hasOutput: true, hasPacked: true)), nowMs: 0, jitter: 0)
        #expect(resumed.actions == [.awaitStore])
    }

    @Test func theFirstRefusalFailsItsDeltaAndTheOthersWaitForTheStore() {
        let record = Self.record(.uploading)
        let first = Self.machine.next(record, .storeFailed(.upload, .init(reason: "AccessDenied", retryable: false, firstRefusal: true)),
                                      nowMs: 0, jitter: 0)
        #expect(first.record.state == .failed)
        // Its objects may be in the store: their removal is tried before it finishes.
        #expect(first.actions == [.save, .deleteObjects])
        let other = Self.machine.next(record, .storeFailed(.upload, .init(reason: "AccessDenied", retryable: false, firstRefusal: false)),
                                      nowMs: 0, jitter: 0)
        #expect(other.note == .waitingForStore(reason: "AccessDenied"))
        #expect(other.record.state == .packed)
    }

    @Test func aVerificationThatCouldNotCheckIsRepeatedAndCountedAsAStoreAttempt() {
        var record = Self.record(.uploaded)
        for n in 1...2 {
            let step = Self.machine.next(record, .verified(.couldNotCheck(reason: "timeout", storeAvailable: true)), nowMs: 0, jitter: 0)
            #expect(step.record.state == .uploaded)
            #expect(step.record.storeAttempts == n)
            record = step.record
        }
        let last = Self.machine.next(record, .verified(.couldNotCheck(reason: "timeout", storeAvailable: true)), nowMs: 0, jitter: 0)
        #expect(last.record.state == .failed, "verification that never checks ends, unlike a store that recovers")
    }

    @Test func anInvalidVerdictRemovesTheObjectsBeforeTheWriterRunsAgainEvenAcrossACrash() {
        let record = Self.record(.uploaded)
        let failed = Self.machine.next(record, .verified(.invalid(reason: "bad page")), nowMs: 0, jitter: 0)
        #expect(failed.record.state == .uploaded, "objects may exist until they are removed")
        #expect(failed.record.writeAgain == true)
        #expect(failed.record.attempt == 2)
        // A crash here: the saved record is resumed, the packed delta still on disk.
        var saved = failed.record
        saved.notBeforeMs = nil
        let resumed = Self.machine.next(saved, .resumed(.init(hasOutput: true, hasPacked: true)), nowMs: 0, jitter: 0)
        #expect(resumed.actions == [.deleteObjects])
        let deleteFailed = Self.machine.next(resumed.record, .storeFailed(.deleteObjects, .init(reason: "503", retryable: true)),
                                             nowMs: 0, jitter: 0)
        #expect(deleteFailed.record.state == .uploaded && deleteFailed.record.writeAgain == true)
        let deleted = Self.machine.next(resumed.record, .objectsDeleted(.init(hasOutput: true, hasPacked: true)), nowMs: 0, jitter: 0)
        #expect(deleted.record.state == .claimed)
        #expect(deleted.record.writeAgain == nil)
        #expect(deleted.actions == [.save, .spawnWriter])
    }

    @Test func aDeltaThatFailsWithObjectsInTheStoreRemovesThemFirst() {
        var record = Self.record(.uploaded)
        record.attempt = 3
        let failing = Self.machine.next(record, .verified(.invalid(reason: "bad page")), nowMs: 0, jitter: 0)
        #expect(failing.record.state == .failed)
        #expect(failing.record.objectsMayRemain == true)
        #expect(failing.actions == [.save, .deleteObjects])
        let removed = Self.machine.next(failing.record, .objectsDeleted(.init(hasOutput: true, hasPacked: true)), nowMs: 0, jitter: 0)
        #expect(removed.record.objectsMayRemain == nil)
        #expect(removed.actions == [.save, .finish(.failed)])
        // A removal that fails leaves the mark for the report (and gc); the delta still fails.
        let refused = Self.machine.next(failing.record, .storeFailed(.deleteObjects, .init(reason: "403", retryable: false)),
                                        nowMs: 0, jitter: 0)
        #expect(refused.record.objectsMayRemain == true)
        #expect(refused.actions == [.finish(.failed)])
    }

    @Test(arguments: [
        // (state, output, packed) -> first action, state it starts at
        (DeltaState.claimed, false, false, DeltaAction.spawnWriter, DeltaState.claimed),
        (.written, true, false, .seal, .written), (.written, false, false, .spawnWriter, .claimed),
        (.sealed, true, false, .seal, .sealed), (.sealed, false, false, .spawnWriter, .claimed),
        (.packed, true, true, .awaitStore, .packed), (.packed, true, false, .seal, .sealed), (.packed, false, false, .spawnWriter, .claimed),
        (.uploading, true, true, .readUploadedManifest, .uploading), (.uploading, true, false, .deleteObjects, .uploading),
        (.uploaded, true, true, .awaitStore, .uploaded), (.uploaded, false, false, .deleteObjects, .uploaded),
    ])
    func aStartResumesFromTheFurthestStageStillOnDisk(_ state: DeltaState, _ output: Bool, _ packed: Bool, _ first: DeltaAction,
                                                      _ at: DeltaState) {
        let step = Self.machine.next(Self.record(state), .resumed(.init(hasOutput: output, hasPacked: packed)), nowMs: 0, jitter: 0)
        // Saved only when where it starts differs from the record.
        #expect(step.actions == (at == state ? [first] : [.save, first]))
        #expect(step.record.state == at)
    }

    @Test func aDecidedDeltaIsOnlyFinishedAgain() {
        for (state, ending) in [(DeltaState.verified, DeltaEnding.shipped), (.rejected, .rejected), (.failed, .failed)] {
            for event in Self.events {
                let step = Self.machine.next(Self.record(state), event, nowMs: 0, jitter: 0)
                #expect(step.actions == [.finish(ending)], "\(state) \(event)")
            }
        }
    }

    @Test func aWriterLeftByADeadRunIsKilledBeforeTheNextAttempt() {
        var record = Self.record(.claimed)
        record.writerPID = 42
        record.writerStartTime = 7
        let step = Self.machine.next(record, .resumed(.init(hasOutput: true, hasPacked: false)), nowMs: 0, jitter: 0)
        #expect(step.actions == [.killLeftoverWriter(pid: 42, startTime: 7), .save, .spawnWriter])
        #expect(step.record.writerPID == nil)
    }

    @Test func aChangedBatchFailsTheDeltaAtOnceAndIsNeverRejected() {
        for state in [DeltaState.claimed, .sealed, .uploaded] {
            let step = Self.machine.next(Self.record(state), .resumed(.init(hasOutput: true, hasPacked: true, batchProblem: "changed")),
                                         nowMs: 0, jitter: 0)
            #expect(step.record.state == .failed)
            #expect(step.actions == [.save, state.mayHaveObjects ? .deleteObjects : .finish(.failed)])
        }
    }

    // MARK: - Whole lives, with faults and crashes

    /// A seeded life with faults and crashes is reproducible: its seed is printed on failure.
    @Test func livesWithFaultsAndACrashAtEveryBoundaryKeepEveryPromise() {
        var lives = 0
        var endings: [DeltaEnding: Int] = [:]
        var crashes = 0
        for seed in UInt64(1)...400 {
            var world = World(seed: seed)
            let ending = world.live()
            lives += 1
            endings[ending, default: 0] += 1
            crashes += world.crashes
            if !world.violations.isEmpty {
                Issue.record("seed \(seed): \(world.violations.joined(separator: "; "))\n\(world.trace.joined(separator: "\n"))")
                return
            }
        }
        #expect(lives == 400)
        // The faults lead every way.
        #expect((endings[.shipped] ?? 0) > 100 && (endings[.failed] ?? 0) > 0 && (endings[.rejected] ?? 0) > 0, "\(endings)")
        #expect(crashes > 400)
    }

    /// Each save is an fsync of the state file and of its directory: a good life makes five
    /// (writer started, packed, uploading, uploaded, verified), not one per state.
    @Test func aGoodLifeSavesOnlyAtTheBoundariesACrashMustKnow() {
        var world = World(seed: 0, faults: false)
        #expect(world.live() == .shipped)
        #expect(world.violations.isEmpty, "\(world.violations)")
        #expect(world.saves == 5, "\(world.trace)")
    }

    /// A crash exactly at boundary `k` of a faultless life, for every `k`: resumed from the saved
    /// record, it always ships, and once only.
    @Test func aCrashAtEachBoundaryOfAGoodLifeStillShipsOnce() {
        var boundaries = 0
        for k in 0..<40 {
            var world = World(seed: 0, faults: false, crashAt: [k])
            let ending = world.live()
            #expect(ending == .shipped, "crash at \(k): \(world.trace)")
            #expect(world.violations.isEmpty, "crash at \(k): \(world.violations)")
            #expect(world.store.uploadsOfManifest == 1, "the manifest went up once: \(world.trace)")
            if world.crashes > 0 { boundaries += 1 }
        }
        #expect(boundaries >= 12, "a good life has this many boundaries to crash at")
    }
}

extension DeltaAction {
    var producesEvent: Bool {
        switch self {
        case .save, .killLeftoverWriter, .finish: false
        default: true
        }
    }
    var isFinish: Bool { if case .finish = self { true } else { false } }
}

/// A model of the spool and the store in which the machine lives: actions change it, faults
/// come from a seeded generator, and a crash throws away memory and resumes from the last save.
struct World {
    struct Store {
        /// The version of the writer's output each object came from.
        var objects: [Int] = []
        var manifest: Int?
        var uploadsOfManifest = 0
    }

    var random: SplitMix64
    let faults: Bool
    let crashAt: Set<Int>
    var now: Int64 = 0
    var saved: DeltaRecord
    var record: DeltaRecord
    var store = Store()
    /// The spool: the writer's output and the packed delta, by version.
    var output: Int?
    var packed: Int?
    var sealedInMemory = false
    var version = 0
    var boundary = 0
    var crashes = 0
    var validVerdicts: [Int] = []
    var lastDeleteFailed = false
    var saves = 0
    var violations: [String] = []
    var trace: [String] = []

    init(seed: UInt64, faults: Bool = true, crashAt: Set<Int> = []) {
        random = SplitMix64(seed: seed)
        self.faults = faults
        self.crashAt = crashAt
        saved = DeltaStateMachineTests.record(.claimed)
        record = saved
    }

    mutating func chance(_ p: Double) -> Bool { faults && random.nextUnit() < p }

    func disk() -> DeltaEvent.DeltaDisk { .init(hasOutput: output != nil, hasPacked: packed != nil) }

    mutating func violate(_ what: String) { violations.append(what) }

    /// Runs the delta to an ending; crashes resume it from the saved record.
    mutating func live() -> DeltaEnding {
        var event = DeltaEvent.resumed(disk())
        for _ in 0..<2000 {
            let step = DeltaStateMachineTests.machine.next(record, event, nowMs: now, jitter: random.nextUnit())
            DeltaStateMachineTests.checkShape(step, from: record, after: event)
            trace.append("\(record.state.rawValue) + \(event) -> \(step.record.state.rawValue) \(step.actions)")
            record = step.record
            var next: DeltaEvent?
            for action in step.actions {
                boundary += 1
                if crashAt.contains(boundary) || chance(0.08) {
                    // Memory is gone: what the spool and the store hold stays, the record is the saved one.
                    crashes += 1
                    record = saved
                    sealedInMemory = false
                    trace.append("crash")
                    next = .resumed(disk())
                    break
                }
                if case .finish(let ending) = action { return finish(ending) }
                next = perform(action)
                if next != nil { break }
            }
            guard let next else { violate("no event after \(step.actions)"); return .deferred }
            event = next
        }
        violate("no ending after 2000 steps")
        return .deferred
    }

    mutating func finish(_ ending: DeltaEnding) -> DeltaEnding {
        switch ending {
        case .shipped:
            // Nothing is deleted locally before a valid verdict on what the store holds.
            if validVerdicts.isEmpty { violate("shipped without a valid verdict") }
            if store.manifest == nil || store.manifest != validVerdicts.last { violate("shipped what the store does not hold") }
            if Set(validVerdicts).count > 1 { violate("two versions verified valid: \(validVerdicts)") }
        case .rejected, .failed:
            if !validVerdicts.isEmpty { violate("\(ending) after a valid verdict") }
            // A failed delta leaves no manifest behind, unless removing it failed (then gc does).
            if ending == .failed && store.manifest != nil && !lastDeleteFailed && saved.objectsMayRemain != true {
                violate("failed with its manifest left in the store")
            }
        case .deferred:
            violate("deferred with no stop and the store available")
        }
        return ending
    }

    mutating func perform(_ action: DeltaAction) -> DeltaEvent? {
        switch action {
        case .save:
            saved = record
            saves += 1
            return nil
        case .killLeftoverWriter:
            return nil
        case .wait(let until):
            now = max(now, until)
            return .resumed(disk())
        case .resume:
            sealedInMemory = false
            return .resumed(disk())
        case .spawnWriter:
            if !store.objects.isEmpty || store.manifest != nil {
                violate("the writer ran while objects of an earlier attempt exist")
            }
            if !validVerdicts.isEmpty { violate("written again after a valid verdict") }
            packed = nil
            output = nil
            // The pipeline feeds `writerStarted` while the writer runs: its pid is saved.
            let started = DeltaStateMachineTests.machine.next(record, .writerStarted(pid: 42, startTime: 7), nowMs: now, jitter: 0)
            if started.actions != [.save] { violate("writerStarted led to \(started.actions)") }
            record = started.record
            saved = record
            saves += 1
            if chance(0.02) { return .writerExited(.badInput(reason: "line 1")) }
            if chance(0.15) { return .writerExited(.failed(reason: "exit 1")) }
            version += 1
            output = version
            return .writerExited(.complete(durationMs: 1))
        case .seal:
            guard output != nil else { violate("sealed without output"); return .sealFailed(reason: "no output", permanent: false) }
            if chance(0.1) { return .sealFailed(reason: "held", permanent: false) }
            sealedInMemory = true
            return .sealed
        case .pack:
            guard let output, sealedInMemory else { violate("packed without a seal in this run"); return .packFailed(reason: "x", retryable: true) }
            packed = output
            return .packed
        case .awaitStore:
            return .storeReady
        case .readUploadedManifest:
            if chance(0.1) { return .storeFailed(.readManifest, .init(reason: "503", retryable: true)) }
            return .uploadedManifest(matches: store.manifest != nil && store.manifest == packed)
        case .upload:
            guard let packed else { violate("upload without a packed delta"); return .localFailure(reason: "x", retryable: true) }
            if chance(0.15) {
                // Part of it went up.
                store.objects.append(packed)
                return .storeFailed(.upload, .init(reason: "503", retryable: true, storeAvailable: !chance(0.3)))
            }
            store.objects = [packed]
            if let existing = store.manifest {
                if existing != packed { return .manifestConflict(reason: "another manifest") }
                return .uploaded
            }
            store.manifest = packed
            store.uploadsOfManifest += 1
            if chance(0.1) { return .storeFailed(.upload, .init(reason: "answer lost", retryable: true)) }
            return .uploaded
        case .deleteObjects:
            lastDeleteFailed = chance(0.1)
            if lastDeleteFailed { return .storeFailed(.deleteObjects, .init(reason: "503", retryable: true)) }
            // Manifest first: a reader never takes the rest for a delta.
            store.manifest = nil
            store.objects = []
            return .objectsDeleted(disk())
        case .verify:
            guard let manifest = store.manifest, manifest == packed else {
                violate("verified without the manifest of the packed delta in the store")
                return .verified(.couldNotCheck(reason: "no manifest", storeAvailable: true))
            }
            if chance(0.1) { return .verified(.couldNotCheck(reason: "timeout", storeAvailable: true)) }
            // The same bytes always get the same verdict.
            if !validVerdicts.contains(manifest) && chance(0.1) { return .verified(.invalid(reason: "bad page")) }
            validVerdicts.append(manifest)
            return .verified(.valid)
        case .finish:
            return nil
        }
    }
}
