#if canImport(Glibc)
import Glibc
#endif

/// Whether another user could run a file. `access(2)` answers for the caller (root can run
/// almost anything); a writer runs as its own user, so this reads the mode bits and owners of the
/// file and of every directory above it, as the kernel would for that user and group (ACLs and
/// capabilities aside). A script's interpreter (`#!`) is checked the same way, and the script
/// must be readable, since the interpreter opens it as that user.
public enum ExecutableAccess {
    /// Why `uid`/`gid` cannot execute `path` (absolute), or nil when it can.
    public static func problem(_ path: String, uid: uid_t, gid: gid_t) -> String? {
        problem(path, uid: uid, gid: gid, depth: 0)
    }

    private static func problem(_ path: String, uid: uid_t, gid: gid_t, depth: Int) -> String? {
        guard path.hasPrefix("/") else { return "\(path) is not an absolute path" }
        guard let resolved = realpath(path, nil) else { return "\(path) does not exist (\(String(cString: strerror(errno))))" }
        let real = String(cString: resolved)
        free(resolved)
        var info = stat()
        guard stat(real, &info) == 0 else { return "\(path): \(String(cString: strerror(errno)))" }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return "\(path) is not a regular file" }
        var directory = PathName.directory(of: real)
        while true {
            var dirInfo = stat()
            guard stat(directory, &dirInfo) == 0 else { return "\(directory): \(String(cString: strerror(errno)))" }
            if !allowed(dirInfo, uid: uid, gid: gid, bit: 1) {
                return "\(directory) is not searchable (x) by uid \(uid) gid \(gid), so \(path) is out of its reach"
            }
            if directory == "/" { break }
            directory = PathName.directory(of: directory)
        }
        if uid == 0 {
            guard info.st_mode & 0o111 != 0 else { return "\(path) has no execute bit" }
        } else if !allowed(info, uid: uid, gid: gid, bit: 1) {
            return "\(path) is not executable by uid \(uid) gid \(gid) (mode \(String(info.st_mode & 0o7777, radix: 8)), owner \(info.st_uid):\(info.st_gid))"
        }
        guard let interpreter = shebang(real), depth < 4 else { return nil }
        if uid != 0 && !allowed(info, uid: uid, gid: gid, bit: 4) {
            return "\(path) is a script not readable by uid \(uid) gid \(gid), so its interpreter cannot run it"
        }
        return problem(interpreter, uid: uid, gid: gid, depth: depth + 1).map { "interpreter of \(path): \($0)" }
    }

    /// Whether `bit` (1 execute, 2 write, 4 read) is granted to the user by the owner, group or
    /// other class, whichever applies (only one does, as in the kernel).
    static func allowed(_ info: stat, uid: uid_t, gid: gid_t, bit: mode_t) -> Bool {
        if uid == 0 { return bit != 1 || info.st_mode & 0o111 != 0 || (info.st_mode & S_IFMT) == S_IFDIR }
        if info.st_uid == uid { return info.st_mode & (bit << 6) != 0 }
        if info.st_gid == gid { return info.st_mode & (bit << 3) != 0 }
        return info.st_mode & bit != 0
    }

    /// The interpreter a `#!` line names, if the file starts with one.
    static func shebang(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(fd, &buffer, buffer.count)
        guard count > 2, buffer[0] == 0x23, buffer[1] == 0x21 else { return nil }
        let line = buffer[2..<count].prefix { $0 != 0x0A }
        let word = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).first.map { String(decoding: $0, as: UTF8.self) }
        return word
    }
}
