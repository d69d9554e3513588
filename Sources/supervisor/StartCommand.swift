import ArgumentParser
import DeltaSealSupervisor
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// `supervisor start [--once]`: run the daemon.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Run the supervisor: claim batches, write, seal, pack, upload, verify.",
        discussion: "With --once: process what is in the spool, then exit 0 if everything shipped, 1 if anything was rejected or failed."
    )

    @OptionGroup var options: StartOptions

    @Flag(help: "Process what is in the spool, then exit.")
    var once = false

    func run() async throws {
        let config = try options.loadOrExit()
        let logger = makeLogger(config, label: "deltaseal.supervisor")
        let stop = StopRequest()
        let signals = SignalWatch(stop: stop)
        defer { withExtendedLifetime(signals) {} }
        let summary: RunSummary
        do {
            summary = try await Supervisor(config: config, logger: logger).run(once: once, stop: stop)
        } catch let error as Supervisor.ConfigurationError {
            logger.critical("cannot start: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        } catch let error as SpoolLock.Held {
            logger.critical("cannot start: \(error)")
            throw ExitCode(75)  // EX_TEMPFAIL
        }
        print("shipped \(summary.shipped), rejected \(summary.rejected), failed \(summary.failed), records \(summary.records)")
        if !summary.allShipped { throw ExitCode(1) }
    }
}

/// SIGTERM and SIGINT stop intake; in-flight deltas finish.
final class SignalWatch: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]

    init(stop: StopRequest) {
        signal(SIGPIPE, SIG_IGN)
        sources = [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.request() }
            source.resume()
            return source
        }
    }
}
