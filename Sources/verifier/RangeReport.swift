import DeltaSealDelta

/// `verifier check` over a range: every delta's report, how many came out each way, and the
/// worst verdict, which is the exit status.
struct RangeReport: Codable {
    var store: String
    var host: String?
    var since: String?
    var status: VerificationReport.Status = .valid
    var valid = 0
    var invalid = 0
    var couldNotCheck = 0
    var deltas: [VerificationReport] = []

    enum CodingKeys: String, CodingKey {
        case store, host, since, status, valid, invalid, couldNotCheck = "could_not_check", deltas
    }

    init(store: String, host: String?, since: String?) {
        self.store = store
        self.host = host
        self.since = since
    }

    mutating func add(_ report: VerificationReport) {
        deltas.append(report)
        switch report.status {
        case .valid: valid += 1
        case .invalid: invalid += 1
        case .couldNotCheck: couldNotCheck += 1
        }
        // Invalid (the store holds something wrong) outranks could-not-check (this host's trouble).
        if report.status == .invalid || (report.status == .couldNotCheck && status == .valid) { status = report.status }
    }

    /// One line per delta, then the totals.
    var table: String {
        var lines = ["VERDICT           DELTA ID                        FILES  RECORDS  LOCATION"]
        for r in deltas {
            lines.append("\(r.status.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0))  "
                         + "\((r.deltaID ?? "-").padding(toLength: 30, withPad: " ", startingAt: 0))  "
                         + "\(String(r.files).leftPad(5))  \(String(r.records).leftPad(7))  \(r.location)")
            for problem in r.problems { lines.append("    \(problem.file.map { $0 + ": " } ?? "")\(problem.reason)") }
        }
        lines.append("\(deltas.count) deltas: \(valid) valid, \(invalid) invalid, \(couldNotCheck) could not check: \(status.rawValue)")
        return lines.joined(separator: "\n")
    }
}
