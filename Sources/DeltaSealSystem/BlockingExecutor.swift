import CDeltaSealLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of dedicated threads for blocking work (SQLite, zstd, libcurl, fsync), so none
/// of it runs on the cooperative pool the supervisor's tasks share.
///
/// Jobs run in the order they were queued, on at most `limit` threads, started as needed and
/// kept. Idle threads sleep in `read` on an eventfd semaphore: one count per queued job. A job
/// whose task is cancelled before a thread takes it does not run and throws `CancellationError`;
/// once running, it runs to its end (blocking work cannot be interrupted from outside; the S3
/// store stops its own transfers).
///
/// A job must never wait for another job of the same executor: with every thread waiting, none
/// would be left to run what they wait for.
public final class BlockingExecutor: Sendable {
    /// The name of its threads, as `top -H` shows them.
    public static let threadName = "ds-blocking"
    /// The most threads it starts.
    public let limit: Int

    private let semaphore: Int32
    private let state: Mutex<State>

    private struct State: ~Copyable {
        var queue: [Job?] = []
        var head = 0
        var threads = 0
        var idle = 0
        var running = 0
    }

    /// One queued piece of work: its body, and the continuation it resumes exactly once.
    private final class Job: Sendable {
        let body: @Sendable () -> Void
        let cancelled: @Sendable () -> Void
        /// false once a thread took it or a cancellation dropped it; whoever flips it owns the job.
        let pending = Atomic<Bool>(true)
        init(body: @escaping @Sendable () -> Void, cancelled: @escaping @Sendable () -> Void) {
            self.body = body
            self.cancelled = cancelled
        }
    }

    /// An executor that starts at most `threads` threads (at least 1).
    public init(threads: Int) {
        limit = max(1, threads)
        let fd = dsl_semaphore_eventfd()
        precondition(fd >= 0, "eventfd: \(String(cString: strerror(errno)))")
        semaphore = fd
        state = Mutex(State())
    }

    /// What the executor is doing, for metrics.
    public struct Load: Sendable, Equatable {
        /// Threads started.
        public var threads: Int
        /// Jobs running now.
        public var running: Int
        /// Jobs waiting for a thread.
        public var queued: Int
    }

    /// Its load now.
    public var load: Load {
        state.withLock { Load(threads: $0.threads, running: $0.running, queued: $0.queue.count - $0.head) }
    }

    /// Runs `body` on one of the executor's threads and returns its result. A task cancelled
    /// before the job starts gets `CancellationError` and the body never runs.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let slot = Slot()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                let job = Job(body: {
                    do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
                }, cancelled: {
                    continuation.resume(throwing: CancellationError())
                })
                slot.job.withLock { $0 = job }
                // The handler may have run before the job existed: then it is dropped here.
                if slot.cancelled.load(ordering: .acquiring) {
                    drop(job)
                } else {
                    enqueue(job)
                }
            }
        } onCancel: {
            slot.cancelled.store(true, ordering: .releasing)
            if let job = slot.job.withLock({ $0 }) { drop(job) }
        }
    }

    /// Runs `body` on one of the executor's threads and returns its result, like ``run(_:)``; if
    /// the task is cancelled while `body` runs, its ``Cancellation`` is set, and `body`, which
    /// checks it between steps, stops with `CancellationError`.
    public func runCancellable<T: Sendable>(_ body: @escaping @Sendable (Cancellation) throws -> T) async throws -> T {
        let cancellation = Cancellation()
        return try await withTaskCancellationHandler {
            try await run { try body(cancellation) }
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Runs `body` on one of the executor's threads even in a cancelled task: for work that must
    /// happen once decided (a state record written, a process group stopped).
    public func runUncancellable<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            enqueue(Job(body: {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }, cancelled: {}))
        }
    }

    /// Where a cancellation handler finds the job it drops.
    private final class Slot: Sendable {
        let job = Mutex<Job?>(nil)
        let cancelled = Atomic<Bool>(false)
    }

    private func enqueue(_ job: Job) {
        let startThread = state.withLock { state -> Bool in
            state.queue.append(job)
            // A thread is started only when every one there is busy: idle ones are woken instead.
            guard state.idle == 0 || state.idle < state.queue.count - state.head, state.threads < limit else { return false }
            state.threads += 1
            return true
        }
        if startThread {
            NamedThread.start(Self.threadName, stackSize: 1 << 20) { [self] in work() }
        }
        var one: UInt64 = 1
        while write(semaphore, &one, 8) == -1, errno == EINTR {}
    }

    /// A cancelled job that no thread took yet: resumed with `CancellationError`, never run.
    private func drop(_ job: Job) {
        if job.pending.exchange(false, ordering: .acquiringAndReleasing) { job.cancelled() }
    }

    private func work() {
        while true {
            state.withLock { $0.idle += 1 }
            var count: UInt64 = 0
            while read(semaphore, &count, 8) == -1, errno == EINTR {}
            let job = state.withLock { state -> Job? in
                state.idle -= 1
                guard state.head < state.queue.count else { return nil }
                let job = state.queue[state.head]
                state.queue[state.head] = nil
                state.head += 1
                if state.head > 64, state.head * 2 > state.queue.count {
                    state.queue.removeFirst(state.head)
                    state.head = 0
                }
                return job
            }
            guard let job, job.pending.exchange(false, ordering: .acquiringAndReleasing) else { continue }
            state.withLock { $0.running += 1 }
            job.body()
            state.withLock { $0.running -= 1 }
        }
    }
}
