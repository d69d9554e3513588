#if canImport(Glibc)
import Glibc
#endif

/// Identifies a process across a restart of its parent: pid plus start time, so a reused pid is
/// never mistaken for the process that was recorded.
public enum ProcessIdentity {
    /// The start time of `pid` in clock ticks since boot (`/proc/<pid>/stat` field 22), or `nil`
    /// if no such process exists.
    public static func startTime(of pid: Int32) -> UInt64? {
        // Field 22 is the 20th after the command.
        guard let fields = statFields(of: pid), fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// The parent (field 4), process group (field 5) and state (field 3) of `pid`, or `nil` if no
    /// such process exists.
    public static func lineage(of pid: Int32) -> (parent: Int32, group: Int32, state: Character)? {
        guard let fields = statFields(of: pid), fields.count > 2, let parent = Int32(fields[1]), let group = Int32(fields[2]),
              let state = fields[0].first else { return nil }
        return (parent, group, state)
    }

    /// The fields of `/proc/<pid>/stat` after the command name, from field 3 (the state) on; nil
    /// if no such process exists.
    private static func statFields(of pid: Int32) -> [Substring]? {
        guard let bytes = try? Files.readAll("/proc/\(pid)/stat", limit: 4096) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        // The command name may contain spaces and parentheses; fields resume after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    /// Kills what is left of a process group whose leader was `pid`, started at `startTime`:
    /// the leader if it is still that process, and any member left behind. Returns true if
    /// anything was signalled.
    @discardableResult
    public static func killLeftoverGroup(pid: Int32, startTime: UInt64?) -> Bool {
        if let current = self.startTime(of: pid) {
            // Linux does not reuse a pid while it names a live process group, so a different
            // start time means our group is gone and this pid belongs to someone else.
            guard current == startTime else { return false }
            return kill(-pid, SIGKILL) == 0
        }
        // The leader is gone; members of its group may remain.
        return kill(-pid, SIGKILL) == 0
    }

    /// Whether a process other than `leader` that has not exited is in process group `group`,
    /// read from every `/proc/<pid>/stat` (field 5 is the group, field 3 the state; `Z` is a
    /// zombie). Used while the leader is an unreaped zombie, which keeps `kill(-group, 0)`
    /// succeeding on its own.
    public static func groupHasLiveMembers(_ group: Int32, besides leader: Int32) -> Bool {
        guard let entries = try? Files.list("/proc") else { return false }
        return entries.contains { name in
            guard let pid = Int32(name), pid != leader, let fields = statFields(of: pid), fields.count > 2 else { return false }
            return fields[2] == "\(group)" && fields[0] != "Z" && fields[0] != "X"
        }
    }
}
