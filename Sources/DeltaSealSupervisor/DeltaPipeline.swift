import DeltaSealCore
import DeltaSealPack
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Moves one delta from its claimed batch to a verified delta in the store, recording each state
/// durably before the step that depends on it, retrying failed attempts with backoff.
struct DeltaPipeline: Sendable {
    let config: SupervisorConfig
    let spool: Spool
    let store: any ObjectStore
    let logger: Logger
    let writers: AsyncSemaphore
    let writerGate: WriterGate
    let uploads: AsyncSemaphore
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

    /// Runs the delta to an outcome, resuming from whatever state its record holds.
    func run(_ initial: DeltaRecord) async -> DeltaOutcome {
        var record = initial
        var log = logger
        log[metadataKey: "delta"] = "\(record.id)"
        var cleanupFailures = 0
        while true {
            do {
                switch record.state {
                case .verified: return try finishShipped(record, log)
                case .rejected: return try finishRejected(record, log)
                case .failed: return try finishFailed(record, log)
                default: break
                }
                if let notBefore = record.notBeforeMs {
                    let wait = notBefore - WallClock.nowMilliseconds()
                    if wait > 0 { try? await stop.sleep(for: .milliseconds(wait)) }
                }
                if stop.isRequested && record.notBeforeMs != nil {
                    log.info("stop requested: the retry waits for the next start", metadata: ["attempt": "\(record.attempt)"])
                    return .deferred
                }
                return try await attempt(&record, log)
            } catch where record.state.isTerminal {
                // The delta is decided (shipped, rejected or failed); only moving its files failed.
                // Never retry the delta itself: that could ship it twice. Retry the move, backing
                // off; an error no retry can mend leaves it decided in work/ for the next start.
                cleanupFailures += 1
                let retryable = (error as? SystemError)?.isRetryable ?? false
                if !retryable && cleanupFailures >= 3 {
                    log.critical("cannot finish the delta's local cleanup; it stays decided in work/ for the next start",
                                 metadata: ["error": "\(error)", "state": "\(record.state.rawValue)"])
                    return .deferred
                }
                log.error("cannot finish the delta's local cleanup; retrying", metadata: ["error": "\(error)"])
                try? await stop.sleep(for: .seconds(min(60, 1 << min(cleanupFailures - 1, 6))))
                if stop.isRequested { return .deferred }
            } catch is Deferred {
                // No attempt spent: the record says where to go on at the next start.
                do { try spool.save(record) } catch { log.error("cannot save state", metadata: ["error": "\(error)"]) }
                log.info("stopped before the delta finished; it resumes at the next start", metadata: ["state": "\(record.state.rawValue)"])
                return .deferred
            } catch let failure as AttemptFailure {
                if let outcome = handle(failure, &record, log) { return outcome }
            } catch {
                // Local failures (disk full, permissions) are retried like any other attempt.
                let retryable = (error as? SystemError)?.isRetryable ?? true
                if let outcome = handle(AttemptFailure(reason: "\(error)", retryable: retryable), &record, log) { return outcome }
            }
        }
    }

