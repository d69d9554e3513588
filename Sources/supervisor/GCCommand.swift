import ArgumentParser
import DeltaSealStoreOpener
import DeltaSealSupervisor
import Foundation

/// `supervisor gc [--dry-run]`: remove orphaned objects of this host from the store.
struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove this host's store objects that no manifest references, and stale multipart uploads.",
        discussion: "Runs at every start and hourly in the daemon too. Never touches another host's prefix or a delta in work/. Exit 75 while a supervisor holds the spool."
    )

    @OptionGroup var file: ConfigFileOptions
    @OptionGroup var spool: SpoolOption
    @OptionGroup var store: StoreOptions

    @Option(help: "Seconds an object without a manifest must be old before it is garbage (gc.grace; default 3600).")
    var grace: String?

    @Flag(name: .customLong("dry-run"), help: "List what would be removed; remove nothing.")
    var dryRun = false

    func run() async throws {
        // The flag overrides only when given: gc.grace and DELTASEAL_GC_GRACE count otherwise.
        let config = try file.loadOrExit(spool.overrides + store.overrides + settingOverrides([("--grace", grace)]))
        let logger = makeLogger(config, label: "deltaseal.gc")
        do {
            let spool = Spool(root: config.spool)
            try spool.prepare()
            let lock = try SpoolLock(spool: spool.root)
            defer { withExtendedLifetime(lock) {} }
            let objects = try StoreOpener.open(config.store, s3: config.s3, environment: ProcessInfo.processInfo.environment)
            var collector = GarbageCollector(store: objects, host: config.host, spool: spool, graceMs: config.gcGraceMs, logger: logger)
            collector.dryRun = dryRun
            let result = try await collector.run()
            if dryRun {
                for key in result.removed { print("would remove \(key)") }
                print("would remove \(result.objects) objects of \(result.deltas) deltas, abort \(result.abortedUploads) multipart uploads (grace \(Double(config.gcGraceMs) / 1000) s)")
            } else {
                print("removed \(result.objects) objects of \(result.deltas) deltas, aborted \(result.abortedUploads) multipart uploads")
            }
        } catch let error as SpoolLock.Held {
            logger.critical("\(error); the running supervisor collects garbage itself (at start and hourly)")
            throw ExitCode(75)
        }
    }
}
