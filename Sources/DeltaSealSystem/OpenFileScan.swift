import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Finds processes that hold files under a directory open, by descriptor or by memory mapping,
/// or that work inside it (current or root directory), reading `/proc/<pid>/fd`, `/proc/<pid>/maps`,
/// `/proc/<pid>/cwd` and `/proc/<pid>/root`.
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
    }

    /// Scans every process for files under `directory` (an absolute, canonical path).
    public static func scan(directory: String) -> Result {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        var holders: [Holder] = []
        var uninspectable = 0
        guard let entries = try? Files.list("/proc") else { return Result(holders: [], uninspectable: 0) }
        for name in entries {
            guard let pid = Int32(name) else { continue }
            let fdDirectory = "/proc/\(pid)/fd"
            let fds: [String]
            do {
                fds = try Files.list(fdDirectory)
            } catch let error as SystemError {
                // A process that exited during the scan holds nothing; one we may not read is counted.
                if error.errno == EACCES || error.errno == EPERM { uninspectable += 1 }
                continue
            } catch {
                continue
            }
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
                holders += found.map { var h = $0; h.command = command; return h }
            }
        }
        return Result(holders: holders, uninspectable: uninspectable)
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
                      let flags = Int(line.dropFirst("flags:".count).trimmingCharacters(in: .whitespaces), radix: 8) else { continue }
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