    /// Records a failed attempt; returns an outcome when the delta is done (failed), nil to retry.
    ///
    /// Writer-stage failures (write, seal, pack, a verdict of "invalid") spend one of
    /// `retry.max_attempts` and start again from the batch. Store-stage failures (upload, a
    /// verification that could not check) start again from what is already packed or uploaded,
    /// spend a store attempt only while the store is available, and none at all during an outage.
    private func handle(_ failure: AttemptFailure, _ record: inout DeltaRecord, _ log: Logger) -> DeltaOutcome? {
        record.lastError = failure.reason
        let firstRefusal = failure.storeError.map { storeHealth.failed($0) } ?? false
        // Objects go (manifest first) only when the delta will be written again: an upload that
        // starts over overwrites its own objects, and its manifest is checked before it is sent.
        if record.state.mayHaveObjects && failure.resumeAt == .claimed {
            do {
                try removeObjects(of: record)
                record.state = failure.resumeAt
            } catch {
                // Left in its state: the next attempt (or restart) removes them first.
                log.warning("cannot remove the objects of the failed attempt", metadata: ["error": "\(error)"])
            }
        } else {
            record.state = failure.resumeAt
        }
        let retry = live.retry
        // A refusal another delta already failed for: wait for the store, do not fail behind it.
        let refusedBefore = failure.storeError.map { !$0.isRetryable } == true && !firstRefusal
        if failure.isStoreStage && (refusedBefore || (failure.retryable && !storeHealth.isAvailable)) {
            log.warning("store unavailable: the delta waits for it, no attempt spent", metadata: ["error": "\(failure.reason)"])
            record.notBeforeMs = nil
            do { try spool.save(record) } catch { log.error("cannot save state", metadata: ["error": "\(error)"]) }
            return nil
        }
        let spent = failure.isStoreStage ? (record.storeAttempts ?? 0) + 1 : record.attempt
        // A store that fails and recovers never fails a delta: only permanent errors do.
        let exhausted = failure.canExhaust && !retry.allowsAttempt(after: spent)
        if failure.retryable && !exhausted {
            let delay = retry.delay(afterAttempt: min(spent, 30), jitter: Double.random(in: 0..<1))
            log.warning("attempt failed, retrying", metadata: [
                "attempt": "\(record.attempt)", "store_attempts": "\(record.storeAttempts ?? 0)", "resume_at": "\(failure.resumeAt.rawValue)",
                "retry_in_s": "\(String(format: "%.2f", delay))", "error": "\(failure.reason)",
            ])
            SupervisorMetrics.retry()
            if failure.isStoreStage { record.storeAttempts = spent } else { record.attempt += 1 }
            record.notBeforeMs = WallClock.nowMilliseconds() + Int64(delay * 1000)
            do { try spool.save(record) } catch { log.error("cannot save state", metadata: ["error": "\(error)"]) }
            return nil
        }
        log.error("delta failed", metadata: ["attempt": "\(record.attempt)", "error": "\(failure.reason)"])
        record.state = .failed
        do {
            try spool.save(record)
            return try finishFailed(record, log)
        } catch {
            log.critical("cannot move the delta to failed/; it stays in work/", metadata: ["error": "\(error)"])
            return .failed(reason: failure.reason)
        }
    }

    // MARK: - One attempt

    /// One attempt, from the furthest stage whose output is still on disk: write, seal and pack,
    /// upload, verify.
    private func attempt(_ record: inout DeltaRecord, _ log: Logger) async throws -> DeltaOutcome {
        if let pid = record.writerPID {
            // A writer started by a supervisor that died; it must not write into the next attempt.
            if ProcessIdentity.killLeftoverGroup(pid: pid, startTime: record.writerStartTime) {
                log.warning("killed a writer left by an earlier run", metadata: ["pgid": "\(pid)"])
            }
            record.writerPID = nil
            record.writerStartTime = nil
        }
        record.notBeforeMs = nil
        if record.batchDigests == nil {
            // Claimed by a supervisor that died before recording them: no writer has run yet.
            record.batchDigests = try spool.digests(of: record)
        }
        try checkBatches(record)
        let resumed = try resumePoint(record)
        if resumed != record.state || record.state != .claimed {
            log.info("attempt starts", metadata: ["from": "\(record.state.rawValue)", "at": "\(resumed.rawValue)"])
        }
        record.state = resumed
        try spool.save(record)

        var writer: ChildProcess?
        var writerGroup: String?
        if record.state == .claimed {
            guard let written = try await write(&record, log) else { return try reject(&record, log) }
            (writer, writerGroup) = written
        }
        var manifest: Manifest?
        if record.state == .written || record.state == .sealed {
            manifest = try await sealAndPack(&record, writer: writer, group: writerGroup, log)
        }
        if record.state == .uploading {
            // A crash or a failure during the upload: the manifest is the commit marker; without
            // it the upload starts over and overwrites what it left.
            record.state = try uploadedManifestMatchesLocal(record) ? .uploaded : .packed
            try spool.save(record)
        }
        if record.state == .packed {
            try await uploadStage(&record, manifest: manifest ?? localManifest(record), log)
        }
        guard record.state == .uploaded else {
            throw AttemptFailure(reason: "internal: attempt ended in state \(record.state.rawValue)", retryable: true)
        }
        guard await storeIsAvailable() else { throw Deferred() }
        let verifyStarted = WallClock.monotonicNanoseconds()
        try await verifications.withPermit { [record] in try await verify(record, log) }
        storeHealth.succeeded()
        SupervisorMetrics.stage("verify", nanoseconds: WallClock.monotonicNanoseconds() - verifyStarted)
        if let manifest = try? localManifest(record) {
            SupervisorMetrics.bytes("raw", manifest.rawBytes)
            SupervisorMetrics.bytes("compressed", manifest.compressedBytes)
        }
        return try markShipped(&record, log)
    }

