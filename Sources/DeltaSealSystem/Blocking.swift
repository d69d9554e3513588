import Synchronization

/// Runs blocking work (SQLite, zstd, file and network I/O) on the process's ``BlockingExecutor``,
/// a bounded pool of dedicated threads, so it never occupies the cooperative pool the
/// supervisor's tasks run on. Waiting for a child is not blocking work: ``ChildMonitor`` does it.
public enum Blocking {
    /// The threads the executor may start when nothing configured it (the supervisor sets it from
    /// `concurrency.blocking_threads` before its first job).
    public static let defaultThreads = 16

    private static let configured = Mutex<BlockingExecutor?>(nil)

    /// The executor every `run` uses; the first use fixes it.
    public static var executor: BlockingExecutor {
        configured.withLock { executor in
            if let executor { return executor }
            let made = BlockingExecutor(threads: defaultThreads)
            executor = made
            return made
        }
    }

    /// Sizes the executor; false if it already exists with another size (it was used before).
    @discardableResult
    public static func configure(threads: Int) -> Bool {
        configured.withLock { executor in
            if let executor { return executor.limit == max(1, threads) }
            executor = BlockingExecutor(threads: threads)
            return true
        }
    }

    /// Runs `body` on the executor and returns its result; `CancellationError` if the task is
    /// cancelled before a thread takes it.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await executor.run(body)
    }

    /// Runs `body` on the executor; cancelling the task while it runs sets the ``Cancellation``
    /// `body` checks between steps (store transfers, copies, backoffs).
    public static func runCancellable<T: Sendable>(_ body: @escaping @Sendable (Cancellation) throws -> T) async throws -> T {
        try await executor.runCancellable(body)
    }

    /// Runs `body`, which streams bytes into `sink`, on the executor as ``runCancellable(_:)``
    /// does. `sink` is not `Sendable`: it holds its caller's state (a hash, a decompressor, a
    /// file). It is safe to call it from the executor's thread because it is called only while
    /// `body` runs, one call after another, and its caller is suspended in this function until
    /// `body` has returned; resuming the caller orders every call before what the caller does next.
    public static func stream<T: Sendable>(into sink: @escaping (UnsafeRawBufferPointer) throws -> Void,
                                           _ body: @escaping @Sendable (Cancellation, @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> T) async throws -> T {
        nonisolated(unsafe) let lent = sink
        return try await executor.runCancellable { cancellation in try body(cancellation) { try lent($0) } }
    }

    /// Runs `body` on the executor even in a cancelled task (a decided state save, a cleanup).
    public static func runUncancellable<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await executor.runUncancellable(body)
    }

    /// Runs `body`, which cannot fail, the same way: cleanups that must happen in a cancelled task too.
    public static func runQuietly(_ body: @escaping @Sendable () -> Void) async {
        _ = try? await executor.runUncancellable { body() }
    }
}
