/// The contract between the supervisor and any writer command.
///
/// `COMMAND... --input FILE... --out DIR`; exit 0: DIR holds a complete delta; exit 2: bad input,
/// do not retry; anything else, or death by a signal: failure, retry. A writer that rejects input
/// should print `error: FILE:LINE: REASON` on stderr; the supervisor puts that in the report.
public enum WriterContract {
    /// Exit status for a complete delta.
    public static let success: Int32 = 0
    /// Exit status for input that will never be accepted.
    public static let badInput: Int32 = 2

    /// What the supervisor makes of a writer's end.
    public enum Outcome: Equatable, Sendable {
        case complete
        case badInput
        case failed(String)
    }

    /// Maps an exit status or a signal to an outcome.
    public static func outcome(exitStatus: Int32?, signal: Int32?) -> Outcome {
        if let signal { return .failed("writer killed by signal \(signal)") }
        switch exitStatus {
        case success: return .complete
        case badInput: return .badInput
        case let status?: return .failed("writer exited with status \(status)")
        case nil: return .failed("writer ended without status")
        }
    }

    /// A rejected line, as a writer reports it.
    public struct Rejection: Codable, Equatable, Sendable {
        public var file: String?
        public var line: Int?
        public var reason: String
        public init(file: String?, line: Int?, reason: String) { self.file = file; self.line = line; self.reason = reason }
    }

    /// The line a writer prints for a rejection.
    public static func format(_ r: Rejection) -> String {
        switch (r.file, r.line) {
        case let (file?, line?): return "error: \(file):\(line): \(r.reason)"
        case let (file?, nil): return "error: \(file): \(r.reason)"
        default: return "error: \(r.reason)"
        }
    }

    /// Finds the first `error: FILE:LINE: REASON` line in a writer's output; falls back to the last
    /// non-empty line as the reason.
    public static func parseRejection(stderr: String) -> Rejection {
        let lines = stderr.split(separator: "\n").map { String($0) }
        for line in lines where line.hasPrefix("error: ") {
            let rest = line.dropFirst("error: ".count)
            let parts = rest.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            if parts.count == 3, let number = Int(parts[1]) {
                return Rejection(file: String(parts[0]), line: number,
                                 reason: parts[2].trimmingPrefix(" ").description)
            }
            return Rejection(file: nil, line: nil, reason: String(rest))
        }
        let last = lines.last(where: { !$0.allSatisfy(\.isWhitespace) }) ?? "writer rejected the batch without a message"
        return Rejection(file: nil, line: nil, reason: last)
    }
}
