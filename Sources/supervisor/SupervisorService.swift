import DeltaSealSupervisor
import DeltaSealSystem
import Logging
import ServiceLifecycle
import Synchronization

/// The supervisor as a swift-service-lifecycle `Service`: graceful shutdown (SIGTERM, SIGINT)
/// stops intake and lets in-flight deltas finish; if the group's graceful-shutdown limit
/// (`shutdown.drain_timeout`) passes, the group cancels it, and it stops the writers and
/// verifiers of the unfinished deltas, whose deltas then end deferred: they resume at the next
/// start. It returns like any other run; nothing calls `exit`.
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
        let finished = OnceFlag()
        do {
            ended = .success(try await withThrowingTaskGroup(of: RunSummary?.self) { group in
                group.addTask { [self] in
                    defer { finished.set() }
                    return try await withGracefulShutdownHandler {
                        try await supervisor.run(once: once, stop: stop, health: health, live: live, scrubEnvironment: true)
                    } onGracefulShutdown: { [stop] in
                        logger.notice("stop requested: intake stopped, draining in-flight deltas", metadata: [
                            "drain_timeout_s": "\(config.drainTimeout.components.seconds)",
                        ])
                        stop.request()
                    }
                }
                group.addTask {
                    // The drain deadline: the group cancels this service once the drain timeout
                    // has passed. The writers and verifiers of unfinished deltas are stopped, so
                    // their deltas end now (no attempt spent) and resume at the next start.
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                    if !finished.isSet {
                        logger.warning("drain timeout: stopping the writers and verifiers of unfinished deltas; they resume at the next start")
                        await RunningChildren.stopAll(grace: config.killGrace)
                    }
                    return nil
                }
                var summary: RunSummary?
                while let next = try await group.next() {
                    guard let next else { continue }
                    summary = next
                    group.cancelAll()
                }
                return summary ?? RunSummary()
            })
        } catch {
            ended = .failure(error)
        }
        result.withLock { $0 = ended }
    }
}
