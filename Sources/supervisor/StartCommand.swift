import ArgumentParser
import CDeltaSealBuildInfo
import DeltaSealCore
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
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
            With --once: process what is in the spool, then exit 0 if everything shipped, 1 if anything was rejected or failed. \
            Before any work it runs the checks of `config check` except the store probe (the daemon's outage mode deals with a \
            store that is down): 78 configuration or credentials, 73 spool, 75 metrics address in use or spool locked. \
            Every setting of the configuration file is also a flag, named after its key (writer.timeout: --writer-timeout 30); \
            `supervisor config flags` lists them with their short aliases (--writer, --max-attempts, ...).
            """
    )

    @OptionGroup var file: ConfigFileOptions
    @OptionGroup var spool: SpoolOption
    @OptionGroup var store: StoreOptions
    @OptionGroup var pipeline: SettingFlags

    @Flag(help: "Process what is in the spool, then exit.")
    var once = false

    func run() async throws {
        // First: no process of this user (a writer among them) may read this one's memory,
        // environment or descriptors through /proc or ptrace.
        try ProcessSecurity.makeNonDumpable()
        MallocArenas.cap(MallocArenas.supervisorCap)
        // Until the reload service listens, a SIGHUP must not end the daemon.
        signal(SIGHUP, SIG_IGN)
        let overrides = spool.overrides + store.overrides + pipeline.overrides
        let config = try file.loadOrExit(overrides)
        let live = LiveSettings(config)
        let logger = makeLogger(config, label: "deltaseal.supervisor", level: live.logLevel)
        // The checks of `config check`, but for the store probe: a store that is down at start
        // is an outage like any other, which the daemon rides out (it writes and seals meanwhile).
        let preflight = await Preflight(config: config, environment: ProcessInfo.processInfo.environment).run(.start)
        // Sandbox warnings are logged by the supervisor itself once it runs.
        for warning in EnvironmentNames.unknown(in: ProcessInfo.processInfo.environment) { logger.warning("\(warning)") }
        if let status = preflight.exitStatus {
            for problem in preflight.problems { logger.critical("cannot start: \(problem)", metadata: ["kind": "\(problem.kind.rawValue)"]) }
            throw ExitCode(status)
        }
        let health = SupervisorHealth()
        let service = SupervisorService(supervisor: Supervisor(config: config, logger: logger), once: once, health: health, live: live)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let endpoints = endpoints(preflight.metricsAddress, config: config, health: health, logger: logger) {
            // First in the list, so last to shut down (the group goes in reverse): /readyz says
            // "draining" and /healthz answers until the supervisor has finished its drain. Its
            // failure (address in use) or early end is no reason to stop shipping.
            services.append(.init(service: endpoints, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore,
                                  serviceName: "endpoints"))
        }
        // SIGHUP: a reload until the shutdown begins.
        services.append(.init(service: ReloadService(live: live, logger: logger) { [file] in try file.load(overrides) },
                              successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore, serviceName: "reload"))
        services.append(.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                              failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "supervisor"))
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
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

    /// The service for /metrics (Prometheus), /healthz and /readyz on `address` (nil: turned
    /// off). Bootstraps the metrics system, which only a daemon that can be scraped needs.
    private func endpoints(_ address: ListenAddress?, config: SupervisorConfig, health: SupervisorHealth,
                           logger: Logger) -> EndpointService? {
        guard let address else { return nil }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["deltaseal_stage_duration_seconds"] = SupervisorMetrics.stageBuckets
        MetricsSystem.bootstrap(factory)
        SupervisorMetrics.buildInfo(version: DeltaSealVersion.version,
                                    commit: BuildCommit.current(compiled: String(cString: deltaseal_git_commit())))
        let silence = max(Int64(30_000), 3 * Int64(config.pollInterval.components.seconds * 1000))
        var serverLogger = makeLogger(config, label: "deltaseal.endpoints", level: LogLevelBox())
        serverLogger.logLevel = max(serverLogger.logLevel, .notice)
        return EndpointService(address: address, registry: registry, health: health, maxSilenceMs: silence,
                               logger: logger, serverLogger: serverLogger)
    }
}
