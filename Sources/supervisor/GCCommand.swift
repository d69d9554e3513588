import ArgumentParser
import DeltaSealSupervisor

/// `supervisor gc`: remove orphaned objects of this host from the store.
struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove this host's store objects that no manifest references, and stale multipart uploads.",
        discussion: "Runs at every start and hourly in the daemon too. Never touches another host's prefix or a delta in work/."
    )

    @OptionGroup var options: StartOptions

    @Option(help: "Seconds an object without a manifest must be old before it is garbage.")
    var grace: Double = 3600

    func run() async throws {
        var config = try options.loadOrExit()
        config.gcGraceMs = Int64(grace * 1000)
        let logger = makeLogger(config, label: "deltaseal.gc")
        do {
            let result = try Supervisor(config: config, logger: logger).collectGarbageOnce()
            print("removed \(result.objects) objects of \(result.deltas) deltas, aborted \(result.abortedUploads) multipart uploads")
        } catch let error as SpoolLock.Held {
            logger.critical("\(error); the running supervisor collects garbage itself (at start and hourly)")
            throw ExitCode(75)
        }
    }
}
