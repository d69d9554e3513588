#if canImport(Glibc)
import Glibc
#endif

/// File-system operations with the durability discipline a storage system needs.
public enum Files {
    /// Whether anything exists at `path` (without following a final symlink).
    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Whether `path` is a directory.
    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Size of the file at `path`.
    public static func size(_ path: String) throws -> Int64 {
        var st = stat()
        try syscallRetrying("stat", path) { stat(path, &st) }
        return Int64(st.st_size)
    }

    /// Creates `path` and its parents with `mode`; succeeds if it is already a directory.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if isDirectory(path) { return }
        let parent = PathName.directory(of: path)
        if !parent.isEmpty, parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) == -1, Glibc.errno != EEXIST { throw SystemError("mkdir", path, errno: Glibc.errno) }
    }

    /// Names in a directory, sorted, without `.` and `..`.
    public static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw SystemError("opendir", path, errno: Glibc.errno) }
        defer { closedir(dir) }
        return names(in: dir).sorted()
    }

    /// The names an open directory stream holds, without `.` and `..`, in the order read.
    private static func names(in dir: OpaquePointer) -> [String] {
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Names in a directory as the bytes the file system holds (which need not be UTF-8),
    /// without `.` and `..`, in byte order.
    public static func listRaw(_ path: String) throws -> [[UInt8]] {
        guard let dir = opendir(path) else { throw SystemError("opendir", path, errno: Glibc.errno) }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Regular files below `root`, as relative paths, sorted; symlinks and other types are reported
    /// in `others` so a caller can refuse them.
    public static func walk(_ root: String) throws -> (files: [String], others: [String]) {
        var files: [String] = []
        var others: [String] = []
        func visit(_ relative: String) throws {
            let full = relative.isEmpty ? root : root + "/" + relative
            for name in try list(full) {
                let rel = relative.isEmpty ? name : relative + "/" + name
                var st = stat()
                try syscallRetrying("lstat", root + "/" + rel) { lstat(root + "/" + rel, &st) }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: try visit(rel)
                case S_IFREG: files.append(rel)
                default: others.append(rel)
                }
            }
        }
        try visit("")
        return (files.sorted(), others.sorted())
    }

    /// One entry found by ``walkBeneath(_:)``, with what `fstatat` said of it (not following links).
    public struct Entry: Sendable {
        /// The path relative to the root.
        public var path: String
        public var mode: mode_t
        public var uid: uid_t
        public var links: UInt64
        public var inode: UInt64
        public var size: Int64
        public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
        public var isRegular: Bool { mode & S_IFMT == S_IFREG }
    }

    /// Every entry below `root` (directories, files, links, anything), sorted by path, found
    /// relative to descriptors of their directories: a symlink is reported, never followed, and
    /// a directory swapped for a link during the walk is not entered.
    public static func walkBeneath(_ root: String) throws -> [Entry] {
        var entries: [Entry] = []
        func visit(_ directoryFD: Int32, _ relative: String) throws {
            guard let dir = fdopendir(directoryFD) else {
                close(directoryFD)
                throw SystemError("fdopendir", root + "/" + relative, errno: Glibc.errno)
            }
            defer { closedir(dir) }
            for name in names(in: dir).sorted() {
                let path = relative.isEmpty ? name : relative + "/" + name
                var st = stat()
                try syscallRetrying("fstatat", root + "/" + path) { fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) }
                let entry = Entry(path: path, mode: st.st_mode, uid: st.st_uid, links: UInt64(st.st_nlink), inode: UInt64(st.st_ino),
                                  size: Int64(st.st_size))
                entries.append(entry)
                if entry.isDirectory {
                    let child = try syscallRetrying("openat", root + "/" + path) {
                        openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    }
                    try visit(child, path)
                }
            }
        }
        let rootFD = try syscallRetrying("open", root) { open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        try visit(rootFD, "")
        return entries.sorted { $0.path < $1.path }
    }

    /// Removes `path` and everything below it; no error if it does not exist.
    public static func removeTree(_ path: String) throws {
        var info = stat()
        if lstat(path, &info) != 0 {
            if Glibc.errno == ENOENT { return }
            throw SystemError("lstat", path, errno: Glibc.errno)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            if unlink(path) != 0 && Glibc.errno != ENOENT { throw SystemError("unlink", path, errno: Glibc.errno) }
            return
        }
        let fd = try syscallRetrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        try removeContents(of: fd, path)
        if rmdir(path) != 0 && Glibc.errno != ENOENT { throw SystemError("rmdir", path, errno: Glibc.errno) }
    }

    /// Removes everything in the directory open as `descriptor` (which it takes and closes),
    /// descriptor-relative as ``walkBeneath(_:)`` walks: no link is followed. A directory
    /// without write permission (a sealed delta's) is given it first.
    private static func removeContents(of descriptor: Int32, _ path: String) throws {
        guard let dir = fdopendir(descriptor) else {
            close(descriptor)
            throw SystemError("fdopendir", path, errno: Glibc.errno)
        }
        defer { closedir(dir) }
        let directory = dirfd(dir)
        var madeWritable = false
        for name in names(in: dir) {
            var info = stat()
            if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
                if Glibc.errno == ENOENT { continue }
                throw SystemError("fstatat", path + "/" + name, errno: Glibc.errno)
            }
            let isDirectory = info.st_mode & S_IFMT == S_IFDIR
            if isDirectory {
                let child = try syscallRetrying("open", path + "/" + name) {
                    openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                }
                try removeContents(of: child, path + "/" + name)
            }
            while unlinkat(directory, name, isDirectory ? AT_REMOVEDIR : 0) != 0 {
                let error = Glibc.errno
                if error == EINTR { continue }
                if error == ENOENT { break }
                if (error == EACCES || error == EPERM) && !madeWritable {
                    madeWritable = true
                    _ = fchmod(directory, 0o700)
                    continue
                }
                throw SystemError("unlink", path + "/" + name, errno: error)
            }
        }
    }

    /// Renames atomically; both paths must be on one file system.
    public static func rename(_ from: String, _ to: String) throws {
        try syscallRetrying("rename", "\(from) -> \(to)") { Glibc.rename(from, to) }
    }

    /// Flushes a directory's entries (after creating, renaming or removing in it).
    public static func syncDirectory(_ path: String) throws {
        let fd = try syscallRetrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try syscallRetrying("fsync", path) { fsync(fd) }
    }

    /// Writes `bytes` so the file appears whole or not at all: temporary name, fsync, rename, fsync dir.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws {
        let directory = PathName.directory(of: path)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        do {
            let file = try PosixFile.create(temporary, mode: mode, exclusive: true)
            try file.write(bytes)
            try file.sync()
            try file.close()
            try rename(temporary, path)
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// The last `count` bytes of a file (all of it when it is shorter), read from where they
    /// start: a log's end without reading the log.
    public static func readTail(_ path: String, bytes count: Int) throws -> [UInt8] {
        let fd = try syscallRetrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var info = stat()
        try syscallRetrying("fstat", path) { fstat(fd, &info) }
        let start = max(0, Int64(info.st_size) - Int64(count))
        var out = [UInt8](repeating: 0, count: Int(Int64(info.st_size) - start))
        var filled = 0
        while filled < out.count {
            let n = try out.withUnsafeMutableBytes { buffer in
                try syscallRetrying("pread", path) {
                    pread(fd, buffer.baseAddress! + filled, buffer.count - filled, off_t(start) + off_t(filled))
                }
            }
            if n == 0 { break }
            filled += n
        }
        return Array(out[..<filled])
    }

    /// Reads a whole small file (state, manifests, reports).
    public static func readAll(_ path: String, limit: Int = 64 << 20) throws -> [UInt8] {
        let file = try PosixFile.openForReading(path)
        var out: [UInt8] = []
        try file.forEachChunk(chunkSize: 64 << 10) { chunk in
            guard out.count + chunk.count <= limit else { throw SystemError("read", path, errno: EFBIG) }
            out.append(contentsOf: chunk)
        }
        return out
    }

    /// The canonical absolute path (symlinks resolved).
    public static func realPath(_ path: String) throws -> String {
        guard let resolved = realpath(path, nil) else { throw SystemError("realpath", path, errno: Glibc.errno) }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Bytes available to an unprivileged writer on the file system of `path`, or nil if unknown.
    public static func availableBytes(_ path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Makes a regular file read-only for everyone.
    public static func makeReadOnly(_ path: String) throws {
        try syscallRetrying("chmod", path) { chmod(path, 0o444) }
    }
}
