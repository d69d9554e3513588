import CDeltaSealLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Removes registered temporary directories when the process is told to stop (SIGTERM, SIGINT,
/// SIGHUP), then exits with 128 + the signal, as a shell reports a death by that signal.
///
/// The signal handler only writes a byte to a pipe; a dedicated thread does the removal, so no
/// unsafe work runs inside the handler, whichever thread the signal lands on.
public enum CleanupOnSignal {
    private static let registry = Registry()

    /// Installs the handlers (once; later calls do nothing).
    public static func install() {
        registry.installOnce()
    }

    /// Removes `path` (recursively) if a stop signal arrives before ``unregister(_:)``.
    public static func register(_ path: String) { registry.update { $0.insert(path) } }

    /// Stops watching over `path`.
    public static func unregister(_ path: String) { registry.update { $0.remove(path) } }

    private final class Registry: Sendable {
        private let state = Mutex<(paths: Set<String>, installed: Bool)>(([], false))

        func update(_ body: (inout Set<String>) -> Void) { state.withLock { body(&$0.paths) } }

        func installOnce() {
            state.withLock { state in
                guard !state.installed else { return }
                state.installed = true
                var fds: [Int32] = [0, 0]
                guard pipe(&fds) == 0 else { return }
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                let reader = fds[0]
                NamedThread.start("ds-signals", stackSize: 256 << 10) { [self] in
                    var byte: UInt8 = 0
                    while read(reader, &byte, 1) != 1 {}
                    let victims = self.state.withLock { $0.paths }
                    for path in victims { try? Files.removeTree(path) }
                    _exit(128 + Int32(byte))
                }
                _ = dsl_signals_to_pipe(fds[1])
            }
        }
    }
}
