import Synchronization

/// The memory every compression in flight in this process may use together, shared by all
/// deltas: a file's pack waits (asynchronously, in arrival order) until its estimate
/// (``Packer/plan(forSize:)``) fits beside the ones running. So the supervisor's compression
/// memory is bounded by the budget whatever the number of deltas in flight, of files per delta
/// or their sizes. Before it, four big deltas packing at once took the supervisor from about 60 to
/// 180 MiB, and still to 70-85 MiB with one threaded compressor at a time (the three others each
/// compressed on their own thread meanwhile).
///
/// A compression that needs more than the whole budget (a high level's window) takes all of it:
/// it runs alone. The wait is strictly first come, first served, so a big file is never starved
/// by a stream of small ones. Waiting never holds a thread: it happens before the blocking work.
public final class CompressionBudget: Sendable {
    /// The bytes shared.
    public let limit: Int

    private let state: Mutex<State>
    /// Called once for each take that has to wait (a metric).
    private let onWait: @Sendable () -> Void

    private struct Waiter {
        let id: UInt64
        let amount: Int
        let continuation: CheckedContinuation<Bool, Never>
    }

    private struct State: ~Copyable {
        var inUse = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var waits: UInt64 = 0
    }

    public init(bytes: Int, onWait: @escaping @Sendable () -> Void = {}) {
        limit = max(1, bytes)
        state = Mutex(State())
        self.onWait = onWait
    }

    /// Bytes taken by compressions running now.
    public var inUse: Int { state.withLock { $0.inUse } }
    /// How many takes have had to wait, since the start.
    public var waits: UInt64 { state.withLock { $0.waits } }

    /// Waits until `amount` bytes (at most ``limit``) are free and no earlier take is waiting, and
    /// takes them; returns what was taken, for ``release(_:)``. Throws `CancellationError` when
    /// the task is cancelled while it waits (nothing taken then).
    public func take(_ amount: Int) async throws -> Int {
        let amount = min(max(amount, 0), limit)
        let id: UInt64? = state.withLock { state in
            if Self.takeIfFree(&state, amount, limit: limit) { return nil }
            state.nextID += 1
            state.waits += 1
            return state.nextID
        }
        guard let id else { return amount }
        onWait()
        let granted = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { state in
                    // Cancelled before it queued: the handler found nothing to remove.
                    if Task.isCancelled { return false }
                    if Self.takeIfFree(&state, amount, limit: limit) { return true }
                    state.waiters.append(Waiter(id: id, amount: amount, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let (removed, ready) = state.withLock { state -> (Waiter?, [Waiter]) in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return (nil, []) }
                let removed = state.waiters.remove(at: index)
                // The head may have gone: whoever was behind it and fits runs now.
                return (removed, Self.admit(&state, limit: limit))
            }
            removed?.continuation.resume(returning: false)
            for waiter in ready { waiter.continuation.resume(returning: true) }
        }
        guard granted else { throw CancellationError() }
        return amount
    }

    /// Gives back what ``take(_:)`` returned, and lets the waiters that now fit run.
    public func release(_ amount: Int) {
        let ready = state.withLock { state -> [Waiter] in
            state.inUse -= amount
            precondition(state.inUse >= 0, "CompressionBudget: released more than was taken")
            return Self.admit(&state, limit: limit)
        }
        for waiter in ready { waiter.continuation.resume(returning: true) }
    }

    /// Takes `amount` at once if nobody waits and it fits beside what runs.
    private static func takeIfFree(_ state: inout State, _ amount: Int, limit: Int) -> Bool {
        guard state.waiters.isEmpty && state.inUse + amount <= limit else { return false }
        state.inUse += amount
        return true
    }

    /// Takes the budget for waiters from the head, while the next one fits.
    private static func admit(_ state: inout State, limit: Int) -> [Waiter] {
        var ready: [Waiter] = []
        while let next = state.waiters.first, state.inUse + next.amount <= limit {
            state.inUse += next.amount
            ready.append(state.waiters.removeFirst())
        }
        return ready
    }
}
