import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A flag that is set once and read from any thread.
public final class OnceFlag: Sendable {
    private let value = Atomic<Bool>(false)
    public init() {}
    /// Sets the flag.
    public func set() { value.store(true, ordering: .releasing) }
    /// Whether the flag was set.
    public var isSet: Bool { value.load(ordering: .acquiring) }
}

/// A plain mutex for the few places that need one.
public final class PThreadMutex: @unchecked Sendable {
    // Safe: it is a mutex. Kept for the S3 store's state that holds non-Sendable curl handles
    // and for the C-adjacent code; new code uses `Synchronization.Mutex`.
    private var mutex = pthread_mutex_t()
    public init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    /// Runs `body` holding the lock.
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return try body()
    }
}
