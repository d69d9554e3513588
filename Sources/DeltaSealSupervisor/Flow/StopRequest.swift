import Synchronization

/// A request to stop intake, set from the service's graceful-shutdown handler or a test. Sleepers
/// wake the moment it is set (no polling), and when their task is cancelled.
public final class StopRequest: Sendable {
    private struct State {
        var requested = false
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Asks the supervisor to stop claiming batches and finish what it has.
    public func request() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.requested else { return [] }
            state.requested = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Whether a stop was asked for.
    public var isRequested: Bool { state.withLock { $0.requested } }

    /// Returns once a stop is requested, or at once when the task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    // Cancelled before it was registered: the handler below found nothing to resume.
                    if state.requested || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Sleeps up to `duration`, waking early when a stop is requested; throws
    /// `CancellationError` when the task is cancelled.
    func sleep(for duration: Duration) async throws {
        if !isRequested {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await Task.sleep(for: duration) }
                group.addTask { await self.wait() }
                await group.next()
                group.cancelAll()
            }
        }
        try Task.checkCancellation()
    }
}
