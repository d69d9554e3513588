import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// The threads the process starts itself, each named so that `top -H`, `ps -L` and
/// `/proc/<pid>/task/*/comm` tell them apart. Foundation's `Thread.name` never reaches the kernel
/// on Linux (measured: a named `Thread` shows the process's name), so the thread names itself.
/// Plain pthreads: the writer and the verifier link no Foundation for this.
public enum NamedThread {
    /// The kernel keeps this many bytes of a thread's name.
    public static let maximumNameLength = 15

    /// Starts `body` on a new thread called `name` (at most ``maximumNameLength`` bytes).
    public static func start(_ name: String, stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        precondition(name.utf8.count <= maximumNameLength, "thread name \(name) is over \(maximumNameLength) bytes")
        let start = Unmanaged.passRetained(Start {
            nameCurrent(name)
            body()
        }).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        _ = pthread_attr_setstacksize(&attributes, max(stackSize, 64 << 10))
        _ = pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { argument in
            Unmanaged<Start>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, start)
        precondition(result == 0, "pthread_create \(name): \(String(cString: strerror(result)))")
    }

    /// What a new thread runs, handed to it through pthread_create's argument.
    private final class Start {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Names the calling thread.
    public static func nameCurrent(_ name: String) {
        _ = dsl_name_thread(name)
    }

    /// The names of this process's threads now, one per thread.
    public static func names() -> [String] {
        ((try? Files.list("/proc/self/task")) ?? []).compactMap { task in
            (try? Files.readAll("/proc/self/task/\(task)/comm"))
                .map { String(decoding: $0.prefix { $0 != 10 }, as: UTF8.self) }
        }
    }
}
