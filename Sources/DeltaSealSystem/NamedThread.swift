import CDeltaSealLinux
import Foundation

/// The threads the process starts itself, each named so that `top -H`, `ps -L` and
/// `/proc/<pid>/task/*/comm` tell them apart. Foundation's `Thread.name` never reaches the kernel
/// on Linux (measured: a named `Thread` shows the process's name), so the thread names itself.
public enum NamedThread {
    /// The kernel keeps this many bytes of a thread's name.
    public static let maximumNameLength = 15

    /// Starts `body` on a new thread called `name` (at most ``maximumNameLength`` bytes).
    public static func start(_ name: String, stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        precondition(name.utf8.count <= maximumNameLength, "thread name \(name) is over \(maximumNameLength) bytes")
        let thread = Thread {
            nameCurrent(name)
            body()
        }
        thread.stackSize = stackSize
        thread.start()
    }

    /// Names the calling thread.
    public static func nameCurrent(_ name: String) {
        _ = dsl_name_thread(name)
    }

    /// The names of this process's threads now, one per thread.
    public static func names() -> [String] {
        ((try? Files.list("/proc/self/task")) ?? []).compactMap { task in
            (try? Files.readAll("/proc/self/task/\(task)/comm"))
                .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .newlines) }
        }
    }
}
