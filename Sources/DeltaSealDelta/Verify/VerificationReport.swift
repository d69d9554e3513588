import DeltaSealCore

/// What the verifier found, for people (`summary`) and scripts (JSON).
public struct VerificationReport: Codable, Sendable {
    /// The verdict.
    public enum Status: String, Codable, Sendable {
        case valid, invalid
        case couldNotCheck = "could_not_check"

        /// The verifier's exit status for this verdict.
        public var exitStatus: Int32 {
            switch self {
            case .valid: return VerifierExit.valid
            case .invalid: return VerifierExit.invalid
            case .couldNotCheck: return VerifierExit.couldNotCheck
            }
        }
    }

    /// One finding: which file (or the manifest) and why.
    public struct Problem: Codable, Sendable, Equatable {
        public var file: String?
        public var reason: String
        public init(file: String?, reason: String) { self.file = file; self.reason = reason }
    }

    public var location: String
    public var status: Status = .valid
    public var deltaID: String?
    public var files = 0
    public var records = 0
    public var rawBytes: Int64 = 0
    public var compressedBytes: Int64 = 0
    public var problems: [Problem] = []
    /// Store requests the verification made, by verb.
    public var requests: [String: Int] = [:]
    /// What the check command said, when one ran (`--check-command`); absent in older reports.
    public var check: Check?
    /// The SQLite check run on each SQLite file: `integrity_check` or `quick_check` (`--quick`);
    /// absent in older reports.
    public var sqliteCheck: String?

    /// The verdict of a check command: the writer's own reader on the restored delta.
    public struct Check: Codable, Sendable, Equatable {
        /// The command as configured, without the `--delta`/`--manifest` the verifier appends.
        public var command: String
        /// valid (exit 0), invalid (exit 1) or could_not_check (exit 2, another exit, a signal, the timeout).
        public var verdict: Status
        /// The last non-empty line of its stdout, or what the verifier knows (a timeout, a spawn failure).
        public var reason: String?
        /// From spawn to exit.
        public var durationMs: Int64

        public init(command: String, verdict: Status, reason: String?, durationMs: Int64) {
            self.command = command; self.verdict = verdict; self.reason = reason; self.durationMs = durationMs
        }

        enum CodingKeys: String, CodingKey { case command, verdict, reason, durationMs = "duration_ms" }
    }

    public init(location: String) { self.location = location }

    /// A report that could not check `location`, for `reason`: a problem of no file in particular.
    public static func couldNotCheck(_ location: String, reason: String) -> VerificationReport {
        var report = VerificationReport(location: location)
        report.status = .couldNotCheck
        report.problems.append(Problem(file: nil, reason: reason))
        return report
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        location = try c.decode(String.self, forKey: .location)
        status = try c.decode(Status.self, forKey: .status)
        deltaID = try c.decodeIfPresent(String.self, forKey: .deltaID)
        files = try c.decode(Int.self, forKey: .files)
        records = try c.decode(Int.self, forKey: .records)
        rawBytes = try c.decode(Int64.self, forKey: .rawBytes)
        compressedBytes = try c.decode(Int64.self, forKey: .compressedBytes)
        problems = try c.decode([Problem].self, forKey: .problems)
        requests = try c.decodeIfPresent([String: Int].self, forKey: .requests) ?? [:]
        check = try c.decodeIfPresent(Check.self, forKey: .check)
        sqliteCheck = try c.decodeIfPresent(String.self, forKey: .sqliteCheck)
    }

    enum CodingKeys: String, CodingKey {
        case location, status, deltaID = "delta_id", files, records, rawBytes = "raw_bytes"
        case compressedBytes = "compressed_bytes", problems, requests, check, sqliteCheck = "sqlite_check"
    }

    /// One line per finding, first the verdict.
    public var summary: String {
        // Paths and reasons may carry text from the store: never let it steer the terminal.
        var lines = ["\(status.rawValue): \(DisplayText.sanitize(location))"
            + (deltaID.map { " (delta \(DisplayText.sanitize($0)), \(files) files, \(records) records)" } ?? "")]
        lines += problems.map { "  \(DisplayText.sanitize($0.file ?? "-")): \(DisplayText.sanitize($0.reason, limit: 4096))" }
        if let check, check.verdict == .valid {
            lines.append("  check: valid in \(check.durationMs) ms" + (check.reason.map { ": " + DisplayText.sanitize($0, limit: 4096) } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}
