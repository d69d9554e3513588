import DeltaSealCore
import DeltaSealStore
import DeltaSealSystem
import Logging
import Synchronization

/// Whether the store can take work now, as the deltas' requests and a cheap probe find it.
///
/// Outage mode: once the store has failed with retryable errors (connections, DNS, 5xx,
/// throttling) for `thresholdMs` without a success in between, it is *unavailable*: deltas stop
/// spending attempts and wait before their store steps, intake pauses, and a probe (a HEAD of a
/// key that need not exist) runs with backoff up to 30 s until the store answers. A permanent
/// error (access denied, no such bucket) makes it *refusing* at once: the delta that met it
/// fails, the rest wait the same way instead of failing behind it. The probe writes and removes a
/// tiny object under the host's prefix: the most common refusal is a policy that denies writes,
/// which a read would not see.
final class StoreHealth: Sendable {
    private struct State {
        var failingSinceMs: Int64?
        var lastFailure: String?
        var refusal: String?
        var announced = false
        var nextProbeMs: Int64 = 0
        var probeDelayMs: Int64 = 1000
    }
    private let state = Mutex(State())
    private let thresholdMs: Int64
    private let logger: Logger

    init(thresholdMs: Int64, logger: Logger) {
        self.thresholdMs = thresholdMs
        self.logger = logger
    }

    /// A request succeeded: whatever was wrong is over.
    func succeeded() {
        let wasDown = state.withLock { state -> Bool in
            defer {
                state.failingSinceMs = nil
                state.lastFailure = nil
                state.refusal = nil
                state.probeDelayMs = 1000
                state.announced = false
            }
            return state.announced
        }
        if wasDown { logger.notice("store available again; shipping resumes") }
    }

    /// A request failed with `error`. Returns true when this permanent error is the first that
    /// made the store refusing: that delta fails; the others that meet it wait instead.
    @discardableResult
    func failed(_ error: StoreError, nowMs: Int64 = WallClock.nowMilliseconds()) -> Bool {
        state.withLock { state in
            if error.isRetryable {
                if state.failingSinceMs == nil { state.failingSinceMs = nowMs }
                state.lastFailure = error.description
                return false
            }
            let first = state.refusal == nil
            state.refusal = error.description
            return first
        }
    }

    /// Why the store cannot take work now, or nil when it can.
    func unavailability(nowMs: Int64 = WallClock.nowMilliseconds()) -> String? {
        let (reason, announce) = state.withLock { state -> (String?, Bool) in
            var reason: String?
            if let refusal = state.refusal {
                reason = "store refuses: \(refusal)"
            } else if let since = state.failingSinceMs, nowMs - since >= thresholdMs {
                reason = "store unavailable since \(CivilTime.rfc3339(unixMilliseconds: since)): \(state.lastFailure ?? "?")"
            }
            let announce = reason != nil && !state.announced
            if announce { state.announced = true }
            return (reason, announce)
        }
        if announce, let reason {
            logger.error("store outage: deltas wait, intake pauses, probing until it answers", metadata: ["reason": "\(reason)"])
        }
        return reason
    }

    /// Whether the store is available now.
    var isAvailable: Bool { unavailability() == nil }

    /// Probes the store if it is unavailable and a probe is due (backoff 1 s doubling to 30 s).
    /// `key` is the probe object's key (written, then deleted).
    func probeIfDue(_ store: any ObjectStore, key: String) async {
        let now = WallClock.nowMilliseconds()
        guard unavailability(nowMs: now) != nil, state.withLock({ now >= $0.nextProbeMs }) else { return }
        do {
            try await store.put(key: key, bytes: [], ifAbsent: false)
            try await store.delete(keys: [key])
            succeeded()
        } catch let error as StoreError {
            state.withLock { state in
                // A probe that fails again keeps the store out, permanent or not.
                state.lastFailure = error.description
                if !error.isRetryable { state.refusal = error.description }
                state.nextProbeMs = now + state.probeDelayMs
                state.probeDelayMs = min(state.probeDelayMs * 2, 30_000)
            }
        } catch {
            state.withLock { $0.nextProbeMs = now + $0.probeDelayMs }
        }
    }

    /// Returns true once the store is available (at once if it is: a draining delta goes on),
    /// false if a stop was requested while waiting for it.
    func waitUntilAvailable(stop: StopRequest) async -> Bool {
        while !isAvailable {
            if stop.isRequested || Task.isCancelled { return false }
            try? await stop.sleep(for: .milliseconds(200))
        }
        return true
    }
}
