import DeltaSealCore
import DeltaSealDelta
import DeltaSealSystem
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The seal and pack stages: prove nothing holds the writer's output, then compress and hash it
/// into `packed/` with its manifest.
extension DeltaPipeline {
    /// Seals `out/`; → `sealed` / `sealFailed`. The writer's cgroup, if it has one, is killed by
    /// the seal once it has looked for processes holding files (so they are named), before any
    /// file is leased or checked: nothing it left, a `setsid` daemon included, can change a file
    /// after that.
    func seal(_ record: DeltaRecord, _ attempt: inout Attempt, _ log: Logger) async throws -> DeltaEvent {
        let out = spool.directory(of: record.id) + "/out"
        let writer = attempt.writer
        let group = attempt.writerGroup
        attempt.writer = nil
        attempt.writerGroup = nil
        let sealStarted = WallClock.monotonicNanoseconds()
        defer { SupervisorMetrics.stage("seal", nanoseconds: WallClock.monotonicNanoseconds() - sealStarted) }
        do {
            let forked = forkServer != nil
            let sealed = try await Blocking.run { [sandbox] in
                try Sealer(owner: sandbox.ownerUID, writerCgroup: group, userRunsOutsideCgroup: forked).seal(out)
            }
            attempt.sealed = sealed.inputs
            log.debug("sealed", metadata: ["proof": "\(sealed.proof)"])
        } catch let failure as Sealer.Failure {
            if let group { await Blocking.runQuietly { CgroupDelegation.killAndRemove(group) } }
            if let writer, writer.groupIsAlive {
                log.warning("killing what is left of the writer's process group", metadata: ["pgid": "\(writer.pid)"])
            }
            writer?.signalGroup(SIGKILL)
            return .sealFailed(reason: failure.reason, permanent: failure.permanent)
        }
        if let writer {
            // Whatever the writer left in its process group dies now, without asking who is left
            // (``ChildProcess/groupIsAlive`` reads every process's /proc/<pid>/stat: a cost that
            // follows the host's process count, on every delta). Safe: the writer stays an
            // unreaped zombie while its handle lives, so its pid is no other process's group.
            if writer.outputWasHeldOpen {
                log.warning("the writer left processes behind (they held its output open); killing its process group",
                            metadata: ["pgid": "\(writer.pid)"])
            }
            writer.signalGroup(SIGKILL)
        }
        return .sealed
    }

    /// Packs what the seal proved into a fresh `packed/`; → `packed` / `packFailed`.
    func pack(_ record: DeltaRecord, _ attempt: inout Attempt) async throws -> DeltaEvent {
        guard let inputs = attempt.sealed else { return .packFailed(reason: "internal: pack without a seal", retryable: true) }
        let packStarted = WallClock.monotonicNanoseconds()
        let directory = spool.directory(of: record.id)
        let packed = directory + "/packed"
        try await Blocking.run {
            try Files.removeTree(packed)
            try Files.makeDirectories(packed, mode: 0o700)
        }
        let files = try await Packer(level: config.zstdLevel, workers: config.zstdWorkers)
            .pack(inputs, from: directory + "/out", into: packed, budget: compression)
        let outcome = try await Blocking.run { [config, spool] in
            try Self.finishPack(record: record, files: files, writtenMs: record.writerDurationMs ?? 0, config: config, spool: spool)
        }
        SupervisorMetrics.stage("pack", nanoseconds: WallClock.monotonicNanoseconds() - packStarted)
        return outcome
    }

    /// The manifest of the packed `files` in `packed/`, or why it cannot be.
    static func finishPack(record: DeltaRecord, files: [Manifest.FileEntry], writtenMs: Int64, config: SupervisorConfig,
                           spool: Spool) throws -> DeltaEvent {
        let directory = spool.directory(of: record.id)
        let packed = directory + "/packed"
        let sources = try record.batches.map { name in try Spool.describeBatch(directory + "/batches/" + name, name: name) }
        let manifest = Manifest(
            deltaID: record.id, host: config.host, createdAt: CivilTime.rfc3339(unixMilliseconds: record.claimedAtMs),
            sources: sources,
            writer: .init(command: config.writerCommand, exitStatus: 0, durationMs: writtenMs),
            compression: .init(level: config.zstdLevel), files: files)
        let encoded = try StableJSON.encode(manifest)
        guard encoded.count <= DeltaLimits.maxManifestBytes else {
            // The verifier would refuse it on every attempt: never upload it.
            return .packFailed(reason: "the manifest would be \(encoded.count) bytes; a delta's manifest is at most \(DeltaLimits.maxManifestBytes) " +
                               "(\(files.count) files)", retryable: false)
        }
        try Files.writeAtomically(encoded, to: packed + "/" + ObjectLayout.manifestKey, mode: 0o600)
        return .packed
    }

}
