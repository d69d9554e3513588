import DeltaSealSupervisor
import DeltaSealSystem
import Logging
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The supervisor as a swift-service-lifecycle `Service`: graceful shutdown (SIGTERM, SIGINT)
/// stops intake and lets in-flight deltas finish; if the group's graceful-shutdown limit
/// (`shutdown.drain_timeout`) passes, the group cancels it, and it stops the writers of the
/// unfinished deltas and exits: they resume at the next start.
final class SupervisorService: Service, Sendable {
    let supervisor: Supervisor
    let once: Bool
    let stop = StopRequest()
    let health: SupervisorHealth
    let live: LiveSettings
    private let result = Mutex<Result<RunSummary, any Error>?>(nil)

    init(supervisor: Supervisor, once: Bool, health: SupervisorHealth, live: LiveSettings) {
        self.supervisor = supervisor
        self.once = once
        self.health = health
        self.live = live
    }

    /// How the run ended; `nil` before it has.
    var outcome: Result<RunSummary, any Error>? { result.withLock { $0 } }

    func run() async {
        let config = supervisor.config
        let logger = supervisor.logger
        let ended: Result<RunSummary, any Error>
        do {
            let summary = try await withTaskCancellationHandler {
                try await withGracefulShutdownHandler {
                    try await supervisor.run(once: once, stop: stop, health: health, live: live, scrubEnvironment: true)
                } onGracefulShutdown: { [stop] in
                    logger.notice("stop requested: intake stopped, draining in-flight deltas", metadata: [
                        "drain_timeout_s": "\(config.drainTimeout.components.seconds)",
                    ])
                    stop.request()
                }
            } onCancel: {
                // The drain deadline passed (or a second signal): the state is on disk.
                Task.detached {
                    logger.warning("drain timeout: stopping the writers of unfinished deltas; they resume at the next start")
                    await Supervisor.stopWriters(spool: Spool(root: config.spool), grace: config.killGrace)
                    Glibc.exit(0)
                }
            }
            ended = .success(summary)
        } catch {
            ended = .failure(error)
        }
        result.withLock { $0 = ended }
    }
}
