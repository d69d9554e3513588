import DeltaSealSystem
import Foundation
import Synchronization
import Testing

/// 1,000 deltas (`DELTASEAL_HANDLES_DELTAS` for more) through a supervisor limited to 256 open
/// files: every handle a writer opened dies with it, and the supervisor itself leaks none (its
/// descriptor count stays flat; a leak of one descriptor per delta would exhaust the limit four
/// times over).
@Suite(.timeLimit(.minutes(10)))
struct HandleExhaustionTests {
    @Test func aThousandDeltasUnderAnOpenFileLimitOf256() async throws {
        let count = Int(ProcessInfo.processInfo.environment["DELTASEAL_HANDLES_DELTAS"] ?? "") ?? 1000
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try FileManager.default.createDirectory(atPath: harness.config.spool + "/incoming", withIntermediateDirectories: true)
        for n in 0..<count {
            try TestSupport.write(TestSupport.record("r\(n)", dimension: 2) + "\n",
                                  to: harness.config.spool + "/incoming/" + String(format: "h-%05d.ndjson", n))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "ulimit -n 256 && exec \"$0\" \"$@\"", TestSupport.supervisor, "start", "--once",
                             "--spool", harness.config.spool, "--store", harness.storeRoot, "--host", "test-host",
                             "--max-in-flight", "8", "--log-level", "error"]
        process.currentDirectoryURL = URL(fileURLWithPath: harness.root)
        let output = harness.root + "/supervisor.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = process.standardOutput
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let pid = process.processIdentifier

        // Sample the supervisor's open descriptors while it works, on a thread of the sampler's
        // own: a task sleeping between samples got none for 87 s in a CI run, while other
        // suites held the cooperative pool, and took one sample.
        let sampler = DescriptorSampler(pid: pid)
        while process.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        process.waitUntilExit()
        let (samples, limit) = sampler.stop()
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(process.terminationStatus == 0, "\(text.suffix(2000))")
        #expect(text.contains("shipped \(count), rejected 0, failed 0"))
        #expect(limit?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first == "256", "\(limit ?? "?")")
        #expect(try harness.shippedDeltas().count == count)
        #expect(try Files.list(harness.spool.work).isEmpty)

        // Flat: the end of the run holds no more descriptors than its start (a leak of one per
        // delta would have added thousands, and hit the limit long before).
        try #require(samples.count >= 20, "too few samples: \(samples)")
        let tenth = samples.count / 10
        let early = samples.dropFirst(tenth).prefix(tenth).max() ?? 0
        let late = samples.suffix(tenth * 2).prefix(tenth).max() ?? 0
        #expect(late <= early + 4, "descriptors grew from \(early) to \(late): \(samples)")
        #expect((samples.max() ?? 0) < 128, "peak \(samples.max() ?? 0)")
        print("handles: deltas=\(count) fd_samples=\(samples.count) min=\(samples.min() ?? 0) max=\(samples.max() ?? 0) early=\(early) late=\(late)")

        // A sample of what shipped verifies.
        for id in try harness.shippedDeltas().shuffled().prefix(10) {
            await #expect(try harness.verify(id).status == 0)
        }
    }
}

/// Every 100 ms, on a thread of its own, the open descriptors of a process and its open-file
/// limit line, until ``stop()``.
private final class DescriptorSampler: Sendable {
    private struct State {
        var samples: [Int] = []
        var limit: String?
        var stopped = false
    }
    private let state = Mutex(State())

    init(pid: Int32) {
        Thread { [self] in
            while !state.withLock({ $0.stopped }) {
                let count = (try? Files.list("/proc/\(pid)/fd"))?.count
                // Read while running: the first reads may precede bash's `ulimit`.
                let limits = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
                let line = limits?.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init)
                state.withLock { state in
                    if let count { state.samples.append(count) }
                    if let line { state.limit = line }
                }
                usleep(100_000)
            }
        }.start()
    }

    /// Stops sampling; what was sampled.
    func stop() -> (samples: [Int], limit: String?) {
        state.withLock { state in
            state.stopped = true
            return (state.samples, state.limit)
        }
    }
}
