import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// Whether any open file description of a file exists besides the caller's, asked of the kernel.
///
/// A write lease (`F_SETLEASE`, `F_WRLCK`) on a read-only descriptor is granted only while the
/// file has no other open file description anywhere: no descriptor in any process of any user
/// (one in flight over a unix socket included), no mapping (shared or private, whether or not
/// its descriptor was closed), not executing. It is released at once. The cost is one `open`
/// and two `fcntl` per file, whatever runs on the host. It says nothing of `O_PATH` descriptors,
/// directories, or working and root directories: those hold no open file description of the file.
///
/// A read lease (``Kind/read``) asks less: it is granted while no open file description of the
/// file is writable, which is how intake tells a batch still being written (`OpenForWriting`).
public enum FileLease {
    /// Which lease to ask for.
    public enum Kind: Sendable {
        /// Granted while the file has no other open file description at all.
        case write
        /// Granted while no open file description of the file is writable.
        case read
    }

    /// What the kernel said.
    public enum Answer: Sendable, Equatable {
        /// Granted: at that instant the caller's descriptor was the file's only one (a read
        /// lease: the file had no writable open file description).
        case unshared
        /// Refused (`EAGAIN`): open elsewhere, mapped, or executing (a read lease: open for writing).
        case shared
        /// No lease can be taken here: not the file's owner without `CAP_LEASE` (`EACCES`), a
        /// file system without leases or `fs.leases-enable` 0 (`EINVAL`).
        case unavailable(errno: Int32)
    }

    /// Asks about the file open on `fd`, which must be open read-only (a writable descriptor
    /// of the caller's own is itself a writer, and the lease is then always refused).
    public static func probe(_ fd: Int32, _ kind: Kind = .write) -> Answer {
        // While a lease is held, another process opening the file breaks it, and the kernel
        // signals the holder: SIGIO by default, which ends a process that does not handle it.
        // SIGURG is ignored unless handled; nothing here handles it.
        guard dsl_fcntl_setsig(fd, SIGURG) == 0 else { return .unavailable(errno: errno) }
        if dsl_fcntl_setlease(fd, kind == .write ? dsl_lease_write() : dsl_lease_read()) == 0 {
            _ = dsl_fcntl_setlease(fd, dsl_lease_unlock())
            return .unshared
        }
        let code = errno
        return code == EAGAIN ? .shared : .unavailable(errno: code)
    }
}
