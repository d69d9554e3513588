import ArgumentParser
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
#if canImport(Glibc)
import Glibc
#endif

/// `supervisor start [--once]`: run the daemon.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Run the supervisor: claim batches, write, seal, pack, upload, verify.",
        discussion: """
            SIGTERM or SIGINT stops intake and lets in-flight deltas finish within shutdown.drain_timeout; \
            then their writers are stopped and the process exits 0 (unfinished deltas resume at the next start). \
            With --once: process what is in the spool, then exit 0 if everything shipped, 1 if anything was rejected or failed.
            """
    )

    @OptionGroup var options: StartOptions

    @Flag(help: "Process what is in the spool, then exit.")
    var once = false

    func run() async throws {
        let config = try options.loadOrExit()
        let live = LiveSettings(config)
        let logger = makeLogger(config, label: "deltaseal.supervisor", level: live.logLevel)
        let stop = StopRequest()
        let health = SupervisorHealth()
        let signals = SignalWatch(stop: stop, onStop: {
            logger.notice("stop requested: intake stopped, draining in-flight deltas", metadata: [
                "drain_timeout_s": "\(config.drainTimeout.components.seconds)",
            ])
        }, onReload: { [options] in
            do {
                let result = live.reload(try options.load())
                logger.notice("configuration reloaded", metadata: [
                    "applied": "\(result.applied.joined(separator: ","))",
                    "restart_needed": "\(result.needRestart.joined(separator: ","))",
                ])
            } catch {
                logger.error("configuration reload refused; the running configuration stays", metadata: ["error": "\(error)"])
            }
        })
        defer { withExtendedLifetime(signals) {} }
        let server = startEndpoints(config, health: health, logger: logger)
        defer { server?.stop() }

        let supervisor = Supervisor(config: config, logger: logger)
        let summary: RunSummary
        do {
            summary = try await withThrowingTaskGroup(of: RunSummary?.self) { group in
                group.addTask { try await supervisor.run(once: once, stop: stop, health: health, live: live) }
                group.addTask {
                    // The drain deadline: only armed once a stop was requested.
                    while !stop.isRequested { try await Task.sleep(for: .milliseconds(100)) }
                    try await Task.sleep(for: config.drainTimeout)
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                if let summary = first { return summary }
                logger.warning("drain timeout: stopping the writers of unfinished deltas; they resume at the next start")
                await Supervisor.stopWriters(spool: Spool(root: config.spool), grace: config.killGrace)
                // Exit now: the unfinished deltas' state is on disk, and the pipeline tasks would
                // otherwise keep the process alive. The next start resumes them.
                Glibc.exit(0)
            }
        } catch let error as Supervisor.ConfigurationError {
            logger.critical("cannot start: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        } catch let error as SpoolLock.Held {
            logger.critical("cannot start: \(error)")
            throw ExitCode(75)  // EX_TEMPFAIL
        }
        print("shipped \(summary.shipped), rejected \(summary.rejected), failed \(summary.failed), records \(summary.records)")
        if !summary.allShipped && once { throw ExitCode(1) }
    }

    /// Serves /metrics (Prometheus), /healthz and /readyz; a failure to bind is logged, not fatal:
    /// shipping data matters more than being scraped.
    private func startEndpoints(_ config: SupervisorConfig, health: SupervisorHealth, logger: Logger) -> TinyHTTPServer? {
        guard let address = config.metricsAddress else { return nil }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let parts = address.split(separator: ":")
        let silence = max(Int64(30_000), 3 * Int64(config.pollInterval.components.seconds * 1000))
        do {
            let server = try TinyHTTPServer(host: String(parts[0]), port: Int(parts[1]) ?? 9464) { path in
                switch path {
                case "/metrics":
                    return .init(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
                case "/healthz":
                    if let problem = health.unhealthy(maxSilenceMs: silence) { return .init(status: 503, body: Array("\(problem)\n".utf8)) }
                    return .init(status: 200, body: Array("ok\n".utf8))
                case "/readyz":
                    if let reason = health.notReady { return .init(status: 503, body: Array("\(reason)\n".utf8)) }
                    return .init(status: 200, body: Array("ready\n".utf8))
                default:
                    return .init(status: 404, body: Array("try /metrics, /healthz or /readyz\n".utf8))
                }
            }
            logger.info("serving /metrics, /healthz and /readyz", metadata: ["address": "\(parts[0]):\(server.port)"])
            return server
        } catch {
            logger.error("cannot serve metrics; running without them", metadata: ["address": "\(address)", "error": "\(error)"])
            return nil
        }
    }
}

/// SIGTERM and SIGINT stop intake (in-flight deltas finish); SIGHUP reloads the configuration.
final class SignalWatch: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(stop: StopRequest, onStop: @escaping @Sendable () -> Void, onReload: @escaping @Sendable () -> Void) {
        signal(SIGPIPE, SIG_IGN)
        sources = [SIGTERM, SIGINT, SIGHUP].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if number == SIGHUP { return onReload() }
                if !stop.isRequested { onStop() }
                stop.request()
            }
            source.resume()
            return source
        }
    }
}
