import DeltaSealSystem
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a spool, held for the life of the process: a second supervisor on the
/// same spool is refused instead of racing the first.
public final class SpoolLock: Sendable {
    private let fd: Int32
    private let path: String

    /// The locks this process holds, by path. A lock file that names this process but is not
    /// in here is held only by a child between its fork and its exec (the lock belongs to the
    /// open file, which a fork shares until exec closes it): that hold ends within moments.
    private static let heldHere = Mutex<Set<String>>([])

    /// Another process holds the lock.
    public struct Held: Error, CustomStringConvertible {
        public let spool: String
        public let holder: String
        public var description: String { "another supervisor (\(holder)) is running on spool \(spool)" }
    }

    /// Takes the lock or throws ``Held``.
    public init(spool: String) throws {
        let path = spool + "/supervisor.lock"
        let fd = try syscallRetrying("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        var waitedMs = 0
        while flock(fd, LOCK_EX | LOCK_NB) == -1 {
            let holder = ((try? Files.readAll(path, limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let heldByAForkOfOurs = holder == "pid \(getpid())" && !Self.heldHere.withLock { $0.contains(path) }
            if heldByAForkOfOurs && waitedMs < 5000 {
                usleep(10_000)
                waitedMs += 10
                continue
            }
            close(fd)
            throw Held(spool: spool, holder: holder.isEmpty ? "pid unknown" : holder)
        }
        ftruncate(fd, 0)
        let text = Array("pid \(getpid())\n".utf8)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        Self.heldHere.withLock { _ = $0.insert(path) }
        self.fd = fd
        self.path = path
    }

    deinit {
        Self.heldHere.withLock { _ = $0.remove(path) }
        close(fd)
    }

    /// Whether some process holds the lock of `spool` now (checked without taking it for long).
    public static func isHeld(spool: String) -> Bool {
        let fd = open(spool + "/supervisor.lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }
}
