import DeltaSealCore
import DeltaSealSystem
import Foundation

extension Bench {
    /// The built-in writer against the plain-Python writer (Tests/Fixtures/plain_writer.py: json +
    /// sqlite3, one transaction) on the same batch, each a whole process from spawn to exit (start-up
    /// included: that is what a delta pays). Checks that both wrote the same schema and rows.
    /// Sizes: `DELTASEAL_BENCH_RECORDS` (default "1000 20000").
    static func writers(rounds: Int, scratch: String, executables: String, environment: [String: String]) throws {
        let sizes = numbers("DELTASEAL_BENCH_RECORDS", default: [1_000, 20_000])
        print("")
        guard let script = environment["DELTASEAL_BENCH_PYTHON_WRITER"], Files.exists(script) else {
            print("writer vs plain Python: skipped (DELTASEAL_BENCH_PYTHON_WRITER does not name the script; bin/bench sets it)")
            return
        }
        let python = environment["DELTASEAL_BENCH_PYTHON"] ?? "/usr/bin/python3"
        var random = SplitMix64(seed: 11)
        let all = BenchBatch.lines(sizes.max()!, random: &random, metadata: true)
        print("writer alone (dim 384, spawn to exit)     built-in ms   plain Python ms   speed-up   target")
        for size in sizes {
            let batch = scratch + "/writer-\(size).ndjson"
            try Data(BenchBatch.prefix(all, lines: size).utf8).write(to: URL(fileURLWithPath: batch))
            let outputs = [scratch + "/writer-ours", scratch + "/writer-python"]
            let commands = [[executables + "/writer"], [python, script]].enumerated().map { i, program in
                program + ["--input", batch, "--out", outputs[i]]
            }
            let times = try medians(rounds, prepare: { try Files.removeTree(outputs[$0]) }, commands.map { command in
                { try run(command, environment: environment, in: scratch, log: scratch + "/writer.log") }
            })
            try sameRows(outputs.map { $0 + "/delta.sqlite3" }, python: python, environment: environment, scratch: scratch)
            let speedUp = times[1] / times[0]
            print(pad("\(size) records", 40) + String(format: "%12.1f   %15.1f   %7.2fx   ", times[0] * 1000, times[1] * 1000, speedUp)
                  + ">= 3x: " + verdict(speedUp >= 3))
        }
        print("  speed-up: plain Python ms / built-in ms; both wrote the same schema and rows (checked)")
    }

    /// Throws unless the two databases hold the same schema and the same rows, byte for byte.
    static func sameRows(_ databases: [String], python: String, environment: [String: String], scratch: String) throws {
        let compare = """
            import sqlite3, sys
            def dump(path):
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                return (db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall(),
                        db.execute("SELECT c.name, c.dimension, r.id, r.embedding, r.document, r.metadata FROM records r "
                                   "JOIN collections c ON c.id = r.collection_id ORDER BY c.name, r.id").fetchall())
            a, b = dump(sys.argv[1]), dump(sys.argv[2])
            if a != b:
                sys.exit(f"the writers disagree: schema {a[0] == b[0]}, {len(a[1])} / {len(b[1])} rows, "
                         f"{sum(x != y for x, y in zip(a[1], b[1]))} differ")
            """
        try run([python, "-c", compare] + databases, environment: environment, in: scratch, log: scratch + "/compare.log")
    }
}
