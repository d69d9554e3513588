import DeltaSealSupervisor
import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP reloads the configuration: a service in the daemon's group that ends with its graceful
/// shutdown (SIGTERM and SIGINT belong to the group itself).
struct ReloadService: Service {
    let live: LiveSettings
    let logger: Logger
    /// The configuration as the command would load it now (file, environment, flags).
    let load: @Sendable () throws -> SupervisorConfig

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                let result = live.reload(try load())
                logger.notice("configuration reloaded", metadata: [
                    "applied": "\(result.applied.joined(separator: ","))",
                    "restart_needed": "\(result.needRestart.joined(separator: ","))",
                ])
            } catch {
                logger.error("configuration reload refused; the running configuration stays", metadata: ["error": "\(error)"])
            }
        }
    }
}