    /// The furthest state whose output is still on disk, for `record.state`.
    private func resumePoint(_ record: DeltaRecord) throws -> DeltaState {
        let directory = spool.directory(of: record.id)
        let hasOutput = Files.isDirectory(directory + "/out")
        let hasPacked = Files.exists(directory + "/packed/" + ObjectLayout.manifestKey)
        switch record.state {
        case .written, .sealed: return hasOutput ? record.state : .claimed
        case .packed: return hasPacked ? .packed : hasOutput ? .sealed : .claimed
        case .uploading, .uploaded:
            if hasPacked { return record.state }
            try removeObjects(of: record)
            return hasOutput ? .sealed : .claimed
        default: return .claimed
        }
    }

    /// Runs the writer into a fresh `out/`; returns its process (its group may still have members)
    /// and its cgroup, or nil when it said the input is bad.
    private func write(_ record: inout DeltaRecord, _ log: Logger) async throws -> (ChildProcess, String?)? {
        let directory = spool.directory(of: record.id)
        for stale in ["out", "packed", "tmp", "writer.log", "verify.log", "verify.err"] {
            try Files.removeTree(directory + "/" + stale)
        }
        let out = directory + "/out"
        try Files.makeDirectories(out, mode: 0o700)
        try Files.makeDirectories(directory + "/tmp", mode: 0o700)
        // The writer owns what it writes and nothing else: its output and private tmp.
        try sandbox.handOver([out, directory + "/tmp"])

        let current = record
        let group = sandbox.makeGroup("writer-\(record.id.rawValue)-\(record.attempt)")
        // Whatever goes wrong before the writer's output is handed on, its cgroup goes with it.
        var handedOn = false
        defer { if !handedOn, let group { CgroupDelegation.killAndRemove(group) } }
        let written = try await writers.withPermit { [writerGate] in
            await writerGate.waitUntilOpen()
            let run = try await runWriter(current, out: out, cgroup: group, log)
            // Bad input is the batch's fault, not a sign the writer command is broken.
            await writerGate.record(success: run.outcome == .complete || run.outcome == .badInput)
            return run
        }
        /// Everything the writer started, gone: its process group, and its cgroup where there is one.
        func killAll() async {
            written.process.signalGroup(SIGKILL)
            if let group {
                handedOn = true
                await Blocking.runQuietly { CgroupDelegation.killAndRemove(group) }
            }
        }
        // Whatever the writer says, it must have left its input as it was.
        do { try checkBatches(record) } catch {
            await killAll()
            throw error
        }
        switch written.outcome {
        case .complete: break
        case .badInput:
            await killAll()
            return nil
        case .failed(let reason):
            await killAll()
            if written.stoppedByDrain { throw Deferred() }
            throw AttemptFailure(reason: reason + logSuffix(directory + "/writer.log"), retryable: true)
        }
        record.state = .written
        record.writerDurationMs = written.durationMs
        try spool.save(record)
        handedOn = true
        return (written.process, group)
    }

