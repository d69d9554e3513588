import Metrics

/// The supervisor's instruments (swift-metrics; Prometheus names). No-ops until a metrics
/// backend is bootstrapped, as `supervisor start` does.
public enum SupervisorMetrics {
    /// `deltaseal_deltas_total{outcome}`: shipped, rejected, failed.
    static func delta(outcome: String) { Counter(label: "deltaseal_deltas_total", dimensions: [("outcome", outcome)]).increment() }

    /// `deltaseal_stage_duration_seconds{stage}`: write, seal, pack, upload, verify, check (the
    /// verifier's check command, from its report).
    static func stage(_ stage: String, nanoseconds: UInt64) {
        Timer(label: "deltaseal_stage_duration_seconds", dimensions: [("stage", stage)]).recordNanoseconds(Int64(nanoseconds))
    }

    /// `deltaseal_bytes_total{kind}`: raw, compressed, uploaded.
    static func bytes(_ kind: String, _ count: Int64) {
        Counter(label: "deltaseal_bytes_total", dimensions: [("kind", kind)]).increment(by: count)
    }

    /// `deltaseal_retries_total`: failed attempts that will be tried again.
    static func retry() { Counter(label: "deltaseal_retries_total").increment() }

    /// `deltaseal_compression_waits_total`: a file's compression waited for its share of `zstd.memory`.
    static func compressionWait() { Counter(label: "deltaseal_compression_waits_total").increment() }

    /// `deltaseal_verifier_fork_server_fallbacks_total`: the verifier fork-server could not take a
    /// delta, and verifier processes took over for a while.
    static func verifierFallback() { Counter(label: "deltaseal_verifier_fork_server_fallbacks_total").increment() }

    /// `deltaseal_verification_failures_total{reason}`: invalid, could_not_check, timeout, error.
    static func verificationFailure(reason: String) {
        Counter(label: "deltaseal_verification_failures_total", dimensions: [("reason", reason)]).increment()
    }

    /// `deltaseal_writer_exits_total{code}`: 0, 2, other codes, or signal_N, timeout.
    static func writerExit(code: String) { Counter(label: "deltaseal_writer_exits_total", dimensions: [("code", code)]).increment() }

    /// `deltaseal_store_requests_total{verb,status}`.
    static func storeRequests(verb: String, status: String, count: Int) {
        Counter(label: "deltaseal_store_requests_total", dimensions: [("verb", verb), ("status", status)]).increment(by: count)
    }

    /// `deltaseal_store_retries_total{class}`: requests the store tried again itself (throttled,
    /// server_error, connection, truncated, expired_token).
    static func storeRetries(class reason: String, count: Int) {
        Counter(label: "deltaseal_store_retries_total", dimensions: [("class", reason)]).increment(by: count)
    }

    /// `deltaseal_spool_batches{dir}`: incoming, work, rejected, failed.
    static func spool(_ directory: String, _ count: Int) {
        Gauge(label: "deltaseal_spool_batches", dimensions: [("dir", directory)]).record(count)
    }

    /// Why intake can pause, as `deltaseal_intake_paused{reason}` labels.
    static let pauseReasons = ["free_disk", "work_area", "store", "crash_loop", "draining"]

    /// `deltaseal_intake_paused{reason}`: 1 for the reason intake is paused now, 0 for the others.
    static func intakePaused(reason: String?) {
        for known in pauseReasons {
            Gauge(label: "deltaseal_intake_paused", dimensions: [("reason", known)]).record(known == reason ? 1 : 0)
        }
    }

    /// The label of an intake pause reason as `IntakeGate` words it.
    static func pauseLabel(_ reason: String) -> String {
        if reason.hasPrefix("free disk") { return "free_disk" }
        if reason.hasPrefix("work area") { return "work_area" }
        return "store"
    }

    /// `deltaseal_last_shipped_timestamp_seconds`: Unix time of the last shipped delta.
    static func shipped(atMs: Int64) {
        Gauge(label: "deltaseal_last_shipped_timestamp_seconds").record(Double(atMs) / 1000)
    }

    /// `deltaseal_build_info{version,commit}`: 1, labelled with what runs.
    public static func buildInfo(version: String, commit: String) {
        Gauge(label: "deltaseal_build_info", dimensions: [("version", version), ("commit", commit)]).record(1)
    }

