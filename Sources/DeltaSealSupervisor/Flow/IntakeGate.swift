import DeltaSealCore
import DeltaSealSystem
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Backpressure: holds intake while the work area is too large, free disk too low or the store
/// unavailable, and says so once when it pauses and once when it resumes. Nothing is dropped:
/// batches wait in `incoming/`.
final class IntakeGate: Sendable {
    let live: LiveSettings
    let logger: Logger
    let storeHealth: StoreHealth?
    private let reason = Mutex<String?>(nil)

    init(live: LiveSettings, logger: Logger, storeHealth: StoreHealth? = nil) {
        self.live = live
        self.logger = logger
        self.storeHealth = storeHealth
    }

    /// Why intake was paused when last looked at, if it was.
    var pausedBecause: String? { reason.withLock { $0 } }

    /// Looks again: why intake is paused now (logging a change), nil when it is open.
    @discardableResult
    func refresh(spool: Spool) -> String? {
        let now = live.intake.pauseReason(workBytes: Self.bytes(under: spool.work), freeBytes: Self.freeBytes(spool.root))
            ?? storeHealth?.unavailability()
        let before = reason.withLock { reason -> String? in
            defer { reason = now }
            return reason
        }
        switch (before, now) {
        case (nil, let why?): logger.warning("intake paused", metadata: ["reason": "\(why)"])
        case (_?, nil): logger.notice("intake resumed")
        default: break
        }
        return now
    }

    /// Returns when intake may claim another batch (or a stop was requested).
    func waitUntilOpen(spool: Spool, stop: StopRequest, pollInterval: Duration) async throws {
        while !stop.isRequested {
            if refresh(spool: spool) == nil { return }
            try await stop.sleep(for: pollInterval)
        }
    }

    /// Bytes of regular files below `path`.
    static func bytes(under path: String) -> Int64 {
        guard let walked = try? Files.walk(path) else { return 0 }
        return walked.files.reduce(0) { $0 + ((try? Files.size(path + "/" + $1)) ?? 0) }
    }

    /// Free bytes for an unprivileged user on the file system holding `path`.
    static func freeBytes(_ path: String) -> Int64 { Files.availableBytes(path) ?? .max }
}