    /// Seals `out/` and packs it into `packed/`. The writer's cgroup, if it has one, is killed
    /// once the seal has looked for processes holding files (so they are named), before any file
    /// is checked: nothing it left, a `setsid` daemon included, can change a file after that.
    private func sealAndPack(_ record: inout DeltaRecord, writer: ChildProcess?, group: String?, _ log: Logger) async throws -> Manifest {
        let directory = spool.directory(of: record.id)
        let out = directory + "/out"
        let inputs: [Packer.Input]
        let sealStarted = WallClock.monotonicNanoseconds()
        do {
            inputs = try await Blocking.run { [sandbox] in
                try Sealer(owner: sandbox.ownerUID).seal(out, afterScan: { if let group { CgroupDelegation.killAndRemove(group) } })
            }
        } catch let failure as Sealer.Failure {
            if let group { await Blocking.runQuietly { CgroupDelegation.killAndRemove(group) } }
            SupervisorMetrics.stage("seal", nanoseconds: WallClock.monotonicNanoseconds() - sealStarted)
            if let writer, writer.groupIsAlive {
                log.warning("killing what is left of the writer's process group", metadata: ["pgid": "\(writer.pid)"])
            }
            writer?.signalGroup(SIGKILL)
            throw AttemptFailure(reason: "not sealed: \(failure.reason)", retryable: !failure.permanent)
        }
        SupervisorMetrics.stage("seal", nanoseconds: WallClock.monotonicNanoseconds() - sealStarted)
        if let writer, writer.groupIsAlive {
            log.warning("the writer left processes behind; killing its process group", metadata: ["pgid": "\(writer.pid)"])
            writer.signalGroup(SIGKILL)
        }
        record.state = .sealed
        try spool.save(record)

        let packStarted = WallClock.monotonicNanoseconds()
        try Files.removeTree(directory + "/packed")
        let current = record
        let manifest = try await Blocking.run { [config, spool] in
            try Self.pack(record: current, inputs: inputs, writtenMs: current.writerDurationMs ?? 0, config: config, spool: spool)
        }
        SupervisorMetrics.stage("pack", nanoseconds: WallClock.monotonicNanoseconds() - packStarted)
        record.state = .packed
        try spool.save(record)
        return manifest
    }

    /// Uploads the packed delta once the store is available.
    private func uploadStage(_ record: inout DeltaRecord, manifest: Manifest, _ log: Logger) async throws {
        guard await storeIsAvailable() else { throw Deferred() }
        record.state = .uploading
        try spool.save(record)
        let uploadStarted = WallClock.monotonicNanoseconds()
        let current = record
        let requests = try await uploads.withPermit {
            try await Blocking.run { [self] in try upload(manifest, record: current) }
        }
        storeHealth.succeeded()
        SupervisorMetrics.stage("upload", nanoseconds: WallClock.monotonicNanoseconds() - uploadStarted)
        SupervisorMetrics.bytes("uploaded", manifest.compressedBytes)
        record.state = .uploaded
        record.storeAttempts = nil
        try spool.save(record)
        log.info("uploaded", metadata: [
            "objects": "\(manifest.files.count + 1)",
            "requests": "\(requests.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
        ])
    }

    /// Waits until the store can take work (the daemon) or says whether it can now (`--once`);
    /// false: stop here, the delta resumes at the next start.
    private func storeIsAvailable() async -> Bool {
        once ? storeHealth.isAvailable : await storeHealth.waitUntilAvailable(stop: stop)
    }

    /// The manifest packed for this delta.
    private func localManifest(_ record: DeltaRecord) throws -> Manifest {
        try StableJSON.decode(Manifest.self, from: Files.readAll(spool.directory(of: record.id) + "/packed/" + ObjectLayout.manifestKey))
    }

    private struct WriterRun: Sendable {
        var process: ChildProcess
        var outcome: WriterContract.Outcome
        var durationMs: Int64
        /// Killed by the drain timeout of a stop: not the writer's failure, no attempt spent.
        var stoppedByDrain: Bool
    }

