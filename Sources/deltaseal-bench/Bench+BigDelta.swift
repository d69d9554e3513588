import DeltaSealCore
import DeltaSealSystem
import Foundation

extension Bench {
    /// One big SQLite file end to end into S3 (issue 13: ≥ 1.5× the tools): `supervisor start
    /// --once` with a writer that copies a prepared database (`DELTASEAL_BENCH_BIG_MIB`, default
    /// 1024) into its output, through seal, pack, upload and the verifier's download,
    /// decompression and `integrity_check`, against the same work done with the tools: `zstd -3
    /// -T2`, `sha256sum`, `aws s3 cp` up and down, `zstd -d`, `sqlite3 ... integrity_check`;
    /// taking turns, MB/s of the raw file. Also the peak RSS of that supervisor and of a
    /// `verifier check` of the big delta.
    static func bigDelta(rounds: Int, scratch: String, executables: String, environment: [String: String]) throws {
        guard let endpoint = environment["DELTASEAL_TEST_S3_ENDPOINT"], let bucket = environment["DELTASEAL_TEST_S3_BUCKET"],
              let aws = environment["DELTASEAL_BENCH_AWS_CLI"], let s3 = s3Environment(environment) else {
            print("\nbig delta: skipped (no S3 server or AWS CLI: run it through bin/bench, which starts SeaweedFS)")
            return
        }
        let mib = numbers("DELTASEAL_BENCH_BIG_MIB", default: [1024])[0]
        let dir = scratch + "/big"
        try Files.makeDirectories(dir + "/tools")
        // The writer runs as its own user: it must reach and read the prepared file.
        for path in [scratch, dir] { _ = chmod(path, 0o755) }
        let source = dir + "/source.sqlite3"
        // Rows of 1,000 random and 1,000 zero bytes: about 2x compressible, like a delta's database.
        let python = environment["DELTASEAL_BENCH_PYTHON"] ?? "/usr/bin/python3"
        try shell("""
            '\(python)' -c 'import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            db.execute("pragma journal_mode = off"); db.execute("pragma synchronous = off")
            db.execute("create table t (id integer primary key, v blob)")
            db.execute("with recursive c(x) as (select 1 union all select x + 1 from c where x < ?) insert into t (v) select randomblob(1000) || zeroblob(1000) from c", (int(sys.argv[2]),))
            db.commit()' '\(source)' \((mib << 20) / 2048) && chmod 644 '\(source)'
            """)
        let bytes = try Files.size(source)
        let writer = dir + "/copy-writer.sh"
        try Data("#!/bin/sh\nfor out; do :; done\nmkdir -p \"$out\" && cp '\(source)' \"$out/big.sqlite3\"\n".utf8).write(to: URL(fileURLWithPath: writer))
        _ = chmod(writer, 0o755)
        let config = scratch + "/empty.yaml"
        try Data().write(to: URL(fileURLWithPath: config))
        var round = 0
        var peakSupervisorKiB = 0
        let work = dir + "/spool"
        var random = SplitMix64(seed: 17)
        let batch = BenchBatch.lines(1, random: &random)
        func prepare(_ mode: Int) throws {
            round += 1
            try Files.removeTree(work)
            try Files.makeDirectories(work + "/incoming")
            try dropBatches([batch], into: work + "/incoming")
            for name in try Files.list(dir + "/tools") { try Files.removeTree(dir + "/tools/" + name) }
        }
        let store = { "s3://\(bucket)/bench-big-\(getpid())-\(round)" }
        let tools = """
            set -e
            cd '\(dir)/tools'
            zstd -q -3 -T2 '\(source)' -o up.zst
            sha256sum up.zst > /dev/null
            '\(aws)' --endpoint-url '\(endpoint)' --only-show-errors s3 cp up.zst "$1/big.zst"
            '\(aws)' --endpoint-url '\(endpoint)' --only-show-errors s3 cp "$1/big.zst" down.zst
            zstd -q -d down.zst -o down.sqlite3
            test "$(sqlite3 down.sqlite3 'pragma integrity_check')" = ok
            """
        let times = try medians(rounds, prepare: prepare, [
            {
                let command = [executables + "/supervisor", "start", "--once", "--config", config, "--spool", work, "--store", store(),
                               "--endpoint", endpoint, "--host", "bench", "--writer", writer, "--metrics-address", "", "--log-level", "error"]
                try? Files.removeTree(scratch + "/big.log")
                peakSupervisorKiB = max(peakSupervisorKiB, try runSampled(command, environment: s3, in: scratch, log: scratch + "/big.log"))
                let summary = String(decoding: try Files.readAll(scratch + "/big.log"), as: UTF8.self)
                guard summary.contains("shipped 1, rejected 0, failed 0") else { throw Failure(description: "big delta did not ship:\n\(summary.suffix(2000))") }
            },
            { try run(["/bin/bash", "-c", tools, "tools", store() + "-tools"], environment: s3, in: dir, log: scratch + "/big.log") },
        ])
        let ours = round - 1
        let verifier = try runSampled([executables + "/verifier", "check", "s3://\(bucket)/bench-big-\(getpid())-\(ours)", "--host", "bench",
                                       "--endpoint", endpoint], environment: s3, in: scratch, log: scratch + "/verifier.log")
        try Files.removeTree(dir)
        let mbps = times.map { Double(bytes) / 1_000_000 / $0 }
        print("")
        print(String(format: "big delta (%.0f MiB SQLite file, copy writer, to S3 and verified)   deltaseal MB/s   tools MB/s   ratio", Double(bytes) / 1_048_576))
        print(pad("seal, pack, upload, verify (integrity_check)", 66) + String(format: "%14.1f   %10.1f   %5.2f", mbps[0], mbps[1], mbps[0] / mbps[1])
              + "   target >= 1.5: " + verdict(mbps[0] / mbps[1] >= 1.5))
        print("  tools: zstd -3 -T2, sha256sum, aws s3 cp up and down, zstd -d, sqlite3 integrity_check")
        print(String(format: "  peak RSS: supervisor %.1f MiB, verifier %.1f MiB   target <= 64 MiB each: ", Double(peakSupervisorKiB) / 1024, Double(verifier) / 1024)
              + verdict(peakSupervisorKiB <= 64 << 10 && verifier <= 64 << 10))
    }

    /// The environment with the test S3 server's keys (bin/bench starts it), nil without one.
    static func s3Environment(_ environment: [String: String]) -> [String: String]? {
        guard let endpoint = environment["DELTASEAL_TEST_S3_ENDPOINT"], let accessKey = environment["DELTASEAL_TEST_S3_ACCESS_KEY"],
              let secretKey = environment["DELTASEAL_TEST_S3_SECRET_KEY"] else { return nil }
        var s3 = environment
        s3["AWS_ACCESS_KEY_ID"] = accessKey
        s3["AWS_SECRET_ACCESS_KEY"] = secretKey
        s3["AWS_REGION"] = "us-east-1"
        s3["AWS_ENDPOINT_URL"] = endpoint
        for name in ["AWS_PROFILE", "AWS_SESSION_TOKEN"] { s3.removeValue(forKey: name) }
        return s3
    }
}
