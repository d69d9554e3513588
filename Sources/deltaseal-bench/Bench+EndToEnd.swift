import DeltaSealCore
import DeltaSealSystem
import Foundation

extension Bench {
    /// The issue's small shape end to end into S3 (the SeaweedFS bin/bench starts): 20 batches of
    /// 1,000 records (dimension 384) through `supervisor start --once` with the built-in writer
    /// and with bin/chroma-writer (one process per delta, and as a fork-server), against the in-process Python
    /// workaround (Tests/Fixtures/python_workaround.py: chromadb, gc, tar + zstd, boto3 with a
    /// SHA-256 checksum, download and reopen), taking turns; deltas per second. Also the peak
    /// RSS of the supervisor (its VmHWM, sampled while it runs) and of a `verifier check` of a
    /// round's deltas, and both again with 4 big deltas in flight. Counts:
    /// `DELTASEAL_BENCH_E2E_BATCHES`, `DELTASEAL_BENCH_E2E_RECORDS`, `DELTASEAL_BENCH_RSS_RECORDS`.
    static func endToEnd(rounds: Int, scratch: String, executables: String, environment: [String: String]) throws {
        guard let endpoint = environment["DELTASEAL_TEST_S3_ENDPOINT"], let bucket = environment["DELTASEAL_TEST_S3_BUCKET"],
              let s3 = s3Environment(environment) else {
            print("\nend to end: skipped (no S3 server: run it through bin/bench, which starts SeaweedFS)")
            return
        }
        let count = numbers("DELTASEAL_BENCH_E2E_BATCHES", default: [20])[0]
        let records = numbers("DELTASEAL_BENCH_E2E_RECORDS", default: [1000])[0]
        let python = environment["DELTASEAL_BENCH_VENV_PYTHON"]
        let root = environment["DELTASEAL_ROOT"] ?? FileManager.default.currentDirectoryPath
        var random = SplitMix64(seed: 15)
        let batches = (0..<count).map { _ in BenchBatch.lines(records, random: &random, metadata: true, collection: "docs-") }
        let work = scratch + "/e2e"
        let config = scratch + "/empty.yaml"
        try Data().write(to: URL(fileURLWithPath: config))
        var round = 0
        func supervisor(_ writer: [String]) -> [String] {
            [executables + "/supervisor", "start", "--once", "--config", config, "--spool", work + "/spool",
             "--store", "s3://\(bucket)/bench-e2e-\(getpid())-\(round)", "--endpoint", endpoint, "--host", "bench",
             "--metrics-address", "", "--log-level", "error"] + writer
        }
        var modes: [(name: String, command: () -> [String], supervised: Bool)] = [("built-in writer", { supervisor([]) }, true)]
        if let python {
            modes.append(("chromadb writer, one process per delta", { supervisor(["--writer", "\(python) \(root)/bin/chroma-writer"]) }, true))
            modes.append(("chromadb writer, fork-server", {
                supervisor(["--writer", "\(python) \(root)/bin/chroma-writer", "--writer-mode", "fork-server"])
            }, true))
            modes.append(("in-process Python workaround", {
                [python, root + "/Tests/Fixtures/python_workaround.py", "--bucket", bucket, "--prefix", "bench-workaround-\(getpid())-\(round)",
                 "--work", work + "/workaround"] + (0..<count).map { work + "/batches/b\($0).ndjson" }
            }, false))
        }
        var peakSupervisorKiB = 0
        func prepare(_ mode: Int) throws {
            round += 1
            try Files.removeTree(work)
            try Files.makeDirectories(work + "/workaround")
            let directory = modes[mode].supervised ? work + "/spool/incoming" : work + "/batches"
            try Files.makeDirectories(directory)
            try dropBatches(batches, into: directory)
        }
        let times = try medians(rounds, prepare: prepare, modes.enumerated().map { i, mode in
            {
                if mode.supervised {
                    try? Files.removeTree(scratch + "/e2e.log")
                    let peak = try runSampled(mode.command(), environment: s3, in: scratch, log: scratch + "/e2e.log")
                    if i == 0 { peakSupervisorKiB = max(peakSupervisorKiB, peak) }
                    // `--once` ends with "shipped N, rejected N, failed N, records N" (and exits 0 only if all shipped).
                    let summary = String(decoding: try Files.readAll(scratch + "/e2e.log"), as: UTF8.self)
                    guard summary.contains("shipped \(count), rejected 0, failed 0, records \(count * records)") else {
                        throw Failure(description: "\(mode.name): not every delta shipped:\n\(summary.suffix(2000))")
                    }
                } else {
                    try run(mode.command(), environment: s3, in: scratch, log: scratch + "/e2e.log")
                }
            }
        })
        // The verifier as compactors run it, over every delta the last built-in writer round shipped.
        let lastBuiltIn = round - modes.count + 1
        let verifier = try runSampled([executables + "/verifier", "check", "s3://\(bucket)/bench-e2e-\(getpid())-\(lastBuiltIn)",
                                       "--host", "bench", "--endpoint", endpoint], environment: s3, in: scratch, log: scratch + "/verifier.log")
        // Memory with big deltas in flight: 4 batches of `DELTASEAL_BENCH_RSS_RECORDS` (default
        // 38,000: a database of about 66 MB each, the issue's shape), once, built-in writer.
        let bigRecords = numbers("DELTASEAL_BENCH_RSS_RECORDS", default: [38_000])[0]
        var bigRandom = SplitMix64(seed: 16)
        let big = BenchBatch.lines(bigRecords, random: &bigRandom, metadata: true, collection: "docs-")
        round += 1
        try Files.removeTree(work)
        try Files.makeDirectories(work + "/spool/incoming")
        try dropBatches([String](repeating: big, count: 4), into: work + "/spool/incoming")
        let bigPeak = try runSampled(supervisor(["--max-in-flight", "4"]), environment: s3, in: scratch, log: scratch + "/e2e.log")
        let bigVerifier = try runSampled([executables + "/verifier", "check", "s3://\(bucket)/bench-e2e-\(getpid())-\(round)",
                                          "--host", "bench", "--endpoint", endpoint], environment: s3, in: scratch, log: scratch + "/verifier.log")
        try Files.removeTree(work)

        print("")
        print("end to end to S3 (\(count) x \(records) records, dim 384, SeaweedFS)   deltas/s   / workaround")
        let workaround = modes.firstIndex { !$0.supervised }.map { times[$0] }
        for (i, mode) in modes.enumerated() {
            let rate = Double(count) / times[i]
            let ratio = workaround.map { String(format: "%12.2f", $0 / times[i]) } ?? ""
            print(pad(mode.name, 62) + String(format: "%8.2f", rate) + ratio)
        }
        print("  built-in writer: " + String(format: "%.2f deltas/s", Double(count) / times[0]) + "   target >= 15: " + verdict(Double(count) / times[0] >= 15))
        if let workaround {
            for i in 1...2 {
                let ratio = workaround / times[i]
                print("  \(modes[i].name) / workaround: " + String(format: "%.2f", ratio) + "   target >= 2: " + verdict(ratio >= 2))
            }
        } else {
            print("  chromadb and the Python workaround: skipped (DELTASEAL_BENCH_VENV_PYTHON unset)")
        }
        print(String(format: "  peak RSS: supervisor %.1f MiB (VmHWM, sampled every 10 ms), verifier %.1f MiB (the same; all %d deltas of a round in one run)   target <= 64 MiB each: ",
                     Double(peakSupervisorKiB) / 1024, Double(verifier) / 1024, count)
              + verdict(peakSupervisorKiB <= 64 << 10 && verifier <= 64 << 10))
        print(String(format: "  peak RSS, 4 x %d records in flight: supervisor %.1f MiB, verifier of the 4 %.1f MiB   target <= 64 MiB each: ",
                     bigRecords, Double(bigPeak) / 1024, Double(bigVerifier) / 1024)
              + verdict(bigPeak <= 64 << 10 && bigVerifier <= 64 << 10))
    }

    /// `run`, reading the child's VmHWM every 10 ms while it runs; the highest, in KiB. (Not
    /// wait4's `ru_maxrss`: a child spawned with a shared address space records its parent's
    /// high-water mark at exec, here the bench's own, batches and all.)
    static func runSampled(_ arguments: [String], environment: [String: String], in directory: String, log: String) throws -> Int {
        let child = try ChildProcess.spawn(arguments: arguments, environment: environment, workingDirectory: directory, outputPath: log)
        // A zombie's status has no VmHWM line (its memory is gone): the samples end with the process.
        var peak = 0
        while let kib = highWaterMark(child.pid) {
            peak = max(peak, kib)
            usleep(10_000)
        }
        let end = child.waitBlocking()
        guard end.exitStatus == 0 else {
            let tail = String(decoding: (try? Files.readTail(log, bytes: 2000)) ?? [], as: UTF8.self)
            throw Failure(description: "\(arguments.joined(separator: " ")): \(end.exitStatus.map { "exit \($0)" } ?? "signal \(end.signal ?? 0)")\n\(tail)")
        }
        return peak
    }

    /// VmHWM of `pid` in KiB, nil once it has exited.
    static func highWaterMark(_ pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return nil }
        return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
    }
}