    private func runWriter(_ record: DeltaRecord, out: String, cgroup: String?, _ log: Logger) async throws -> WriterRun {
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
            throw AttemptFailure(reason: "cannot start the writer \(config.writerCommand[0]): \(error)", retryable: true)
        }
        var running = record
        running.writerPID = process.pid
        running.writerStartTime = ProcessIdentity.startTime(of: process.pid)
        try spool.save(running)
        log.debug("writer started", metadata: ["pid": "\(process.pid)", "attempt": "\(record.attempt)"])
        let termination = await process.wait(timeout: live.writerTimeout, grace: live.killGrace)
        let durationMs = Int64((WallClock.monotonicNanoseconds() - started) / 1_000_000)
        for line in tail(directory + "/writer.log", bytes: 4096).split(separator: "\n") where !line.isEmpty {
            log.info("writer: \(DisplayText.sanitize(String(line)))")
        }
        var outcome = WriterContract.outcome(exitStatus: termination.exitStatus, signal: termination.signal)
        if termination.timedOut {
            outcome = .failed("writer timed out after \(live.writerTimeout) and was killed with its process group")
        }
        SupervisorMetrics.stage("write", nanoseconds: WallClock.monotonicNanoseconds() - started)
        SupervisorMetrics.writerExit(code: termination.timedOut ? "timeout"
            : termination.signal.map { "signal_\($0)" } ?? termination.exitStatus.map(String.init) ?? "unknown")
        log.info("writer exited", metadata: [
            "status": "\(termination.exitStatus.map(String.init) ?? "signal \(termination.signal ?? 0)")",
            "duration_ms": "\(durationMs)",
        ])
        let killed = termination.signal == SIGTERM || termination.signal == SIGKILL
        return WriterRun(process: process, outcome: outcome, durationMs: durationMs, stoppedByDrain: stop.isRequested && killed)
    }

    /// The writer's whole environment: a fixed clean set plus what the configuration passes
    /// through. Credentials of the object store are never passed.
    private func writerEnvironment(_ record: DeltaRecord) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        let directory = spool.directory(of: record.id)
        var environment: [String: String] = [
            "PATH": inherited["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": directory + "/tmp",
            "TMPDIR": directory + "/tmp",
            "LANG": "C.UTF-8",
            "DELTASEAL_DELTA_ID": record.id.rawValue,
            "DELTASEAL_ATTEMPT": "\(record.attempt)",
        ]
        // Credential-like names were refused when the configuration was read unless forced with `!`.
        for entry in config.writerEnvironmentPassthrough {
            let name = entry.hasPrefix("!") ? String(entry.dropFirst()) : entry
            if let value = inherited[name] { environment[name] = value }
        }
        return environment
    }

    // MARK: - Pack, upload, verify

    private static func pack(record: DeltaRecord, inputs: [Packer.Input], writtenMs: Int64, config: SupervisorConfig,
                             spool: Spool) throws -> Manifest {
        let directory = spool.directory(of: record.id)
        let packed = directory + "/packed"
        try Files.makeDirectories(packed, mode: 0o700)
        let files = try Packer(level: config.zstdLevel, workers: config.zstdWorkers).pack(inputs, from: directory + "/out", into: packed)
        let sources = try record.batches.map { name in try Spool.describeBatch(directory + "/batches/" + name, name: name) }
        let manifest = Manifest(
            deltaID: record.id, host: config.host, createdAt: CivilTime.rfc3339(unixMilliseconds: record.claimedAtMs),
            sources: sources,
            writer: .init(command: config.writerCommand, exitStatus: 0, durationMs: writtenMs),
            compression: .init(level: config.zstdLevel), files: files)
        let encoded = try StableJSON.encode(manifest)
        guard encoded.count <= DeltaLimits.maxManifestBytes else {
            // The verifier would refuse it on every attempt: never upload it.
            throw AttemptFailure(reason: "the manifest would be \(encoded.count) bytes; a delta's manifest is at most \(DeltaLimits.maxManifestBytes) " +
                                 "(\(files.count) files)", retryable: false)
        }
        try Files.writeAtomically(encoded, to: packed + "/" + ObjectLayout.manifestKey, mode: 0o600)
        return manifest
    }

    private func deltaKey(_ record: DeltaRecord, _ key: String) -> String {
        ObjectLayout.join(config.host, record.id.rawValue, key)
    }

    /// Objects first, each with its checksum; the manifest last, only if absent. Returns the
    /// requests it took, by verb (one session: its connections are reused across the delta).
    private func upload(_ manifest: Manifest, record: DeltaRecord) throws -> [String: Int] {
        let packed = spool.directory(of: record.id) + "/packed"
        let store = self.store.session()
        defer { Self.publish(store) }
        do {
            for file in manifest.files {
                try store.put(key: deltaKey(record, file.objectKey), file: packed + "/" + file.objectKey, sha256: file.compressedSHA256)
            }
            let bytes = try Files.readAll(packed + "/" + ObjectLayout.manifestKey)
            try store.put(key: deltaKey(record, ObjectLayout.manifestKey), bytes: bytes, ifAbsent: true)
            return store.requestCounts
        } catch let error as StoreError where error.code == .alreadyExists {
            // Ours, if an earlier attempt's manifest PUT succeeded but its answer was lost.
            if (try? uploadedManifestMatchesLocal(record)) == true { return store.requestCounts }
            throw AttemptFailure(reason: "a manifest for \(record.id) already exists in \(store.location); refusing to overwrite it",
                                 retryable: false, resumeAt: .packed)
        } catch let error as StoreError {
            throw AttemptFailure(reason: "upload failed: \(error)", retryable: error.isRetryable, resumeAt: .packed, storeError: error,
                                 canExhaust: false)
        }
    }

    /// Adds a session's requests to `deltaseal_store_requests_total`.
    private static func publish(_ session: any ObjectStore) {
        for (outcome, count) in session.requestOutcomes {
            SupervisorMetrics.storeRequests(verb: outcome.verb, status: outcome.status, count: count)
        }
        for (reason, count) in session.retryCounts { SupervisorMetrics.storeRetries(class: reason, count: count) }
    }

    private func uploadedManifestMatchesLocal(_ record: DeltaRecord) throws -> Bool {
        let local = spool.directory(of: record.id) + "/packed/" + ObjectLayout.manifestKey
        guard Files.exists(local) else { return false }
        do {
            return try store.getBytes(key: deltaKey(record, ObjectLayout.manifestKey)) == Files.readAll(local)
        } catch let error as StoreError where error.code == .notFound {
            return false
        } catch let error as StoreError {
            throw AttemptFailure(reason: "cannot read the uploaded manifest: \(error)", retryable: error.isRetryable, resumeAt: .packed,
                                 storeError: error, canExhaust: false)
        }
    }

    /// Removes what an attempt uploaded: the keys its local manifest names, or, without one, every
    /// object under the delta's location.
    private func removeObjects(of record: DeltaRecord) throws {
        let local = spool.directory(of: record.id) + "/packed/" + ObjectLayout.manifestKey
        let keys: [String]
        if let bytes = try? Files.readAll(local), let manifest = try? StableJSON.decode(Manifest.self, from: bytes) {
            keys = manifest.files.map { deltaKey(record, $0.objectKey) }
        } else {
            keys = try store.list(prefix: deltaKey(record, "") + "/").map(\.key)
        }
        do {
            try store.deleteDelta(manifest: deltaKey(record, ObjectLayout.manifestKey), objects: keys)
        } catch let error as StoreError {
            throw AttemptFailure(reason: "cannot remove the objects of the failed attempt: \(error)", retryable: error.isRetryable,
                                 resumeAt: .packed, storeError: error, canExhaust: false)
        }
    }

    /// Runs the verifier process on the uploaded delta; returns only if it said valid.
    private func verify(_ record: DeltaRecord, _ log: Logger) async throws {
        let directory = spool.directory(of: record.id)
        let url = config.store.appending(ObjectLayout.join(config.host, record.id.rawValue))
        var arguments = [config.verifierPath, url.description, "--json"] + (live.quickVerify ? ["--quick"] : ["--full"])
            + (config.store.scheme == .s3 ? config.s3.arguments : [])
        for stale in ["verify.log", "verify.err", "verify-tmp"] { try Files.removeTree(directory + "/" + stale) }
        // A private TMPDIR (0700) under the spool, and the credentials in a 0600 file there that
        // the verifier deletes once read: none of them in its environment.
        let privateTemporary = directory + "/verify-tmp"
        try Files.makeDirectories(privateTemporary, mode: 0o700)
        if !config.verifyCheckCommand.isEmpty {
            // The check runs as the writer user inside the verifier's workspace below this
            // directory: it may pass through (search), not list; the credentials file is 0600
            // and the verifier deletes it once read.
            try syscallRetrying("chmod", privateTemporary) { chmod(privateTemporary, 0o711) }
            let timeout = config.verifyCheckTimeout.components
            arguments += ["--check-command", config.verifyCheckCommand,
                          "--check-timeout", "\(Double(timeout.seconds) + Double(timeout.attoseconds) / 1e18)",
                          "--check-user", config.writerUser]
            if !config.writerGroup.isEmpty { arguments += ["--check-group", config.writerGroup] }
        }
        if let credentials = verifierCredentials {
            let file = privateTemporary + "/credentials"
            try Files.writeAtomically(Array(credentials.sharedCredentialsFile.utf8), to: file, mode: 0o600)
            arguments += ["--credentials-file", file]
        }
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(arguments: arguments, environment: VerifierEnvironment.make(temporary: privateTemporary),
                                             workingDirectory: directory, outputPath: directory + "/verify.log",
                                             errorPath: directory + "/verify.err")
        } catch {
            throw AttemptFailure(reason: "cannot start the verifier \(config.verifierPath): \(error)", retryable: true, resumeAt: .uploaded)
        }
        let termination = await process.wait(timeout: live.verifierTimeout, grace: live.killGrace)
        try? Files.removeTree(privateTemporary)
        let report = (try? Files.readAll(directory + "/verify.log")).flatMap { try? StableJSON.decode(VerificationReport.self, from: $0) }
        if let check = report?.check {
            SupervisorMetrics.stage("check", nanoseconds: UInt64(max(0, check.durationMs)) * 1_000_000)
        }
        if termination.exitStatus == VerifierExit.valid {
            log.info("verified", metadata: report?.check.map { ["check_ms": "\($0.durationMs)"] } ?? [:])
            return
        }
        var kind = termination.timedOut ? "timeout" : "error"
        var reason = termination.timedOut ? "verifier timed out" : "verifier exit \(termination.exitStatus.map(String.init) ?? "by signal \(termination.signal ?? 0)")"
        if let report {
            reason += ": " + report.status.rawValue + " " + report.problems.map { "\($0.file ?? "-"): \($0.reason)" }.joined(separator: "; ")
            kind = report.status.rawValue
        } else {
            reason += logSuffix(directory + "/verify.err")
        }
        SupervisorMetrics.verificationFailure(reason: kind)
        log.warning("verification failed", metadata: ["reason": "\(reason)"])
        // "invalid": what was uploaded is bad; write the delta again. Anything else (could not
        // check, a timeout, a crash) says nothing about the delta: verify it again.
        if termination.exitStatus == VerifierExit.invalid {
            throw AttemptFailure(reason: reason, retryable: true, resumeAt: .claimed)
        }
        throw AttemptFailure(reason: reason, retryable: true, resumeAt: .uploaded,
                             storeError: StoreError(.transient, key: nil, "the verifier could not check the delta: \(reason)"))
    }

    // MARK: - Endings

    private func markShipped(_ record: inout DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
        record.state = .verified
        record.lastError = nil
        try spool.save(record)
        return try finishShipped(record, log)
    }

    /// Removes the local delta and its batch, now that the verifier said valid.
    private func finishShipped(_ record: DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
        let directory = spool.directory(of: record.id)
        let manifestPath = directory + "/packed/" + ObjectLayout.manifestKey
        let manifest = (try? Files.readAll(manifestPath)).flatMap { try? StableJSON.decode(Manifest.self, from: $0) }
        try spool.discard(record.id)
        log.notice("shipped", metadata: [
            "records": "\(manifest?.recordCount ?? 0)", "raw_bytes": "\(manifest?.rawBytes ?? 0)",
            "compressed_bytes": "\(manifest?.compressedBytes ?? 0)", "attempt": "\(record.attempt)",
        ])
        return .shipped(records: manifest?.recordCount ?? 0, rawBytes: manifest?.rawBytes ?? 0,
                        compressedBytes: manifest?.compressedBytes ?? 0)
    }

    /// Throws a permanent failure if a batch is no longer what was claimed: such a delta goes to
    /// `failed/` with the batch as it is now, never to `rejected/`, never retried.
    private func checkBatches(_ record: DeltaRecord) throws {
        do { try spool.checkBatches(record) } catch let changed as Spool.BatchChanged {
            throw AttemptFailure(reason: changed.reason, retryable: false)
        }
    }

    private func reject(_ record: inout DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
        let directory = spool.directory(of: record.id)
        let stderr = tail(directory + "/writer.log", bytes: 16 << 10)
        let rejection = WriterContract.parseRejection(stderr: stderr)
        record.state = .rejected
        record.lastError = WriterContract.format(rejection)
        try spool.save(record)
        return try finishRejected(record, log)
    }

    /// A rejection report, beside the rejected batch.
    struct RejectionReport: Codable {
        /// The batch's name as the producer gave it.
        var batch: String
        /// Its name in `rejected/`.
        var storedAs: String
        var deltaID: String
        var file: String?
        var line: Int?
        var reason: String
        var writerCommand: [String]
        var writerOutput: String
        var rejectedAt: String
        enum CodingKeys: String, CodingKey {
            case batch, storedAs = "stored_as", deltaID = "delta_id", file, line, reason, writerCommand = "writer_command"
            case writerOutput = "writer_output", rejectedAt = "rejected_at"
        }
    }

    /// Moves the batches to `rejected/` beside their reports; safe to repeat after a crash.
    private func finishRejected(_ record: DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
        let directory = spool.directory(of: record.id)
        let output = tail(directory + "/writer.log", bytes: 16 << 10)
        let rejection = WriterContract.parseRejection(stderr: output)
        for batch in record.batches where Files.exists(directory + "/batches/" + batch) {
            // Names derived from the batch's stay short enough for a report and a temporary name
            // beside them; the report keeps the original.
            var name = Spool.boundedName(batch)
            if Files.exists(spool.rejected + "/" + name) { name = Spool.boundedName(record.id.rawValue + "." + batch) }
            let file = rejection.file.map { PathName.lastComponent(of: $0) }
            let report = RejectionReport(
                batch: batch, storedAs: name, deltaID: record.id.rawValue, file: file, line: rejection.line, reason: rejection.reason,
                writerCommand: config.writerCommand, writerOutput: output,
                rejectedAt: CivilTime.rfc3339(unixMilliseconds: WallClock.nowMilliseconds()))
            try Files.writeAtomically(try StableJSON.encode(report), to: spool.rejected + "/" + name + ".report.json")
            try Files.rename(directory + "/batches/" + batch, spool.rejected + "/" + name)
        }
        try Files.syncDirectory(spool.rejected)
        try spool.discard(record.id)
        log.warning("batch rejected", metadata: ["reason": "\(WriterContract.format(rejection))"])
        return .rejected(reason: WriterContract.format(rejection))
    }

    /// A failure report, inside the failed delta's directory.
    struct FailureReport: Codable {
        var deltaID: String
        var batches: [String]
        var attempts: Int
        var reason: String
        var failedAt: String
        var objectsMayRemain: Bool
        enum CodingKeys: String, CodingKey {
            case deltaID = "delta_id", batches, attempts, reason, failedAt = "failed_at", objectsMayRemain = "objects_may_remain"
        }
    }

    /// Moves the whole work directory (batches, logs, report) to `failed/`; safe to repeat.
    private func finishFailed(_ record: DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
        let directory = spool.directory(of: record.id)
        let reason = record.lastError ?? "unknown"
        if Files.exists(directory) {
            let report = FailureReport(
                deltaID: record.id.rawValue, batches: record.batches, attempts: record.attempt, reason: reason,
                failedAt: CivilTime.rfc3339(unixMilliseconds: WallClock.nowMilliseconds()),
                objectsMayRemain: Files.exists(directory + "/packed/" + ObjectLayout.manifestKey) && record.state.mayHaveObjects)
            try Files.writeAtomically(try StableJSON.encode(report), to: directory + "/report.json")
            for bulky in ["out", "packed", "tmp"] { try Files.removeTree(directory + "/" + bulky) }
            try Files.rename(directory, spool.failed + "/" + record.id.rawValue)
            try Files.syncDirectory(spool.failed)
            try Files.syncDirectory(spool.work)
        }
        return .failed(reason: reason)
    }

    /// The last `bytes` of a log file.
    private func tail(_ path: String, bytes: Int) -> String {
        guard let data = try? Files.readAll(path, limit: 64 << 20) else { return "" }
        return String(decoding: data.suffix(bytes), as: UTF8.self)
    }

    /// The end of a log file as a suffix for an error message (empty if the log is).
    private func logSuffix(_ path: String) -> String {
        let text = tail(path, bytes: 1024).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : " — " + text
    }
}

