#if canImport(Glibc)
import Glibc
#endif

/// A cgroup v2 subtree this process may manage: systemd's `Delegate=yes`, or a root process on
/// a host whose unified hierarchy it can write. Each writer runs in a cgroup of its own below
/// it, so `cgroup.kill` ends everything the writer started, a `setsid` daemon included; where
/// the memory and pids controllers are delegated too, `memory.max` and `pids.max` bound it.
public struct CgroupDelegation: Sendable, Equatable {
    /// Where writer cgroups are made: `<own cgroup>/deltaseal-<scope>`, one per spool, so two
    /// supervisors on one host never touch each other's writers.
    public let base: String
    /// Controllers enabled for the writer cgroups (`memory`, `pids`), possibly none.
    public let controllers: Set<String>

    /// Why there is no delegation here, or the delegation.
    public enum Detection: Sendable, Equatable {
        case delegated(CgroupDelegation)
        case unavailable(String)
    }

    /// Finds this process's cgroup v2 directory and checks it can make writer cgroups there.
    /// With `wantControllers`, enables `memory` and `pids` below it where they are available
    /// (which may move this process into `<own>/supervisor`: cgroup v2 allows controllers only
    /// below cgroups without processes).
    public static func detect(wantControllers: Bool, scope: String) -> Detection {
        guard let mountinfo = try? Files.readAll("/proc/self/mountinfo", limit: 1 << 20) else { return .unavailable("no /proc/self/mountinfo") }
        let mount = String(decoding: mountinfo, as: UTF8.self).split(separator: "\n").compactMap { line -> String? in
            // "<mount fields> - <type> <source> <options>": the optional fields end at " - ".
            guard let separator = line.firstRange(of: " - ") else { return nil }
            guard line[separator.upperBound...].hasPrefix("cgroup2 ") else { return nil }
            let fields = line[..<separator.lowerBound].split(separator: " ")
            return fields.count > 4 ? String(fields[4]) : nil
        }.first
        guard let mount else { return .unavailable("no cgroup v2 hierarchy is mounted") }
        guard let membership = try? Files.readAll("/proc/self/cgroup", limit: 1 << 16),
              let line = String(decoding: membership, as: UTF8.self).split(separator: "\n").first(where: { $0.hasPrefix("0::") })
        else { return .unavailable("this process is in no cgroup v2 group") }
        let relative = String(line.dropFirst(3))
        let own = relative == "/" ? mount : mount + relative
        let base = own + "/deltaseal-" + scope
        if mkdir(base, 0o755) != 0 && errno != EEXIST {
            return .unavailable("cannot create \(base): \(String(cString: strerror(errno))) (no delegated cgroup v2 subtree; systemd: Delegate=yes)")
        }
        guard access(base + "/cgroup.procs", W_OK) == 0 else {
            return .unavailable("\(base)/cgroup.procs is not writable (no delegated cgroup v2 subtree)")
        }
        var enabled = Set<String>()
        if wantControllers {
            enabled = enableControllers(own: own, base: base, atRoot: relative == "/")
        }
        return .delegated(CgroupDelegation(base: base, controllers: enabled))
    }

    private static func enableControllers(own: String, base: String, atRoot: Bool) -> Set<String> {
        let available = Set(((try? Files.readAll(own + "/cgroup.controllers")).map { String(decoding: $0, as: UTF8.self) } ?? "")
            .split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        let wanted = available.intersection(["memory", "pids"])
        guard !wanted.isEmpty else { return [] }
        if !atRoot {
            // The no-internal-processes rule: move this process out of the cgroup first.
            let home = own + "/supervisor"
            _ = mkdir(home, 0o755)
            guard write("\(getpid())\n", to: home + "/cgroup.procs") else { return [] }
        }
        let request = wanted.sorted().map { "+" + $0 }.joined(separator: " ")
        guard write(request, to: own + "/cgroup.subtree_control"), write(request, to: base + "/cgroup.subtree_control") else { return [] }
        return wanted
    }

    /// Makes the cgroup for one writer, with `memory.max` and `pids.max` where enabled; returns its directory.
    public func makeGroup(_ name: String, memoryMax: UInt64?, pidsMax: UInt64?) throws -> String {
        let path = base + "/" + name
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw SystemError("mkdir", path, errno: errno) }
        if let memoryMax, controllers.contains("memory"), !Self.write("\(memoryMax)", to: path + "/memory.max") {
            throw SystemError("write", path + "/memory.max", errno: errno)
        }
        if let pidsMax, controllers.contains("pids"), !Self.write("\(pidsMax)", to: path + "/pids.max") {
            throw SystemError("write", path + "/pids.max", errno: errno)
        }
        return path
    }

    /// Kills every process in the cgroup at `path` (`cgroup.kill`, or SIGKILL to each member where
    /// the kernel has no cgroup.kill), waits until it is empty (at most `timeout`), and removes it.
    public static func killAndRemove(_ path: String, timeout: Duration = .seconds(2)) {
        if !write("1", to: path + "/cgroup.kill") {
            for pid in members(path) { kill(pid, SIGKILL) }
        }
        let deadline = ContinuousClock.now + timeout
        while rmdir(path) != 0 && errno == EBUSY && ContinuousClock.now < deadline {
            for pid in members(path) { kill(pid, SIGKILL) }
            usleep(10_000)
        }
    }

    /// Moves `pid` into the cgroup at `path` (a fork-server's child, which cannot join by itself).
    public static func move(_ pid: pid_t, into path: String) -> Bool { write("\(pid)", to: path + "/cgroup.procs") }

    /// Processes in the cgroup at `path`.
    public static func members(_ path: String) -> [pid_t] {
        ((try? Files.readAll(path + "/cgroup.procs")).map { String(decoding: $0, as: UTF8.self) } ?? "")
            .split(separator: "\n").compactMap { pid_t($0) }
    }

    /// Removes the (empty) base, at the end of a run.
    public func removeBase() { _ = rmdir(base) }

    /// Removes writer cgroups a dead supervisor left, killing what is still in them.
    public func removeLeftovers() {
        for name in (try? Files.list(base)) ?? [] where name.hasPrefix("writer-") {
            Self.killAndRemove(base + "/" + name)
        }
    }

    private static func write(_ text: String, to path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count
    }
}