    /// Every counter and gauge at 0 for its known labels, so `increase(...)` sees the first event
    /// after a restart and the alerts on absent series do not misfire.
    static func initialize() {
        for outcome in ["shipped", "rejected", "failed"] {
            Counter(label: "deltaseal_deltas_total", dimensions: [("outcome", outcome)]).increment(by: 0)
        }
        for kind in ["raw", "compressed", "uploaded"] { Counter(label: "deltaseal_bytes_total", dimensions: [("kind", kind)]).increment(by: 0) }
        Counter(label: "deltaseal_retries_total").increment(by: 0)
        Counter(label: "deltaseal_compression_waits_total").increment(by: 0)
        Counter(label: "deltaseal_verifier_fork_server_fallbacks_total").increment(by: 0)
        for reason in ["invalid", "could_not_check", "timeout", "error"] {
            Counter(label: "deltaseal_verification_failures_total", dimensions: [("reason", reason)]).increment(by: 0)
        }
        for code in ["0", "1", "2", "timeout"] {
            Counter(label: "deltaseal_writer_exits_total", dimensions: [("code", code)]).increment(by: 0)
        }
        intakePaused(reason: nil)
        storeAvailable(true)
        inFlight(0)
    }

    /// Seconds of the stage histogram's buckets: up to an hour (a 1 GiB delta takes minutes).
    public static let stageBuckets: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]
        .map { .milliseconds(Int64($0 * 1000)) }

    /// `# HELP` text of every metric, with its unit.
    public static let help: [String: String] = [
        "deltaseal_deltas_total": "Deltas that ended, by outcome (shipped, rejected, failed).",
        "deltaseal_stage_duration_seconds": "Seconds each stage of a delta took (write, seal, pack, upload, verify, check).",
        "deltaseal_bytes_total": "Bytes of shipped deltas: raw, compressed, uploaded.",
        "deltaseal_retries_total": "Failed attempts that will be tried again.",
        "deltaseal_compression_waits_total": "Files whose compression waited for its share of zstd.memory (the packs in flight used it all).",
        "deltaseal_verifier_fork_server_fallbacks_total": "Times the verifier fork-server could not take a delta and verifier processes took over for a minute.",
        "deltaseal_verification_failures_total": "Verifications that did not say valid, by reason.",
        "deltaseal_writer_exits_total": "Writer processes that ended, by exit code, signal_N or timeout.",
        "deltaseal_store_requests_total": "Object store requests, by verb and HTTP status (error: no answer).",
        "deltaseal_store_retries_total": "Object store requests retried inside the request, by class.",
        "deltaseal_spool_batches": "Entries per spool directory (incoming, unclaimable, work, rejected, failed).",
        "deltaseal_intake_paused": "1 while intake is paused for this reason (free_disk, work_area, store, crash_loop, draining).",
        "deltaseal_store_available": "1 while the store takes work, 0 during an outage or while it refuses.",
        "deltaseal_deltas_in_flight": "Deltas in the pipeline now.",
        "deltaseal_last_shipped_timestamp_seconds": "Unix time in seconds of the last shipped delta.",
        "deltaseal_build_info": "1, labelled with the running version and commit.",
    ]

    /// The Prometheus text exposition with a `# HELP` line before each metric's `# TYPE` line.
    public static func withHelp(_ exposition: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(exposition.count + 2048)
        for line in exposition.split(separator: 10, omittingEmptySubsequences: false) {
            if line.starts(with: Array("# TYPE ".utf8)) {
                let name = String(decoding: line.dropFirst(7).prefix { $0 != 32 }, as: UTF8.self)
                if let text = help[name] { out += Array("# HELP \(name) \(text)\n".utf8) }
            }
            out += line
            out.append(10)
        }
        if exposition.last == 10 { out.removeLast() }
        return out
    }

    /// `deltaseal_store_available`: 1 while the store takes work, 0 during an outage or refusal.
    static func storeAvailable(_ available: Bool) { Gauge(label: "deltaseal_store_available").record(available ? 1 : 0) }

    /// `deltaseal_deltas_in_flight`.
    static func inFlight(_ count: Int) { Gauge(label: "deltaseal_deltas_in_flight").record(count) }
}
