import Metrics

/// The supervisor's instruments (swift-metrics; Prometheus names). No-ops until a metrics
/// backend is bootstrapped, as `supervisor start` does.
enum SupervisorMetrics {
    /// `deltaseal_deltas_total{outcome}`: shipped, rejected, failed.
    static func delta(outcome: String) { Counter(label: "deltaseal_deltas_total", dimensions: [("outcome", outcome)]).increment() }

    /// `deltaseal_stage_duration_seconds{stage}`: write, seal, pack, upload, verify.
    static func stage(_ stage: String, nanoseconds: UInt64) {
        Timer(label: "deltaseal_stage_duration_seconds", dimensions: [("stage", stage)]).recordNanoseconds(Int64(nanoseconds))
    }

    /// `deltaseal_bytes_total{kind}`: raw, compressed, uploaded.
    static func bytes(_ kind: String, _ count: Int64) {
        Counter(label: "deltaseal_bytes_total", dimensions: [("kind", kind)]).increment(by: count)
    }

    /// `deltaseal_retries_total`: failed attempts that will be tried again.
    static func retry() { Counter(label: "deltaseal_retries_total").increment() }

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

    /// `deltaseal_intake_paused`: 1 while backpressure holds intake.
    static func intakePaused(_ paused: Bool) { Gauge(label: "deltaseal_intake_paused").record(paused ? 1 : 0) }

    /// `deltaseal_deltas_in_flight`.
    static func inFlight(_ count: Int) { Gauge(label: "deltaseal_deltas_in_flight").record(count) }
}
