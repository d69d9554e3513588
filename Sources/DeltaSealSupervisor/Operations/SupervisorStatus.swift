import DeltaSealCore
import DeltaSealDelta
import DeltaSealSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What `supervisor status` shows: the spool as it is on disk, plus what only the running
/// daemon knows (intake pause, recent outcomes), which it writes to `spool/status.json` every
/// poll.
public struct SupervisorStatus: Codable, Sendable {
    public struct Failure: Codable, Sendable, Equatable {
        public var deltaID: String
        public var outcome: String
        public var reason: String
        public var at: String
        enum CodingKeys: String, CodingKey { case deltaID = "delta_id", outcome, reason, at }
    }

    public struct InFlight: Codable, Sendable, Equatable {
        public var deltaID: String
        public var state: String
        public var attempt: Int
        public var batches: [String]
        public var lastError: String?
        enum CodingKeys: String, CodingKey { case deltaID = "delta_id", state, attempt, batches, lastError = "last_error" }
    }

    /// The version of this JSON's schema (docs/operations.md, "Status"); bumped on a breaking change.
    public var schemaVersion = 1
    /// Whether a supervisor holds the spool's lock right now.
    public var running: Bool
    public var pid: Int32?
    public var startedAt: String?
    public var updatedAt: String?
    public var intakePaused: String?
    public var writersPausedSeconds: Double?
    public var shippedLastHour: Int
    public var totals: [String: Int]
    public var recentFailures: [Failure]
    /// Deltas in `work/` by state.
    public var stages: [String: Int]
    public var inFlight: [InFlight]
    /// Batches or deltas per spool directory.
    public var queues: [String: Int]
    /// How writers are confined (user, no_new_privs, Landlock), as the daemon found it at start.
    public var sandbox: String?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version", running, pid, startedAt = "started_at", updatedAt = "updated_at", intakePaused = "intake_paused"
        case writersPausedSeconds = "writers_paused_seconds", shippedLastHour = "shipped_last_hour", totals
        case recentFailures = "recent_failures", stages, inFlight = "in_flight", queues, sandbox
    }

    /// Reads the spool (and the daemon's last `status.json` if it is running).
    public static func read(spool: Spool) throws -> SupervisorStatus {
        let running = SpoolLock.isHeld(spool: spool.root)
        var status = SupervisorStatus(running: running, shippedLastHour: 0, totals: [:], recentFailures: [], stages: [:],
                                      inFlight: [], queues: [:])
        if running, let bytes = try? Files.readAll(spool.root + "/" + StatusBoard.fileName),
           let live = try? StableJSON.decode(SupervisorStatus.self, from: bytes) {
            status = live
            status.running = true
        }
        status.queues = spool.queueDepths()
        // What ended badly survives restarts: the reports in failed/ and rejected/ say it.
        var seen = Set(status.recentFailures.map(\.deltaID))
        for failure in Self.reportedFailures(spool: spool) where seen.insert(failure.deltaID).inserted {
            status.recentFailures.append(failure)
        }
        status.recentFailures = Array(status.recentFailures.sorted { $0.at > $1.at }.prefix(20))
        status.inFlight = ((try? spool.workInProgress()) ?? []).compactMap { id in
            guard let record = try? spool.load(id) else { return nil }
            return InFlight(deltaID: id.rawValue, state: record.state.rawValue, attempt: record.attempt, batches: record.batches,
                            lastError: record.lastError)
        }
        status.stages = Dictionary(status.inFlight.map { ($0.state, 1) }, uniquingKeysWith: +)
        return status
    }

    /// Failures and rejections as their reports on disk tell them.
    static func reportedFailures(spool: Spool) -> [Failure] {
        struct Report: Decodable {
            var deltaID: String
            var reason: String
            var failedAt: String?
            var rejectedAt: String?
            enum CodingKeys: String, CodingKey { case deltaID = "delta_id", reason, failedAt = "failed_at", rejectedAt = "rejected_at" }
        }
        var out: [Failure] = []
        for id in (try? Files.list(spool.failed)) ?? [] {
            guard let bytes = try? Files.readAll(spool.failed + "/" + id + "/report.json", limit: 1 << 20),
                  let report = try? StableJSON.decode(Report.self, from: bytes) else { continue }
            out.append(.init(deltaID: report.deltaID, outcome: "failed", reason: report.reason, at: report.failedAt ?? ""))
        }
        for name in ((try? Files.list(spool.rejected)) ?? []) where name.hasSuffix(".report.json") {
            guard let bytes = try? Files.readAll(spool.rejected + "/" + name, limit: 1 << 20),
                  let report = try? StableJSON.decode(Report.self, from: bytes) else { continue }
            out.append(.init(deltaID: report.deltaID, outcome: "rejected", reason: report.reason, at: report.rejectedAt ?? ""))
        }
        return out
    }

    /// The table people read.
    public var table: String {
        var lines: [String] = []
        lines.append("supervisor: " + (running ? "running" + (pid.map { " (pid \($0))" } ?? "") + (startedAt.map { ", since \($0)" } ?? "")
                                               : "not running"))
        lines.append("intake:     " + (intakePaused.map { "PAUSED: \($0)" } ?? (running ? "open" : "-")))
        if let sandbox { lines.append("sandbox:    " + sandbox) }
        if let paused = writersPausedSeconds, paused > 0 {
            lines.append("writers:    PAUSED for \(Int(paused.rounded(.up))) s more (crash loop)")
        }
        lines.append("queues:     " + ["incoming", "unclaimable", "work", "rejected", "failed"].map { "\($0) \(queues[$0] ?? 0)" }.joined(separator: ", "))
        lines.append("shipped:    \(shippedLastHour) in the last hour" + (totals.isEmpty ? "" :
            " (since start: " + totals.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"))
        if !inFlight.isEmpty {
            lines.append("in flight:  " + stages.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            for delta in inFlight.prefix(20) {
                lines.append("  \(delta.deltaID)  \(delta.state.padding(toLength: 9, withPad: " ", startingAt: 0))  attempt \(delta.attempt)  "
                             + delta.batches.joined(separator: ",") + (delta.lastError.map { "  last error: \($0.prefix(100))" } ?? ""))
            }
        }
        if !recentFailures.isEmpty {
            lines.append("recent failures:")
            for failure in recentFailures.prefix(10) {
                lines.append("  \(failure.at)  \(failure.deltaID)  \(failure.outcome): \(failure.reason.prefix(160))")
            }
        }
        return lines.joined(separator: "\n")
    }
}
