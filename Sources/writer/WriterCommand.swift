import ArgumentParser
import CDeltaSealBuildInfo
import DeltaSealCore
import DeltaSealSystem
import DeltaSealWriter
#if canImport(Glibc)
import Glibc
#endif

/// `writer --input FILE... --out DIR`: the built-in writer (see docs/formats.md, "Writer contract").
struct WriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "writer",
        abstract: "Write NDJSON batches into one SQLite delta file.",
        discussion: "Exit 0: --out holds a complete delta. Exit 2: bad input (the message names file and line); nothing is left in --out. Other: failure, retry.",
        version: DeltaSealVersion.line("writer", commit: BuildCommit.current(compiled: String(cString: deltaseal_git_commit())))
    )

    @Option(name: .customLong("input"), parsing: .upToNextOption, help: "NDJSON batch files.")
    var inputs: [String]

    @Option(name: .customLong("out"), help: "Directory for the delta.")
    var out: String

    @Option(name: .customLong("max-line-bytes"), help: "Longest accepted line.")
    var maxLineBytes: Int = 16 << 20

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("--input needs at least one file") }
        if maxLineBytes < 1 { throw ValidationError("--max-line-bytes must be positive") }
    }

    func run() throws {
        let status = Self.write(inputs: inputs, out: out, maxLineBytes: maxLineBytes)
        if status != 0 { throw ExitCode(status) }
    }

    /// Writes the delta; the exit status.
    static func write(inputs: [String], out: String, maxLineBytes: Int) -> Int32 {
        do {
            let summary = try DeltaWriter(maxLineBytes: maxLineBytes).write(inputs: inputs, outputDirectory: out)
            print("wrote \(summary.records) records in \(summary.collections) collections to \(out)/\(DeltaWriter.databaseName)")
            return 0
        } catch let bad as DeltaWriter.BadInput {
            FileHandleOutput.stderr(bad.description)
            return WriterContract.badInput
        } catch {
            FileHandleOutput.stderr("error: \(error)")
            return 1
        }
    }
}

enum FileHandleOutput {
    static func stderr(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
