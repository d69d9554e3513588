import DeltaSealCore
import DeltaSealSystem
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Backpressure: holds intake while the work area is too large or free disk too low, and says so
/// once when it pauses and once when it resumes. Nothing is dropped: batches wait in `incoming/`.
final class IntakeGate: @unchecked Sendable {
    let live: LiveSettings
    let logger: Logger
    private let lock = PThreadMutex()
    private var reason: String?

    init(live: LiveSettings, logger: Logger) {
        self.live = live
        self.logger = logger
    }

    /// Why intake is paused now, if it is.
    var pausedBecause: String? { lock.withLock { reason } }

    /// Returns when intake may claim another batch (or a stop was requested).
    func waitUntilOpen(spool: Spool, stop: StopRequest, pollInterval: Duration) async throws {
        while !stop.isRequested {
            let now = live.intake.pauseReason(workBytes: Self.bytes(under: spool.work), freeBytes: Self.freeBytes(spool.root))
            let before = lock.withLock { () -> String? in
                defer { reason = now }
                return reason
            }
            switch (before, now) {
            case (nil, let why?): logger.warning("intake paused", metadata: ["reason": "\(why)"])
            case (_?, nil): logger.notice("intake resumed")
            default: break
            }
            if now == nil { return }
            try await stop.sleep(for: pollInterval)
        }
    }

    /// Bytes of regular files below `path`.
    static func bytes(under path: String) -> Int64 {
        guard let walked = try? Files.walk(path) else { return 0 }
        return walked.files.reduce(0) { $0 + ((try? Files.size(path + "/" + $1)) ?? 0) }
    }

    /// Free bytes for an unprivileged user on the file system holding `path`.
    static func freeBytes(_ path: String) -> Int64 {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return .max }
        return Int64(st.f_bavail) * Int64(st.f_frsize)
    }
}
