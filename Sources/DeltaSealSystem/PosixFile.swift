import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// An owned file descriptor, opened close-on-exec so no writer inherits it.
public final class PosixFile: @unchecked Sendable {
    // Safe: one owner at a time uses it (a read loop on one thread); `fd` changes only in
    // `close`, by that owner.
    /// The descriptor, valid until ``close()``.
    public private(set) var fd: Int32
    /// The path it was opened from, for error messages.
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    /// Opens for reading.
    public static func openForReading(_ path: String) throws -> PosixFile {
        let fd = try syscallRetrying("open", path) { Glibc.open(path, O_RDONLY | O_CLOEXEC) }
        return PosixFile(fd: fd, path: path)
    }

    /// An entry that is not a regular file where one was required.
    public struct NotRegularFile: Error, CustomStringConvertible, Sendable {
        /// The path looked at.
        public let path: String
        /// What it is instead: `directory`, `symlink`, `fifo`, `socket`, `device`.
        public let kind: String
        public var description: String { "\(path) is a \(kind), not a regular file" }
    }

    /// Opens `relative` beneath the directory `root` for reading without following any symlink
    /// below `root` and without blocking (a FIFO cannot stall the caller), and only if it is a
    /// regular file. Throws ``NotRegularFile`` for anything else, ``SystemError`` otherwise.
    public static func openRegular(beneath root: String, relative: String) throws -> PosixFile {
        let components = relative.split(separator: "/").map(String.init)
        var directory = try syscallRetrying("open", root) { Glibc.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { Glibc.close(directory) }
        var walked = root
        for component in components.dropLast() {
            walked += "/" + component
            let next = Glibc.openat(directory, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next == -1 {
                let code = Glibc.errno
                if code == ELOOP || code == ENOTDIR { throw NotRegularFile(path: walked, kind: try kindOf(directory, component)) }
                throw SystemError("open", walked, errno: code)
            }
            Glibc.close(directory)
            directory = next
        }
        let path = root + "/" + relative
        let fd = Glibc.openat(directory, components.last ?? ".", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd == -1 {
            let code = Glibc.errno
            if code == ELOOP { throw NotRegularFile(path: path, kind: "symlink") }
            throw SystemError("open", path, errno: code)
        }
        let file = PosixFile(fd: fd, path: path)
        var st = stat()
        try syscallRetrying("fstat", path) { Glibc.fstat(fd, &st) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw NotRegularFile(path: path, kind: kindName(st.st_mode)) }
        // Reads of a regular file do not block anyway; clear the flag so it behaves as usual.
        _ = dsl_fcntl_setfl(fd, dsl_fcntl_getfl(fd) & ~O_NONBLOCK)
        return file
    }

    private static func kindOf(_ directory: Int32, _ name: String) throws -> String {
        var st = stat()
        guard fstatat(directory, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return "unreadable entry" }
        return kindName(st.st_mode)
    }

    /// A file type's name, for messages.
    public static func kindName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "regular file"
        case S_IFDIR: return "directory"
        case S_IFLNK: return "symlink"
        case S_IFIFO: return "fifo"
        case S_IFSOCK: return "socket"
        case S_IFCHR, S_IFBLK: return "device"
        default: return "file of unknown type"
        }
    }

    /// Creates (or truncates) for writing with `mode`.
    public static func create(_ path: String, mode: mode_t = 0o644, exclusive: Bool = false) throws -> PosixFile {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let fd = try syscallRetrying("open", path) { Glibc.open(path, flags, mode) }
        return PosixFile(fd: fd, path: path)
    }

    /// Reads up to `buffer.count` bytes; 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try syscallRetrying("read", path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Reads until `buffer` is full or the file ends; returns the count read.
    public func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[total...]))
            if n == 0 { break }
            total += n
        }
        return total
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = try syscallRetrying("write", path) {
                Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            }
            offset += n
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Flushes data and metadata to stable storage.
    public func sync() throws {
        try syscallRetrying("fsync", path) { Glibc.fsync(fd) }
    }

    /// The file's inode number.
    public func inode() throws -> UInt64 {
        var st = stat()
        try syscallRetrying("fstat", path) { Glibc.fstat(fd, &st) }
        return UInt64(st.st_ino)
    }

    /// Makes the open file read-only for everyone (`fchmod`: the file itself, whatever its path
    /// now names).
    public func makeReadOnly() throws {
        try syscallRetrying("fchmod", path) { Glibc.fchmod(fd, 0o444) }
    }

    /// The file's size in bytes.
    public func size() throws -> Int64 {
        var st = stat()
        try syscallRetrying("fstat", path) { Glibc.fstat(fd, &st) }
        return Int64(st.st_size)
    }

    /// Closes the descriptor; reports a failed close (which can mean lost writes on NFS).
    public func close() throws {
        guard fd >= 0 else { return }
        let result = Glibc.close(fd)
        let code = Glibc.errno
        fd = -1
        if result == -1 && code != EINTR { throw SystemError("close", path, errno: code) }
    }

    /// Calls `body` with each chunk of the file, in order, using one buffer of `chunkSize` bytes.
    public func forEachChunk(chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = try read(into: buffer)
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
        }
    }
}
