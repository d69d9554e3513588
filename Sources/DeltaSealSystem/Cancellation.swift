import CDeltaSealLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The cancellation of one piece of blocking work, as the code doing it sees it: set when the task
/// that waits for the work is cancelled (``BlockingExecutor/runCancellable(_:)``), read by the
/// work between steps (a file copy between chunks, an S3 transfer from libcurl's progress
/// callback, a retry's backoff), which then stops with `CancellationError`.
///
/// Only the executor sets it; work that was never given one gets ``never``.
public final class Cancellation: Sendable {
    private struct State {
        var cancelled = false
        /// An eventfd a backoff sleeps on, made by the first sleep; -1 until then.
        var wakeup: Int32 = -1
    }
    private let state = Mutex(State())

    /// A fresh, not cancelled one.
    init() {}

    deinit {
        let fd = state.withLock { $0.wakeup }
        if fd >= 0 { close(fd) }
    }

    /// One that is never cancelled: for callers outside any task (tools, tests of the blocking layer).
    public static let never = Cancellation()

    /// Whether the work should stop.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Throws `CancellationError` if the work should stop.
    public func check() throws {
        if isCancelled { throw CancellationError() }
    }

    /// Marks the work cancelled and wakes a sleep in progress. Only the executor calls it (and
    /// `never` is never passed to it).
    func cancel() {
        state.withLock { state in
            state.cancelled = true
            if state.wakeup >= 0 {
                var one: UInt64 = 1
                _ = write(state.wakeup, &one, 8)
            }
        }
    }

    private static func nowMs() -> Int64 { Int64(WallClock.monotonicNanoseconds() / 1_000_000) }

    /// Sleeps `seconds` (a retry's backoff), or until cancelled: then `CancellationError`.
    public func sleep(seconds: Double) throws {
        guard seconds > 0 else { return try check() }
        let fd = state.withLock { state -> Int32? in
            if state.cancelled { return nil }
            if state.wakeup < 0 { state.wakeup = dsl_semaphore_eventfd() }
            return state.wakeup
        }
        guard let fd else { throw CancellationError() }
        var remaining = Int64(min(seconds, 3600) * 1000)
        let deadline = Self.nowMs() + remaining
        while remaining > 0 {
            if fd < 0 {
                // No eventfd to be woken by (descriptors exhausted): sleep in short steps instead.
                usleep(useconds_t(min(remaining, 50) * 1000))
                try check()
            } else {
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&entry, 1, Int32(remaining)) > 0 { break }
            }
            remaining = deadline - Self.nowMs()
        }
        try check()
    }
}
