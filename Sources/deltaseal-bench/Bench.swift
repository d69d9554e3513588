import DeltaSealCore
import DeltaSealPack
import DeltaSealStore
import DeltaSealSystem
import DeltaSealWriter
import Foundation

/// `bin/bench`: DeltaSeal's pack and verify paths against the same work done by the zstd and
/// sha256sum command-line tools, in the same run on the same files. Machines here are noisy, so
/// it reports ratios (ours / baseline throughput) of medians, never absolute times alone.
@main
struct Bench {
    static func main() throws {
        let arguments = CommandLine.arguments
        let rounds = arguments.count > 1 ? Int(arguments[1]) ?? 3 : 3
        let scratch = NSTemporaryDirectory() + "deltaseal-bench-\(getpid())"
        try Files.makeDirectories(scratch + "/delta")
        defer { try? Files.removeTree(scratch) }

        // A realistic delta: a SQLite database of embeddings (compressible) and an index file (not).
        var random = SplitMix64(seed: 7)
        var lines = ""
        for n in 0..<20_000 {
            let embedding = (0..<384).map { _ in String(format: "%.6f", random.nextUnit() * 2 - 1) }.joined(separator: ",")
            lines += "{\"collection\":\"c\(n % 4)\",\"id\":\"r\(n)\",\"embedding\":[\(embedding)],\"document\":\"document number \(n) with some text\"}\n"
        }
        try Data(lines.utf8).write(to: URL(fileURLWithPath: scratch + "/batch.ndjson"))
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

        let inputs = files.map { Packer.Input(path: RelativePath($0)!, sqlite: nil) }
        let packer = Packer(level: 3, workers: 2)
        var packed: [Manifest.FileEntry] = []
        let ours = try median(rounds) {
            try Files.removeTree(scratch + "/packed")
            packed = try packer.pack(inputs, from: scratch + "/delta", into: scratch + "/packed")
        }
        let zstdCLI = try median(rounds) {
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
        for file in packed { try store.put(key: file.objectKey, file: scratch + "/packed/" + file.objectKey, sha256: file.compressedSHA256) }
        try store.put(key: ObjectLayout.manifestKey, bytes: try StableJSON.encode(manifest), ifAbsent: false)
        let verifyOurs = try median(rounds) {
            let report = DeltaVerifier(fullCheck: false, temporaryRoot: scratch).verify(store)
            guard report.status == .valid else { fatalError("bench delta does not verify: \(report.summary)") }
        }
        let verifyCLI = try median(rounds) {
            for file in packed {
                try shell("sha256sum \(scratch)/store/\(file.objectKey) >/dev/null && zstd -q -d -c \(scratch)/store/\(file.objectKey) | tee \(scratch)/out.raw | sha256sum >/dev/null")
            }
        }
        report("verify (sha256, unzstd, sha256)", bytes: rawBytes, ours: verifyOurs, baseline: verifyCLI,
               name: "sha256sum; zstd -d | tee | sha256sum")
        let compressed = packed.reduce(Int64(0)) { $0 + $1.compressedSize }
        print("")
        print(String(format: "compression: %.2fx (%d -> %d bytes)", Double(rawBytes) / Double(compressed), rawBytes, compressed))
        try spawnCost(rounds: rounds, scratch: scratch)
    }

    /// What the writer sandbox costs per delta: spawning and reaping `/bin/true` through the
    /// sandboxed fork/exec launcher against plain `posix_spawn`, in the same run.
    static func spawnCost(rounds: Int, scratch: String) throws {
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
        let plain = try median(rounds) { try spawnAll(nil) }
        let confined = try median(rounds) { try spawnAll(sandbox) }
        print("")
        print("writer launch (spawn + reap /bin/true)   sandboxed ms   posix_spawn ms   ratio")
        print(String(format: "%-40@ %12.2f   %14.2f   %5.2f", "per process, \(count) per round" as NSString,
                     confined * 1000 / Double(count), plain * 1000 / Double(count), confined / plain))
        print("  sandbox: " + (identity.map { "uid \($0.uid)" } ?? "own user") + ", no_new_privs, "
              + (Sandbox.landlockABI.map { "Landlock ABI \($0)" } ?? "no Landlock") + ", bounded output pipe")
    }

    static func report(_ step: String, bytes: Int64, ours: Double, baseline: Double, name: String) {
        let mbps = { (seconds: Double) in Double(bytes) / 1_000_000 / seconds }
        print(step.padding(toLength: 34, withPad: " ", startingAt: 0)
              + String(format: "%14.1f  %14.1f  %6.2f   ", mbps(ours), mbps(baseline), mbps(ours) / mbps(baseline)) + name)
    }

    /// Median wall time of `rounds` runs, in seconds.
    static func median(_ rounds: Int, _ body: () throws -> Void) throws -> Double {
        var times: [Double] = []
        for _ in 0..<rounds {
            let start = WallClock.monotonicNanoseconds()
            try body()
            times.append(Double(WallClock.monotonicNanoseconds() - start) / 1e9)
        }
        return times.sorted()[times.count / 2]
    }

    static func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-o", "pipefail", "-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw SystemError("bench", command, errno: EIO) }
    }
}
