import DeltaSealSystem
import Foundation
import Testing

/// The alerts docs/operations.md suggests, evaluated by promtool against real scrapes of a
/// running daemon: the exposition passes `promtool check metrics`, the rules `check rules`, and
/// each alert fires exactly when the daemon is in the state it is about.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"),
                "needs promtool (Debian's prometheus package; bin/test installs it)"), .serialized)
struct AlertRulesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The YAML list of alerts in docs/operations.md, as a rule file.
    static func rulesFile() throws -> String {
        let docs = try String(contentsOfFile: root + "/docs/operations.md", encoding: .utf8)
        let heading = try #require(docs.range(of: "Suggested alerts"))
        let start = try #require(docs.range(of: "```yaml\n", range: heading.upperBound..<docs.endIndex))
        let end = try #require(docs.range(of: "```", range: start.upperBound..<docs.endIndex))
        let alerts = docs[start.upperBound..<end.lowerBound].split(separator: "\n", omittingEmptySubsequences: false)
            .map { "      " + $0 }.joined(separator: "\n")
        return "groups:\n  - name: deltaseal\n    rules:\n" + alerts + "\n"
    }

    /// A scrape as promtool input series: each sample constant for 30 minutes, one a minute.
    static func series(_ scrape: String) -> String {
        scrape.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.compactMap { line -> String? in
            guard let space = line.lastIndex(of: " ") else { return nil }
            let name = line[..<space].replacingOccurrences(of: "'", with: "\\'")
            return "      - series: '\(name)'\n        values: '\(line[line.index(after: space)...])+0x30'"
        }.joined(separator: "\n")
    }

    func scrape(environment extra: [String: String], until condition: @escaping (String) -> Bool) async throws -> String {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        let port = try TestSupport.freePort()
        var environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        environment["DELTASEAL_INTAKE_SETTLE"] = "0.1"
        let daemon = try Daemon([TestSupport.supervisor, "start", "--spool", harness.config.spool, "--store", harness.storeRoot,
                                 "--host", "test-host", "--metrics-address", "127.0.0.1:\(port)"],
                                environment: environment, cwd: harness.root, log: harness.root + "/log")
        defer { daemon.kill() }
        var body = ""
        try await waitUntil(timeout: .seconds(60)) {
            body = (try? await TestSupport.http("http://127.0.0.1:\(port)/metrics"))?.body ?? ""
            return condition(body)
        }
        return body
    }

    /// Runs promtool's unit test of the rules on `scrape`, expecting exactly `firing` (alert
    /// name: its labels and annotations) at minute 20, and nothing else of the documented alerts.
    func expect(_ scrape: String, firing: [String: (labels: String, annotations: String)]) async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.write(try Self.rulesFile(), to: dir + "/rules.yml")
        let check = try await TestSupport.run(["/usr/bin/promtool", "check", "rules", dir + "/rules.yml"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let names = try Self.rulesFile().split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("- alert: ") ? String(trimmed.dropFirst("- alert: ".count)) : nil
        }
        #expect(names.count >= 7, "\(names)")
        let cases = names.map { name -> String in
            guard let alert = firing[name] else { return "      - eval_time: 20m\n        alertname: \(name)\n        exp_alerts: []" }
            return "      - eval_time: 20m\n        alertname: \(name)\n        exp_alerts:\n          - exp_labels: \(alert.labels)\n            exp_annotations: \(alert.annotations)"
        }.joined(separator: "\n")
        let test = "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n"
            + Self.series(scrape) + "\n    alert_rule_test:\n" + cases + "\n"
        try TestSupport.write(test, to: dir + "/test.yml")
        let result = try await TestSupport.run(["/usr/bin/promtool", "test", "rules", dir + "/test.yml"], cwd: dir)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
    }

    @Test func aHealthyDaemonFiresNothingAndItsScrapeIsClean() async throws {
        let scrape = try await scrape(environment: [:]) { $0.contains("deltaseal_deltas_total{outcome=\"shipped\"} 1") }
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.write(scrape, to: dir + "/scrape.txt")
        let lint = try await TestSupport.run(["/bin/sh", "-c", "/usr/bin/promtool check metrics < \(dir)/scrape.txt"])
        #expect(lint.status == 0, "\(lint.stdout)\(lint.stderr)")
        try await expect(scrape, firing: [:])
    }

    @Test func intakePausedForDiskFiresItsAlertAndOnlyThat() async throws {
        let scrape = try await scrape(environment: ["DELTASEAL_INTAKE_MIN_FREE_BYTES": "1000TiB"]) {
            $0.contains("deltaseal_intake_paused{reason=\"free_disk\"} 1")
        }
        try await expect(scrape, firing: [
            "DeltaSealIntakePaused": ("{reason: free_disk, severity: page}", "{summary: \": intake paused for free_disk\"}"),
        ])
    }
}
