import DeltaSealCore
import DeltaSealSystem
import Foundation

extension Bench {
    /// The fixed cost of a delta: `supervisor start --once` (the release build, its built-in writer
    /// and verifier, a filesystem store in the scratch directory) ships 200 batches of 10 records,
    /// with the default number in flight and one at a time, taking turns; milliseconds per delta,
    /// also in writer start-ups (`launchMs`, measured in this run). Count: `DELTASEAL_BENCH_TINY_BATCHES`.
    static func tinyDeltas(rounds: Int, scratch: String, executables: String, environment: [String: String], launchMs: Double) throws {
        let count = numbers("DELTASEAL_BENCH_TINY_BATCHES", default: [200])[0]
        var random = SplitMix64(seed: 13)
        let batches = (0..<count).map { _ in BenchBatch.lines(10, random: &random, metadata: true) }
        let root = scratch + "/tiny"
        // An empty configuration file: the defaults, not the machine's /etc/deltaseal or DELTASEAL_CONFIG.
        let config = scratch + "/empty.yaml"
        try Data().write(to: URL(fileURLWithPath: config))
        let supervisor = [executables + "/supervisor", "start", "--once", "--config", config, "--spool", root + "/spool",
                          "--store", "file://" + root + "/store", "--host", "bench", "--metrics-address", "", "--log-level", "error"]
        let modes = [("default (in flight 4)", supervisor), ("--max-in-flight 1", supervisor + ["--max-in-flight", "1"])]

        func prepare(_: Int) throws {
            try Files.removeTree(root)
            try Files.makeDirectories(root + "/spool/incoming")
            let written = time(nil) - 2
            for (i, text) in batches.enumerated() {
                let temporary = root + "/spool/incoming/.b\(i).tmp"
                try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
                // Written before it was renamed (ctime after mtime, even within one clock tick):
                // `--once` takes it as complete instead of waiting for intake.settle.
                var times = [timespec(tv_sec: written, tv_nsec: 0), timespec(tv_sec: written, tv_nsec: 0)]
                guard utimensat(AT_FDCWD, temporary, &times, 0) == 0 else { throw SystemError("utimensat", temporary, errno: errno) }
                try Files.rename(temporary, root + "/spool/incoming/b\(i).ndjson")
            }
        }
        let times = try medians(rounds, prepare: prepare, modes.map { _, command in
            {
                try run(command, environment: environment, in: scratch, log: scratch + "/supervisor.log")
                let shipped = (try? Files.list(root + "/store/bench"))?.filter { Files.exists(root + "/store/bench/\($0)/manifest.json") }.count ?? 0
                guard shipped == count else { throw Failure(description: "supervisor start --once shipped \(shipped) of \(count) deltas") }
            }
        })
        try Files.removeTree(root)
        let perDelta = times.map { $0 * 1000 / Double(count) }
        print("")
        print("tiny deltas (\(count) x 10 records, start --once, file store)   ms per delta   writer start-ups   target <= 12 ms")
        for (i, mode) in modes.enumerated() {
            print(pad(mode.0, 58) + String(format: "%12.2f   %16.1f   ", perDelta[i], perDelta[i] / launchMs)
                  + verdict(perDelta[i] <= 12) + String(format: " (%.2fx the target)", perDelta[i] / 12))
        }
        print(String(format: "  one at a time / default: %.2f; writer start-ups: ms per delta / %.2f ms (writer --version above)",
                     perDelta[1] / perDelta[0], launchMs))
    }
}
