import DeltaSealSystem
import Foundation

extension Bench {
    /// What starting the writer costs: `writer --version` spawned and reaped 200 times as built
    /// (the Swift runtime and Foundation in shared libraries) and built with `--static-swift-stdlib`
    /// (`DELTASEAL_BENCH_STATIC_WRITER`, which bin/bench builds into .build-static), taking turns.
    /// Returns the dynamic build's milliseconds per process.
    static func startUp(rounds: Int, scratch: String, executables: String, environment: [String: String]) throws -> Double {
        let count = 200
        let log = scratch + "/version.log"
        var builds = [("dynamic (the release build)", executables + "/writer")]
        if let path = environment["DELTASEAL_BENCH_STATIC_WRITER"], Files.exists(path) { builds.append(("--static-swift-stdlib", path)) }
        let times = try medians(rounds, prepare: { _ in try Files.removeTree(log) }, builds.map { _, path in
            { for _ in 0..<count { try run([path, "--version"], environment: environment, in: scratch, log: log) } }
        })
        let perProcess = times.map { $0 * 1000 / Double(count) }
        print("")
        print("writer start-up (writer --version, \(count) per round)   ms per process   ratio to dynamic")
        for (i, build) in builds.enumerated() {
            print(pad(build.0, 52) + String(format: "%14.2f   %15.2f", perProcess[i], perProcess[i] / perProcess[0]))
        }
        if builds.count == 1 { print("  static build: skipped (DELTASEAL_BENCH_STATIC_WRITER unset or missing; bin/bench builds it)") }
        return perProcess[0]
    }
}
