import Synchronization

/// How many multithreaded zstd compressors may run at once in this process, shared by every
/// delta in flight. A multithreaded compressor holds its workers' job buffers (tens of MiB at
/// level 3); four big deltas packing at once each with one took the supervisor from about 60 to
/// 180 MiB. A file that finds no slot free is compressed on its own thread instead (a few MiB),
/// never waits: the threaded one already keeps the cores busy, and a thread of the blocking
/// executor must not block on another's work.
public final class CompressionBudget: Sendable {
    /// The process's budget: one threaded compressor at a time.
    public static let process = CompressionBudget(threaded: 1)

    private let free: Mutex<Int>

    public init(threaded: Int) { free = Mutex(threaded) }

    /// Takes a slot for a threaded compressor if one is free; `release()` it when done.
    public func tryTakeThreaded() -> Bool {
        free.withLock { count in
            guard count > 0 else { return false }
            count -= 1
            return true
        }
    }

    public func release() { free.withLock { $0 += 1 } }
}
