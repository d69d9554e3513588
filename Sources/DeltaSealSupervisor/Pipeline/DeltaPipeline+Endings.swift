import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Logging

/// How a delta leaves the pipeline: shipped (the local copy and batch go), rejected (the batch
/// goes to `rejected/` with a report), failed (the work directory goes to `failed/` with a
/// report), deferred (it stays in `work/`). Each ending is safe to repeat after a crash.
extension DeltaPipeline {
    /// Finishes a decided delta. Only moving its files can fail here; that is retried with a
    /// backoff, never the delta itself (that could ship it twice). An error no retry can mend
    /// leaves it decided in `work/` for the next start.
    func finish(_ ending: DeltaEnding, _ record: DeltaRecord, _ log: Logger) async -> DeltaOutcome {
        if ending == .deferred {
            log.info("stopped before the delta finished; it resumes at the next start", metadata: ["state": "\(record.state.rawValue)"])
            return .deferred
        }
        var cleanupFailures = 0
        while true {
            do {
                switch ending {
                // Moving and removing files (a big delta's), off the cooperative pool; a decided
                // delta finishes in a cancelled task too.
                case .shipped: return try await Blocking.runUncancellable { [self] in try finishShipped(record, log) }
                case .rejected: return try await Blocking.runUncancellable { [self] in try finishRejected(record, log) }
                case .failed, .deferred: return try await Blocking.runUncancellable { [self] in try finishFailed(record, log) }
                }
            } catch {
                cleanupFailures += 1
                let retryable = (error as? SystemError)?.isRetryable ?? false
                if !retryable && cleanupFailures >= 3 {
                    log.critical("cannot finish the delta's local cleanup; it stays decided in work/ for the next start",
                                 metadata: ["error": "\(error)", "state": "\(record.state.rawValue)"])
                    return ending == .failed ? .failed(reason: record.lastError ?? "unknown") : .deferred
                }
                log.error("cannot finish the delta's local cleanup; retrying", metadata: ["error": "\(error)"])
                try? await stop.sleep(for: .seconds(min(60, 1 << min(cleanupFailures - 1, 6))))
                if stop.isRequested { return ending == .failed ? .failed(reason: record.lastError ?? "unknown") : .deferred }
            }
        }
    }

    /// Removes the local delta and its batch, now that the verifier said valid.
    func finishShipped(_ record: DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
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
    func finishRejected(_ record: DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
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
    func finishFailed(_ record: DeltaRecord, _ log: Logger) throws -> DeltaOutcome {
        let directory = spool.directory(of: record.id)
        let reason = record.lastError ?? "unknown"
        if Files.exists(directory) {
            let report = FailureReport(
                deltaID: record.id.rawValue, batches: record.batches, attempts: record.attempt, reason: reason,
                failedAt: CivilTime.rfc3339(unixMilliseconds: WallClock.nowMilliseconds()),
                objectsMayRemain: record.objectsMayRemain == true)
            try Files.writeAtomically(try StableJSON.encode(report), to: directory + "/report.json")
            for bulky in ["out", "packed", "tmp"] { try Files.removeTree(directory + "/" + bulky) }
            try Files.rename(directory, spool.failed + "/" + record.id.rawValue)
            try Files.syncDirectory(spool.failed)
            try Files.syncDirectory(spool.work)
        }
        return .failed(reason: reason)
    }

    /// The last `bytes` of a log file.
    func tail(_ path: String, bytes: Int) -> String {
        String(decoding: (try? Files.readTail(path, bytes: bytes)) ?? [], as: UTF8.self)
    }

    /// The end of a log file as a suffix for an error message (empty if the log is).
    func logSuffix(_ path: String) -> String {
        let text = tail(path, bytes: 1024).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "" : " — " + text
    }
}
