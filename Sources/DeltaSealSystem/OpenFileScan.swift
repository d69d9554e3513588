#if canImport(Glibc)
import Glibc
#endif

/// Finds processes that hold files under a directory open, by descriptor or by memory mapping,
/// or that work inside it (current or root directory), reading `/proc/<pid>/fd`, `/proc/<pid>/maps`,
/// `/proc/<pid>/cwd` and `/proc/<pid>/root`: of every process, of one user's, or of given ones.
public enum OpenFileScan {
    /// One process holding one file.
    public struct Holder: Sendable, Equatable, Codable {
        public var pid: Int32
        public var command: String
        public var path: String
        /// `fd N`, `mmap`, `cwd` or `root`.
        public var how: String
    }

    /// The result of one scan.
    public struct Result: Sendable {
        /// Processes holding files under the directory.
        public var holders: [Holder]
        /// Processes whose descriptors could not be read (another user's, without privilege).
        public var uninspectable: Int
        /// `/proc` entries of processes looked at (listed; `stat`ed too, for one user's).
        public var seen = 0
        /// Processes whose descriptors, maps and directories were read.
        public var inspected = 0

        init(holders: [Holder] = [], uninspectable: Int = 0) {
            self.holders = holders
            self.uninspectable = uninspectable
        }
    }

    /// Scans every process for files under `directory` (an absolute, canonical path).
    public static func scan(directory: String) -> Result {
        var result = Result()
        for pid in processes() {
            result.seen += 1
            inspect(pid, directory: directory, into: &result)
        }
        return result
    }

    /// Scans the processes that run as `uid`, known by one `stat` each: the owner of
    /// `/proc/<pid>` is the process's effective uid, also when it made itself non-dumpable (then
    /// the files below it show root, the directory does not: the kernel keeps its owner for
    /// `stat`-based tools, see `task_dump_owner`).
    public static func scan(directory: String, uid: uid_t) -> Result {
        var result = Result()
        for pid in processes() {
            result.seen += 1
            var st = stat()
            if stat("/proc/\(pid)", &st) == 0, st.st_uid == uid {
                inspect(pid, directory: directory, into: &result)
            }
        }
        return result
    }

    /// Scans the processes `pids` (a cgroup's members, say); one that is gone holds nothing.
    public static func scan(directory: String, pids: [pid_t]) -> Result {
        var result = Result()
        for pid in pids { inspect(pid, directory: directory, into: &result) }
        return result
    }

    /// The pids in `/proc`.
    private static func processes() -> [Int32] {
        ((try? Files.list("/proc")) ?? []).compactMap { Int32($0) }
    }

    /// Adds what `pid` holds under `directory` to `result`.
    private static func inspect(_ pid: Int32, directory: String, into result: inout Result) {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        let fdDirectory = "/proc/\(pid)/fd"
        let fds: [String]
        do {
            fds = try Files.list(fdDirectory)
        } catch let error as SystemError {
            // A process that exited during the scan holds nothing; one we may not read is counted.
            if error.errno == EACCES || error.errno == EPERM { result.uninspectable += 1 }
            return
        } catch {
            return
        }
        result.inspected += 1
        var found: [Holder] = []
        // A process whose working or root directory is inside can still write by relative path.
        for link in ["cwd", "root"] {
            if let target = readLink("/proc/\(pid)/\(link)"), target.hasPrefix(prefix) || target == directory {
                found.append(Holder(pid: pid, command: "", path: target, how: link))
            }
        }
        for fd in fds {
            guard let target = readLink("\(fdDirectory)/\(fd)"), target.hasPrefix(prefix) || target == directory else { continue }
            found.append(Holder(pid: pid, command: "", path: target, how: "fd \(fd)"))
        }
        if let maps = try? Files.readAll("/proc/\(pid)/maps", limit: 16 << 20) {
            var seen = Set(found.map(\.path))
            for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
                guard let slash = line.firstIndex(of: "/") else { continue }
                var path = String(line[slash...])
                if path.hasSuffix(" (deleted)") { path.removeLast(" (deleted)".count) }
                if path.hasPrefix(prefix), seen.insert(path).inserted {
                    found.append(Holder(pid: pid, command: "", path: path, how: "mmap"))
                }
            }
        }
        if !found.isEmpty {
            let command = commandLine(of: pid)
            result.holders += found.map { var h = $0; h.command = command; return h }
        }
    }

    /// Processes that hold the file at `path` (absolute) open for writing: a descriptor whose
    /// flags in `/proc/<pid>/fdinfo` allow writing, or a shared writable mapping.
    public static func writers(of path: String) -> [Holder] {
        var holders: [Holder] = []
        guard let entries = try? Files.list("/proc") else { return [] }
        for name in entries {
            guard let pid = Int32(name), let fds = try? Files.list("/proc/\(pid)/fd") else { continue }
            for fd in fds where readLink("/proc/\(pid)/fd/\(fd)") == path {
                guard let info = try? Files.readAll("/proc/\(pid)/fdinfo/\(fd)", limit: 1 << 16) else { continue }
                let text = String(decoding: info, as: UTF8.self)
                guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags:") }),
                      let flags = Int(line.dropFirst("flags:".count).filter { $0 != " " && $0 != "\t" }, radix: 8) else { continue }
                if flags & Int(O_ACCMODE) != Int(O_RDONLY) {
                    holders.append(Holder(pid: pid, command: commandLine(of: pid), path: path, how: "fd \(fd) (writing)"))
                }
            }
            if let maps = try? Files.readAll("/proc/\(pid)/maps", limit: 16 << 20) {
                for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") where line.hasSuffix(" " + path) {
                    let perms = line.split(separator: " ").dropFirst().first ?? ""
                    if perms.contains("w") && perms.contains("s") {
                        holders.append(Holder(pid: pid, command: commandLine(of: pid), path: path, how: "shared writable mmap"))
                        break
                    }
                }
            }
        }
        return holders
    }

    /// The command line of `pid`, arguments joined by spaces.
    public static func commandLine(of pid: Int32) -> String {
        guard let raw = try? Files.readAll("/proc/\(pid)/cmdline", limit: 1 << 20), !raw.isEmpty else { return "?" }
        return raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
