import ArgumentParser
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
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
            SIGHUP reloads the configuration where that is safe. \
            With --once: process what is in the spool, then exit 0 if everything shipped, 1 if anything was rejected or failed.
            """
    )

    @OptionGroup var options: StartOptions

    @Flag(help: "Process what is in the spool, then exit.")
    var once = false

    func run() async throws {
        // First: no process of this user (a writer among them) may read this one's memory,
        // environment or descriptors through /proc or ptrace.
        try ProcessSecurity.makeNonDumpable()
        let config = try options.loadOrExit()
        let live = LiveSettings(config)
        let logger = makeLogger(config, label: "deltaseal.supervisor", level: live.logLevel)
        let health = SupervisorHealth()
        let reload = ReloadWatch { [options] in
            do {
                let result = live.reload(try options.load())
                logger.notice("configuration reloaded", metadata: [
                    "applied": "\(result.applied.joined(separator: ","))",
                    "restart_needed": "\(result.needRestart.joined(separator: ","))",
                ])
            } catch {
                logger.error("configuration reload refused; the running configuration stays", metadata: ["error": "\(error)"])
            }
        }
        defer { withExtendedLifetime(reload) {} }
        let server = startEndpoints(config, health: health, logger: logger)
        defer { server?.stop() }

        let service = SupervisorService(supervisor: Supervisor(config: config, logger: logger), once: once, health: health, live: live)
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "supervisor")],
            logger: logger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = config.drainTimeout
        signal(SIGPIPE, SIG_IGN)
        try await ServiceGroup(configuration: groupConfiguration).run()

        let summary: RunSummary
        switch service.outcome {
        case .success(let result)?:
            summary = result
        case .failure(let error as Supervisor.ConfigurationError)?:
            logger.critical("cannot start: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        case .failure(let error as SpoolLock.Held)?:
            logger.critical("cannot start: \(error)")
            throw ExitCode(75)  // EX_TEMPFAIL
        case .failure(let error)?:
            logger.critical("stopped: \(error)")
            throw ExitCode(1)
        case nil:
            return
        }
        print("shipped \(summary.shipped), rejected \(summary.rejected), failed \(summary.failed), records \(summary.records)")
        if !summary.allShipped && once { throw ExitCode(1) }
    }

    /// Serves /metrics (Prometheus), /healthz and /readyz; a failure to bind is logged, not fatal:
    /// shipping data matters more than being scraped.
    private func startEndpoints(_ config: SupervisorConfig, health: SupervisorHealth, logger: Logger) -> TinyHTTPServer? {
        guard let address = config.metricsAddress else { return nil }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["deltaseal_stage_duration_seconds"] = SupervisorMetrics.stageBuckets
        MetricsSystem.bootstrap(factory)
        let parts = address.split(separator: ":")
        let silence = max(Int64(30_000), 3 * Int64(config.pollInterval.components.seconds * 1000))
        do {
            let server = try TinyHTTPServer(host: String(parts[0]), port: Int(parts[1]) ?? 9464) { path in
                switch path {
                case "/metrics":
                    return .init(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                                 body: SupervisorMetrics.withHelp(registry.emitToBuffer()))
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

/// SIGHUP reloads the configuration (SIGTERM and SIGINT belong to the service group).
final class ReloadWatch: @unchecked Sendable {
    private let source: any DispatchSourceSignal

    init(onReload: @escaping @Sendable () -> Void) {
        signal(SIGHUP, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        source.setEventHandler(handler: onReload)
        source.resume()
    }
}
