#if canImport(Glibc)
import Glibc
#endif

/// Whether some process still has a file open for writing: a producer writing a batch in place.
///
/// First a read lease (``FileLease``, `F_RDLCK`): the kernel grants it only while no process has
/// the file open for writing, in O(1) whatever runs on the host; it is released at once, and a
/// producer opening the file meanwhile breaks it with SIGURG, which is ignored. Where a
/// lease cannot be taken (the file belongs to another user and this process lacks `CAP_LEASE`,
/// or the file system has no leases), a `/proc` scan looks for descriptors opened for writing
/// and shared writable mappings of the file.
public enum OpenForWriting {
    /// The answer, and how it was found.
    public enum Answer: Equatable, Sendable {
        /// Nobody writes the file.
        case closed
        /// Someone may: the lease was refused, or these processes hold it for writing.
        case open(holders: [OpenFileScan.Holder])
    }

    /// Checks `path` (absolute).
    public static func check(_ path: String) -> Answer {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return .closed }
        defer { close(fd) }
        switch FileLease.probe(fd, .read) {
        case .unshared: return .closed
        case .shared: return .open(holders: OpenFileScan.writers(of: path))
        case .unavailable:
            let holders = OpenFileScan.writers(of: path)
            return holders.isEmpty ? .closed : .open(holders: holders)
        }
    }
}
