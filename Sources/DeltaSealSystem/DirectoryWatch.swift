import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// What happened to the entries of one directory, from inotify, read without blocking.
public final class DirectoryWatch: Sendable {
    // Reads from several threads at once would split the events between them; its one owner,
    // the intake loop, calls `events()`. `deinit` closes the descriptor once.
    private let fd: Int32

    /// One change to an entry.
    public enum Event: Equatable, Sendable {
        /// The entry arrived by rename: whole, as far as its producer is concerned.
        case movedIn([UInt8])
        /// The entry was created or written in place.
        case written([UInt8])
        /// The entry left (renamed away or deleted).
        case gone([UInt8])
        /// The kernel dropped events: what is known may be stale.
        case overflow
    }

    /// Watches `path`.
    public init(_ path: String) throws {
        fd = try syscallRetrying("inotify_init1", path) { dsl_inotify_init() }
        do {
            try syscallRetrying("inotify_add_watch", path) { dsl_inotify_watch(fd, path) }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// The events since the last call, oldest first.
    public func events() -> [Event] {
        var out: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return out }
            var offset = 0
            // struct inotify_event: wd (4), mask (4), cookie (4), len (4), name[len] NUL-padded.
            while offset + 16 <= n {
                let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                let length = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
                let name = Array(buffer[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 })
                offset += 16 + length
                if mask & dsl_in_q_overflow() != 0 { out.append(.overflow); continue }
                if mask & dsl_in_moved_to() != 0 { out.append(.movedIn(name)) }
                else if mask & (dsl_in_create() | dsl_in_modify() | dsl_in_close_write()) != 0 { out.append(.written(name)) }
                else if mask & (dsl_in_moved_from() | dsl_in_delete()) != 0 { out.append(.gone(name)) }
            }
        }
    }
}
