import DeltaSealCore
import DeltaSealSystem
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Decides when a batch in `incoming/` is whole and may be claimed.
///
/// The rule (docs/formats.md, "Input"): a batch is claimed only when no process has it open for
/// writing (``OpenForWriting``) and either it arrived by rename (inotify saw it moved in and
/// nothing wrote it since: producers who rename are never slowed down) or nothing has written
/// it for the settle time (a producer writing under the final name gets that long between writes).
final class BatchArrivals {
    private let directory: String
    private let watch: DirectoryWatch?
    private var movedIn = Set<String>()
    /// Since when each batch has been found open for writing, and which were reported.
    private var openSinceMs: [String: Int64] = [:]
    private var reportedLongOpen = Set<String>()
    private let logger: Logger
    /// How long a batch may stay open for writing before it is reported.
    static let longOpenMs: Int64 = 60_000
    /// Names inotify reported anything about.
    private var known = Set<String>()
    private var lastWriteMs: [String: Int64] = [:]

    /// Watches `directory`; without inotify every batch waits for the settle time.
    init(directory: String, logger: Logger) {
        self.directory = directory
        self.logger = logger
        do {
            watch = try DirectoryWatch(directory)
        } catch {
            watch = nil
            logger.warning("cannot watch incoming/ (inotify); every batch waits for intake.settle before it is claimed",
                           metadata: ["error": "\(error)"])
        }
    }

    /// Takes in what happened since the last call.
    func refresh(nowMs: Int64) {
        guard let watch else { return }
        for event in watch.events() {
            switch event {
            case .movedIn(let raw):
                guard let name = String(validating: raw, as: UTF8.self) else { continue }
                known.insert(name)
                movedIn.insert(name)
                lastWriteMs[name] = nil
            case .written(let raw):
                guard let name = String(validating: raw, as: UTF8.self) else { continue }
                known.insert(name)
                movedIn.remove(name)
                lastWriteMs[name] = nowMs
            case .gone(let raw):
                guard let name = String(validating: raw, as: UTF8.self) else { continue }
                movedIn.remove(name)
                lastWriteMs[name] = nil
            case .overflow:
                // Events were lost: nothing is known to have arrived whole any more.
                movedIn.removeAll()
                known = Set(lastWriteMs.keys)
            }
        }
    }

    /// Why `name` may not be claimed yet, or nil when it may.
    func notReady(_ name: String, nowMs: Int64, settleMs: Int64) -> String? {
        let path = directory + "/" + name
        if case .open(let holders) = OpenForWriting.check(path) {
            let who = holders.first.map { " (pid \($0.pid) \(DisplayText.sanitize($0.command, limit: 100)), \($0.how))" } ?? ""
            let since = openSinceMs[name] ?? nowMs
            openSinceMs[name] = since
            // A producer that never closes its batch (or a child that inherited its descriptor)
            // holds it back forever: say so once, naming the holder.
            if nowMs - since >= Self.longOpenMs, reportedLongOpen.insert(name).inserted {
                logger.warning("a batch in incoming/ has been open for writing for a long time; it is not claimed while it is", metadata: [
                    "batch": "\(DisplayText.sanitize(name))", "seconds": "\((nowMs - since) / 1000)", "holder": "\(who.isEmpty ? "unknown (a lease was refused)" : who)",
                ])
            }
            return "still open for writing" + who
        }
        openSinceMs[name] = nil
        if movedIn.contains(name) { return nil }
        var st = stat()
        guard lstat(path, &st) == 0 else { return "gone" }
        // Not seen arriving (it was there before this process watched): a change of the inode
        // after its last write (a rename, a chmod) says its producer finished with it.
        if !known.contains(name), (st.st_ctim.tv_sec, st.st_ctim.tv_nsec) > (st.st_mtim.tv_sec, st.st_mtim.tv_nsec) { return nil }
        let modifiedMs = Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000
        let quietSince = max(modifiedMs, lastWriteMs[name] ?? 0)
        let quietMs = nowMs - quietSince
        return quietMs >= settleMs ? nil : "written \(quietMs) ms ago (settles after \(settleMs) ms)"
    }

    /// Forgets a claimed batch.
    func claimed(_ name: String) {
        movedIn.remove(name)
        lastWriteMs[name] = nil
        openSinceMs[name] = nil
        reportedLongOpen.remove(name)
    }
}
