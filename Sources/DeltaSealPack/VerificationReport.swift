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

    public init(location: String) { self.location = location }

    enum CodingKeys: String, CodingKey {
        case location, status, deltaID = "delta_id", files, records, rawBytes = "raw_bytes"
        case compressedBytes = "compressed_bytes", problems
    }

    /// One line per finding, first the verdict.
    public var summary: String {
        var lines = ["\(status.rawValue): \(location)" + (deltaID.map { " (delta \($0), \(files) files, \(records) records)" } ?? "")]
        lines += problems.map { "  \($0.file ?? "-"): \($0.reason)" }
        return lines.joined(separator: "\n")
    }
}
