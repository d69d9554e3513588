import DeltaSealCore
import DeltaSealSystem
import Foundation

extension Bench {
    /// The fixed cost of a delta: `supervisor start --once` (the release build, its built-in writer
    /// and verifier, a filesystem store in the scratch directory) ships 200 batches of 10 records,
    /// with the default number in flight and one at a time, and both again while 500 idle
    /// processes exist (the seal must not cost more for them: issue 13, ≤ 1.2×), taking turns;
    /// milliseconds per delta, also in writer start-ups (`launchMs`, measured in this run, if it
    /// was). Counts: `DELTASEAL_BENCH_TINY_BATCHES`, `DELTASEAL_BENCH_IDLE_PROCESSES` (0: none).
    static func tinyDeltas(rounds: Int, scratch: String, executables: String, environment: [String: String], launchMs: Double?) throws {
        let count = numbers("DELTASEAL_BENCH_TINY_BATCHES", default: [200])[0]
        let idleCount = ProcessInfo.processInfo.environment["DELTASEAL_BENCH_IDLE_PROCESSES"] == "0"
            ? 0 : numbers("DELTASEAL_BENCH_IDLE_PROCESSES", default: [500])[0]
        var random = SplitMix64(seed: 13)
        let batches = (0..<count).map { _ in BenchBatch.lines(10, random: &random, metadata: true) }
        let root = scratch + "/tiny"
        // An empty configuration file: the defaults, not the machine's /etc/deltaseal or DELTASEAL_CONFIG.
        let config = scratch + "/empty.yaml"
        try Data().write(to: URL(fileURLWithPath: config))
        let supervisor = [executables + "/supervisor", "start", "--once", "--config", config, "--spool", root + "/spool",
                          "--store", "file://" + root + "/store", "--host", "bench", "--metrics-address", "", "--log-level", "error"]
        var modes = [("default (in flight 4)", supervisor, false), ("--max-in-flight 1", supervisor + ["--max-in-flight", "1"], false)]
        if idleCount > 0 {
            modes += modes.map { ($0.0 + ", \(idleCount) idle processes", $0.1, true) }
        }
        var idle: IdleProcesses?
        defer { idle?.stop() }

        func prepare(_ mode: Int) throws {
            // The idle processes of the run before are gone; this run's exist before it starts.
            idle?.stop()
            idle = modes[mode].2 ? try IdleProcesses(count: idleCount) : nil
            try Files.removeTree(root)
            try Files.makeDirectories(root + "/spool/incoming")
            try dropBatches(batches, into: root + "/spool/incoming")
        }
        let times = try medians(rounds, prepare: prepare, modes.map { _, command, _ in
            {
                try run(command, environment: environment, in: scratch, log: scratch + "/supervisor.log")
                let shipped = (try? Files.list(root + "/store/bench"))?.filter { Files.exists(root + "/store/bench/\($0)/manifest.json") }.count ?? 0
                guard shipped == count else { throw Failure(description: "supervisor start --once shipped \(shipped) of \(count) deltas") }
            }
        })
        idle?.stop()
        idle = nil
        try Files.removeTree(root)
        let perDelta = times.map { $0 * 1000 / Double(count) }
        print("")
        print("tiny deltas (\(count) x 10 records, start --once, file store)   ms per delta   writer start-ups   target <= 12 ms")
        for (i, mode) in modes.enumerated() {
            let startUps = launchMs.map { String(format: "%16.1f", perDelta[i] / $0) } ?? pad("", 16)
            print(pad(mode.0, 58) + String(format: "%12.2f   ", perDelta[i]) + startUps + "   "
                  + verdict(perDelta[i] <= 12) + String(format: " (%.2fx the target)", perDelta[i] / 12))
        }
        print(String(format: "  one at a time / default: %.2f", perDelta[1] / perDelta[0])
              + (launchMs.map { String(format: "; writer start-ups: ms per delta / %.2f ms (writer --version above)", $0) } ?? ""))
        if idleCount > 0 {
            for i in 0..<2 {
                let ratio = perDelta[i + 2] / perDelta[i]
                print("  \(idleCount) idle processes / none, \(modes[i].0): " + String(format: "%.2f", ratio)
                      + "   target <= 1.2: " + verdict(ratio <= 1.2))
            }
        }
    }
}

/// Idle `sleep` processes in a process group of their own, to measure a delta's cost on a host
/// with a full process table; ``stop()`` kills the group and reaps them.
final class IdleProcesses {
    private var pids: [pid_t] = []

    /// Starts `count` of them; each exists once this returns (posix_spawn returns after exec).
    init(count: Int) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("3600"), nil]
        defer { argv.forEach { free($0) } }
        for _ in 0..<count {
            // The first leads the group; the others join it.
            posix_spawnattr_setpgroup(&attributes, pids.first ?? 0)
            var pid: pid_t = 0
            let result = posix_spawn(&pid, "/bin/sleep", nil, &attributes, argv, environ)
            guard result == 0 else {
                stop()
                throw SystemError("posix_spawn", "/bin/sleep", errno: result)
            }
            pids.append(pid)
        }
    }

    func stop() {
        guard let group = pids.first else { return }
        kill(-group, SIGKILL)
        for pid in pids {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
        pids = []
    }
}
