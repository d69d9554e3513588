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

    public init(location: String) { self.location = location }

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
    }

    enum CodingKeys: String, CodingKey {
        case location, status, deltaID = "delta_id", files, records, rawBytes = "raw_bytes"
        case compressedBytes = "compressed_bytes", problems, requests
    }

    /// One line per finding, first the verdict.
    public var summary: String {
        // Paths and reasons may carry text from the store: never let it steer the terminal.
        var lines = ["\(status.rawValue): \(DisplayText.sanitize(location))"
            + (deltaID.map { " (delta \(DisplayText.sanitize($0)), \(files) files, \(records) records)" } ?? "")]
        lines += problems.map { "  \(DisplayText.sanitize($0.file ?? "-")): \(DisplayText.sanitize($0.reason, limit: 4096))" }
        return lines.joined(separator: "\n")
    }
}
