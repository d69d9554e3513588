import ArgumentParser
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `supervisor demo`: sample batches shipped end to end into a local store.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate sample batches into a fresh spool (./var/demo-spool) and ship them end to end."
    )

    @Option(help: "Store URL (default ./var/store).")
    var store: String?

    @Option(help: "Batches to generate.")
    var batches = 8

    @Option(name: .customLong("records"), help: "Records per batch.")
    var recordsPerBatch = 500

    func run() async throws {
        let cwd = FileManager.default.currentDirectoryPath
        var config = SupervisorConfig(workingDirectory: cwd, executableDirectory: Executable.directory)
        config.spool = cwd + "/var/demo-spool"
        if let store { config.store = try StoreURL(parsing: store, workingDirectory: cwd) }
        try Files.removeTree(config.spool)
        var shape = Demo.Shape()
        shape.batches = batches
        shape.recordsPerBatch = recordsPerBatch
        try Demo.generateBatches(into: Spool(root: config.spool), shape: shape)
        print("generated \(batches) batches of \(recordsPerBatch) records in \(config.spool)/incoming")
        config.logFormat = "text"
        config.logLevel = "warning"
        // The demo renamed every batch into place itself, before the supervisor watched: none is
        // being written, so none needs to settle.
        config.intakeSettle = .zero
        let logger = makeLogger(config, label: "deltaseal.demo")
        let started = WallClock.monotonicNanoseconds()
        let total = batches
        let onTerminal = isatty(2) == 1
        let summary = try await Supervisor(config: config, logger: logger).run(once: true, progress: { done in
            guard onTerminal else { return }
            let count = done.shipped + done.rejected + done.failed
            FileHandle.standardError.write(Data("\rshipping: \(count)/\(total) deltas verified\(count == total ? "\n" : "")".utf8))
        })
        let seconds = Double(WallClock.monotonicNanoseconds() - started) / 1e9
        let ratio = summary.compressedBytes > 0 ? Double(summary.rawBytes) / Double(summary.compressedBytes) : 0
        print("""
            deltas shipped:   \(summary.shipped) (each verified by a separate verifier process)
            rejected/failed:  \(summary.rejected)/\(summary.failed)
            records:          \(summary.records)
            bytes raw:        \(summary.rawBytes)
            bytes compressed: \(summary.compressedBytes) (ratio \(String(format: "%.2f", ratio)))
            time:             \(String(format: "%.2f", seconds)) s
            store:            \(config.store)/\(config.host)/
            """)
        print(summary.allShipped ? "all \(summary.shipped) deltas verified" : "NOT all deltas shipped: see \(config.spool)")
        if !summary.allShipped { throw ExitCode(1) }
    }
}
