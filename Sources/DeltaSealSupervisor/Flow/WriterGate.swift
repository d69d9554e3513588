import DeltaSealCore
import DeltaSealSystem
import Logging

/// Holds writer starts back while the writer command is in a crash loop (see `RestartIntensity`).
actor WriterGate {
    private var intensity: RestartIntensity
    private let logger: Logger

    init(_ intensity: RestartIntensity, logger: Logger) {
        self.intensity = intensity
        self.logger = logger
    }

    /// Waits until writers may start.
    func waitUntilOpen() async {
        while case let wait = intensity.waitMs(atMs: WallClock.nowMilliseconds()), wait > 0 {
            try? await Task.sleep(for: .milliseconds(wait))
        }
    }

    /// Records how a writer ended.
    func record(success: Bool) {
        if success {
            intensity.recordSuccess()
        } else if intensity.recordFailure(atMs: WallClock.nowMilliseconds()) {
            logger.error("writer crash loop: pausing every writer", metadata: [
                "failures": "> \(intensity.maxFailures) in \(intensity.windowMs / 1000) s",
                "pause_s": "\(intensity.pauseMs / 1000)",
            ])
        }
    }

    /// Milliseconds writers are still held back, for status.
    var pausedForMs: Int64 { intensity.waitMs(atMs: WallClock.nowMilliseconds()) }
}
