import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
import DeltaSealWriter
import Foundation

/// `bin/bench`: DeltaSeal against a baseline doing the same work in the same run: pack and verify
/// against the zstd and sha256sum tools, the built-in writer against a plain-Python writer, the
/// start-up of the writer and the verifier against `/bin/true`, the sandboxed
/// launch against posix_spawn, the fixed cost of a tiny delta, and the small shape end to end into
/// S3 against the in-process Python workaround and a 1 GiB delta against the tools, with peak
/// RSS. Machines here are noisy, so it
/// reports ratios of medians, never absolute times alone.
@main
struct Bench {
    static func main() async {
        do {
            try await runSections()
        } catch {
            // A contestant failed: its figures would mean nothing. Say why, without a crash report.
            fflush(nil)
            FileHandle.standardError.write(Data("bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func runSections() async throws {
        let arguments = CommandLine.arguments
        let rounds = arguments.count > 1 ? Int(arguments[1]) ?? 3 : 3
        let scratch = NSTemporaryDirectory() + "deltaseal-bench-\(getpid())"
        try Files.makeDirectories(scratch + "/delta")
        defer { try? Files.removeTree(scratch) }
        // DELTASEAL_BENCH_ONLY: the sections to run (pack, writer, startup, launch, tiny, e2e, big; commas or
        // spaces; "writers" and "spawn" are the same as "writer" and "launch"); empty: all.
        let only = Set((ProcessInfo.processInfo.environment["DELTASEAL_BENCH_ONLY"] ?? "")
            .split(whereSeparator: { $0 == "," || $0 == " " }).map { ["writers": "writer", "spawn": "launch"][String($0)] ?? String($0) })
        func runs(_ section: String) -> Bool { only.isEmpty || only.contains(section) }
        if runs("pack") { try await packAndVerify(rounds: rounds, scratch: scratch) }

        // writer, supervisor and verifier are built beside this executable.
        let executables = "/" + (try Files.realPath("/proc/self/exe")).split(separator: "/").dropLast().joined(separator: "/")
        let environment = ProcessInfo.processInfo.environment
        // Each section's lines out before the next starts, also into a pipe or file: a long run
        // shows where it is, and a failure keeps what came before.
        fflush(nil)
        if runs("writer") { try writers(rounds: rounds, scratch: scratch, executables: executables, environment: environment) }
        fflush(nil)
        let launchMs = runs("startup") ? try startUp(rounds: rounds, scratch: scratch, executables: executables, environment: environment) : nil
        fflush(nil)
        if runs("launch") { try await spawnCost(rounds: rounds, scratch: scratch) }
        fflush(nil)
        if runs("tiny") { try tinyDeltas(rounds: rounds, scratch: scratch, executables: executables, environment: environment, launchMs: launchMs) }
        fflush(nil)
        if runs("e2e") { try endToEnd(rounds: rounds, scratch: scratch, executables: executables, environment: environment) }
        fflush(nil)
        if runs("big") { try bigDelta(rounds: rounds, scratch: scratch, executables: executables, environment: environment) }
    }

    /// Pack and verify of a realistic delta against the zstd and sha256sum tools.
    static func packAndVerify(rounds: Int, scratch: String) async throws {
        // A realistic delta: a SQLite database of embeddings (compressible) and an index file (not).
        var random = SplitMix64(seed: 7)
        try Data(BenchBatch.lines(20_000, random: &random).utf8).write(to: URL(fileURLWithPath: scratch + "/batch.ndjson"))
        _ = try DeltaWriter().write(inputs: [scratch + "/batch.ndjson"], outputDirectory: scratch + "/delta")
        var noise = [UInt8](repeating: 0, count: 32 << 20)
        for i in stride(from: 0, to: noise.count, by: 8) {
            withUnsafeBytes(of: random.next()) { noise.replaceSubrange(i..<i + 8, with: $0) }
        }
        try Data(noise).write(to: URL(fileURLWithPath: scratch + "/delta/index.bin"))
        let files = ["delta.sqlite3", "index.bin"]
        let rawBytes = try files.reduce(Int64(0)) { $0 + (try Files.size(scratch + "/delta/" + $1)) }
        print("corpus: \(files.joined(separator: " + ")), \(rawBytes / 1_048_576) MiB raw; \(rounds) rounds, medians")
        print("")
        print("step                              deltaseal MB/s   baseline MB/s   ratio   baseline")

        let inputs = try files.map { Packer.Input(path: RelativePath($0)!, sqlite: nil, size: try Files.size(scratch + "/delta/" + $0)) }
        let packer = Packer(level: 3, workers: 2)
        var packed: [Manifest.FileEntry] = []
        let ours = try await median(rounds) {
            try Files.removeTree(scratch + "/packed")
            packed = try packer.pack(inputs, from: scratch + "/delta", into: scratch + "/packed")
        }
        let zstdCLI = try await median(rounds) {
            for file in files {
                try shell("sha256sum \(scratch)/delta/\(file) >/dev/null && zstd -q -3 -T2 -c \(scratch)/delta/\(file) | tee \(scratch)/cli.zst | sha256sum >/dev/null")
            }
        }
        report("pack (sha256, zstd -3, sha256)", bytes: rawBytes, ours: ours, baseline: zstdCLI,
               name: "sha256sum; zstd -3 -T2 | tee | sha256sum")

        let store = FileStore(location: StoreURL(scheme: .file, root: scratch + "/store", prefix: ""))
        let manifest = Manifest(deltaID: DeltaID(unixMilliseconds: 0, random: 1), host: "bench", createdAt: "1970-01-01T00:00:00.000Z",
                                sources: [], writer: .init(command: ["bench"], exitStatus: 0, durationMs: 0),
                                compression: .init(level: 3), files: packed)
        for file in packed { try await store.put(key: file.objectKey, file: scratch + "/packed/" + file.objectKey, sha256: file.compressedSHA256) }
        try await store.put(key: ObjectLayout.manifestKey, bytes: try StableJSON.encode(manifest), ifAbsent: false)
        let verifyOurs = await median(rounds) {
            let report = await DeltaVerifier(fullCheck: false, temporaryRoot: scratch).verify(store)
            guard report.status == .valid else { fatalError("bench delta does not verify: \(report.summary)") }
        }
        let verifyCLI = try await median(rounds) {
            for file in packed {
                try shell("sha256sum \(scratch)/store/\(file.objectKey) >/dev/null && zstd -q -d -c \(scratch)/store/\(file.objectKey) | tee \(scratch)/out.raw | sha256sum >/dev/null")
            }
        }
        report("verify (sha256, unzstd, sha256)", bytes: rawBytes, ours: verifyOurs, baseline: verifyCLI,
               name: "sha256sum; zstd -d | tee | sha256sum")
        let compressed = packed.reduce(Int64(0)) { $0 + $1.compressedSize }
        print("")
        print(String(format: "compression: %.2fx (%d -> %d bytes)", Double(rawBytes) / Double(compressed), rawBytes, compressed))
    }

    /// What the writer sandbox costs per delta: spawning and reaping `/bin/true` through the
    /// sandboxed fork/exec launcher against plain `posix_spawn`, in the same run.
    static func spawnCost(rounds: Int, scratch: String) async throws {
        let count = 200
        let out = scratch + "/spawn-out"
        try Files.makeDirectories(out)
        let identity = geteuid() == 0 ? try? Sandbox.Identity.lookup(user: "deltaseal-writer") : nil
        if let identity { _ = chown(out, identity.uid, identity.gid) }
        let sandbox = Sandbox(identity: identity, writableDirectories: [out], landlock: Sandbox.landlockABI != nil, noNewPrivileges: true)
        func spawnAll(_ sandbox: Sandbox?) throws {
            for _ in 0..<count {
                let child = try ChildProcess.spawn(arguments: ["/bin/true"], environment: ["PATH": "/usr/bin:/bin"], workingDirectory: scratch,
                                                   outputPath: scratch + "/spawn.log", sandbox: sandbox,
                                                   outputLimit: sandbox == nil ? nil : 256 << 10)
                _ = child.waitBlocking()
            }
        }
        let plain = try await median(rounds) { try spawnAll(nil) }
        let confined = try await median(rounds) { try spawnAll(sandbox) }
        print("")
        print("writer launch (spawn + reap /bin/true)   sandboxed ms   posix_spawn ms   ratio")
        print(pad("per process, \(count) per round", 40)
              + String(format: "%12.2f   %14.2f   %5.2f", confined * 1000 / Double(count), plain * 1000 / Double(count), confined / plain))
        print("  sandbox: " + (identity.map { "uid \($0.uid)" } ?? "own user") + ", no_new_privs, "
              + (Sandbox.landlockABI.map { "Landlock ABI \($0)" } ?? "no Landlock") + ", bounded output pipe")
    }

    static func report(_ step: String, bytes: Int64, ours: Double, baseline: Double, name: String) {
        let mbps = { (seconds: Double) in Double(bytes) / 1_000_000 / seconds }
        print(step.padding(toLength: 34, withPad: " ", startingAt: 0)
              + String(format: "%14.1f  %14.1f  %6.2f   ", mbps(ours), mbps(baseline), mbps(ours) / mbps(baseline)) + name)
    }

    /// Median wall time of `rounds` runs, in seconds.
    static func median(_ rounds: Int, _ body: () async throws -> Void) async rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<rounds {
            let start = WallClock.monotonicNanoseconds()
            try await body()
            times.append(Double(WallClock.monotonicNanoseconds() - start) / 1e9)
        }
        return times.sorted()[times.count / 2]
    }

    /// Median wall times of `rounds` runs of each body, in seconds. The bodies take turns, so a
    /// noisy stretch of the machine falls on every contestant; `prepare(i)` runs untimed before body i.
    static func medians(_ rounds: Int, prepare: (Int) throws -> Void = { _ in }, _ bodies: [() throws -> Void]) throws -> [Double] {
        var times = [[Double]](repeating: [], count: bodies.count)
        for _ in 0..<rounds {
            for (i, body) in bodies.enumerated() {
                try prepare(i)
                let start = WallClock.monotonicNanoseconds()
                try body()
                times[i].append(Double(WallClock.monotonicNanoseconds() - start) / 1e9)
            }
        }
        return times.map { $0.sorted()[$0.count / 2] }
    }

    /// Runs `arguments` to its end, stdout and stderr appended to `log`; throws unless it exits 0.
    static func run(_ arguments: [String], environment: [String: String], in directory: String, log: String) throws {
        let child = try ChildProcess.spawn(arguments: arguments, environment: environment, workingDirectory: directory, outputPath: log)
        let end = child.waitBlocking()
        guard end.exitStatus == 0 else {
            let tail = String(decoding: (try? Files.readTail(log, bytes: 2000)) ?? [], as: UTF8.self)
            throw Failure(description: "\(arguments.joined(separator: " ")): \(end.exitStatus.map { "exit \($0)" } ?? "signal \(end.signal ?? 0)")\n\(tail)")
        }
    }

    /// Each of `batches` as `b<i>.ndjson` in `directory`, renamed into place after it was written
    /// (its ctime after its mtime, even within one clock tick), so that `--once` takes it as
    /// complete at once instead of waiting for intake.settle.
    static func dropBatches(_ batches: [String], into directory: String) throws {
        let written = time(nil) - 2
        for (i, text) in batches.enumerated() {
            let temporary = directory + "/.b\(i).tmp"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            var times = [timespec(tv_sec: written, tv_nsec: 0), timespec(tv_sec: written, tv_nsec: 0)]
            guard utimensat(AT_FDCWD, temporary, &times, 0) == 0 else { throw SystemError("utimensat", temporary, errno: errno) }
            try Files.rename(temporary, directory + "/b\(i).ndjson")
        }
    }

    /// A contestant that did not do its work: the figures would mean nothing.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The whole numbers in the environment variable `name` (separated by spaces or commas), else `fallback`.
    static func numbers(_ name: String, default fallback: [Int]) -> [Int] {
        guard let text = ProcessInfo.processInfo.environment[name] else { return fallback }
        let values = text.split(whereSeparator: { $0 == " " || $0 == "," }).compactMap { Int($0) }.filter { $0 > 0 }
        return values.isEmpty ? fallback : values
    }

    /// `text` padded with spaces to `width` characters (Foundation's `%-40@` does not pad on Linux).
    static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text.padding(toLength: width, withPad: " ", startingAt: 0)
    }

    /// "met" or "not met", for a figure printed next to its target.
    static func verdict(_ met: Bool) -> String { met ? "met" : "not met" }

    static func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-o", "pipefail", "-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SystemError("bench", command, errno: EIO) }
    }
}
