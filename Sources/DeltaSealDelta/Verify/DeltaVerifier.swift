import DeltaSealCore
import DeltaSealSQLite
import DeltaSealStore
import DeltaSealSystem
import DeltaSealZstd
import Foundation

/// Checks one shipped delta: manifest, every object's checksums, decompression under a hard cap,
/// and every SQLite file opened hardened and checked; then, with a ``DeltaCheck``, the writer's own
/// reader on the restored files. Writes only inside its own temporary directory, which it removes.
public struct DeltaVerifier: Sendable {
    /// `integrity_check` when true, `quick_check` when false.
    public var fullCheck: Bool
    /// Where the private temporary directory is made.
    public var temporaryRoot: String
    /// What checking one SQLite file may cost; exceeding it makes the delta invalid.
    public var budget = SQLiteBudget()
    /// Called after each file is checked: (files done, files in all, path).
    public var onFile: (@Sendable (Int, Int, String) -> Void)?
    /// Run on the restored delta once every file checked valid; its verdict joins the report's.
    public var check: DeltaCheck?

    public init(fullCheck: Bool = true, temporaryRoot: String = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") {
        self.fullCheck = fullCheck
        self.temporaryRoot = temporaryRoot
    }

    /// Verifies the delta at the store's location. With `restoreInto`, the verified files are moved
    /// into that directory (created, must not exist or be empty) instead of being deleted.
    ///
    /// Store reads run on the blocking executor (the sink below, decompression and writing
    /// included); the SQLite checks and the check command run in the calling task: the verifier is
    /// a process of its own, whose cooperative pool has nothing else to serve.
    public func verify(_ store: any ObjectStore, restoreInto: String? = nil) async -> VerificationReport {
        let counted = CountingStore(store)
        var report = await check(counted, restoreInto: restoreInto)
        report.requests = counted.requestCounts
        return report
    }

    private func check(_ store: any ObjectStore, restoreInto: String?) async -> VerificationReport {
        var report = VerificationReport(location: store.location.description)
        report.sqliteCheck = fullCheck ? "integrity_check" : "quick_check"
        let manifest: Manifest
        let manifestBytes: [UInt8]
        do {
            let bytes = try await store.getBytes(key: ObjectLayout.manifestKey, limit: DeltaLimits.maxManifestBytes)
            manifestBytes = bytes
            do {
                manifest = try StableJSON.decode(Manifest.self, from: bytes)
            } catch {
                // A newer format is this verifier's limit; anything else is the store's content.
                if let version = Self.formatVersion(in: bytes), version > Manifest.currentFormatVersion {
                    report.status = .couldNotCheck
                    report.problems.append(.init(file: ObjectLayout.manifestKey,
                        reason: "format_version \(version) is newer than this verifier reads (\(Manifest.currentFormatVersion)); upgrade the verifier"))
                } else {
                    report.status = .invalid
                    report.problems.append(.init(file: ObjectLayout.manifestKey, reason: "unreadable manifest: \(error)"))
                }
                return report
            }
        } catch let error as StoreError where error.code == .notFound {
            report.status = .couldNotCheck
            report.problems.append(.init(file: ObjectLayout.manifestKey, reason: "delta not found: no manifest at \(store.location)"))
            return report
        } catch let error as StoreError where error.code == .invalidObject {
            report.status = .invalid
            report.problems.append(.init(file: ObjectLayout.manifestKey, reason: "unusable manifest: \(error)"))
            return report
        } catch {
            report.status = .couldNotCheck
            report.problems.append(.init(file: ObjectLayout.manifestKey, reason: "cannot read manifest: \(error)"))
            return report
        }
        report.deltaID = manifest.deltaID.rawValue
        report.records = manifest.recordCount
        let structural = manifest.structuralProblems()
        guard structural.isEmpty else {
            // A manifest of a newer format is this verifier's limit, not the delta's fault.
            report.status = manifest.formatVersion > Manifest.currentFormatVersion ? .couldNotCheck : .invalid
            report.problems += structural.map { .init(file: ObjectLayout.manifestKey, reason: $0) }
            return report
        }

        let workspace: String
        do {
            workspace = try makeTemporaryDirectory()
        } catch {
            report.status = .couldNotCheck
            report.problems.append(.init(file: nil, reason: "cannot make a temporary directory: \(error)"))
            return report
        }
        // Removed on every way out, a SIGTERM included (where the command installed the handler).
        CleanupOnSignal.register(workspace)
        defer {
            try? Files.removeTree(workspace)
            CleanupOnSignal.unregister(workspace)
        }

        // The delta's files alone below files/, so a check command sees exactly the delta.
        let staging = workspace + "/files"
        do {
            try Files.makeDirectories(staging, mode: 0o700)
        } catch {
            report.status = .couldNotCheck
            report.problems.append(.init(file: nil, reason: "cannot make a temporary directory: \(error)"))
            return report
        }
        for entry in manifest.files {
            let outcome = await check(entry, store: store, workspace: staging)
            report.files += 1
            onFile?(report.files, manifest.files.count, entry.path)
            report.rawBytes += entry.rawSize
            report.compressedBytes += entry.compressedSize
            switch outcome {
            case .ok: continue
            case .invalid(let reason):
                report.problems.append(.init(file: entry.path, reason: reason))
                if report.status == .valid { report.status = .invalid }
            case .couldNotCheck(let reason):
                report.problems.append(.init(file: entry.path, reason: reason))
                report.status = .couldNotCheck
                return report
            }
        }
        if report.status == .valid, let check {
            await runCheck(check, manifestBytes: manifestBytes, staging: staging, workspace: workspace, report: &report)
        }
        if report.status == .valid, let destination = restoreInto {
            do {
                try restore(manifest, from: staging, into: destination)
            } catch {
                report.status = .couldNotCheck
                report.problems.append(.init(file: nil, reason: "cannot restore into \(destination): \(error)"))
            }
        }
        return report
    }

    private enum FileOutcome { case ok, invalid(String), couldNotCheck(String) }

    /// Runs the check command on the staged delta; an invalid or undecided verdict becomes the report's.
    private func runCheck(_ check: DeltaCheck, manifestBytes: [UInt8], staging: String, workspace: String,
                          report: inout VerificationReport) async {
        let manifestPath = workspace + "/" + ObjectLayout.manifestKey
        do {
            try Files.writeAtomically(manifestBytes, to: manifestPath, mode: 0o644)
        } catch {
            report.status = .couldNotCheck
            report.problems.append(.init(file: nil, reason: "cannot write the manifest for the check: \(error)"))
            return
        }
        let result = await check.run(delta: staging, manifest: manifestPath, scratch: workspace)
        report.check = result
        switch result.verdict {
        case .valid: break
        case .invalid:
            report.status = .invalid
            report.problems.append(.init(file: nil, reason: "check \(result.command): \(result.reason ?? "invalid")"))
        case .couldNotCheck:
            report.status = .couldNotCheck
            report.problems.append(.init(file: nil, reason: "check \(result.command) could not check: \(result.reason ?? "no reason")"))
        }
    }

    /// Content problems found while streaming, kept apart from store failures.
    private struct ContentProblem: Error { var reason: String }
    /// What this host cannot do (disk space, its own temporary directory), kept apart likewise.
    private struct LocalProblem: Error { var reason: String }

    private func check(_ entry: Manifest.FileEntry, store: any ObjectStore, workspace: String) async -> FileOutcome {
        let target = workspace + "/" + entry.path
        do {
            let output: PosixFile
            do {
                try Files.makeDirectories(PathName.directory(of: target), mode: 0o700)
                output = try PosixFile.create(target, mode: 0o600, exclusive: true)
            } catch {
                throw LocalProblem(reason: "cannot create \(target): \(error)")
            }
            var compressedHash = SHA256Stream()
            var rawHash = SHA256Stream()
            let decompressor = try ZstdDecompressor(limit: entry.rawSize)
            var decompressionError: String?
            // The first bytes wait until the frame header can be read: its content size must be
            // the manifest's raw size before a byte is decompressed (a forged raw_size does not
            // get to fill the disk), and the disk must have room for it.
            var header: [UInt8] = []
            var headerChecked = false
            let feed = { (chunk: UnsafeRawBufferPointer) throws in
                guard decompressionError == nil else { return }
                do {
                    try decompressor.decompress(chunk) { raw in
                        rawHash.update(raw)
                        do { try output.write(raw) } catch { throw LocalProblem(reason: "cannot write \(target): \(error)") }
                    }
                } catch let error as ZstdError {
                    decompressionError = error.message
                }
            }
            try await store.get(key: entry.objectKey) { chunk in
                compressedHash.update(chunk)
                if compressedHash.count > entry.compressedSize {
                    throw ContentProblem(reason: "object is larger than the manifest's compressed_size \(entry.compressedSize)")
                }
                guard !headerChecked else { return try feed(chunk) }
                header += chunk
                switch header.withUnsafeBytes(ZstdFrameHeader.parse) {
                case .incomplete: return
                case .invalid: throw ContentProblem(reason: "object does not start with a zstd frame header")
                case .sizeUnknown: throw ContentProblem(reason: "the zstd frame header records no content size (DeltaSeal always records it)")
                case .contentSize(let size) where size != UInt64(entry.rawSize):
                    throw ContentProblem(reason: "the zstd frame header says \(size) bytes, the manifest's raw_size says \(entry.rawSize)")
                case .contentSize:
                    try requireSpace(entry.rawSize, in: workspace)
                    headerChecked = true
                    try header.withUnsafeBytes { try feed($0) }
                    header = []
                }
            }
            if compressedHash.count != entry.compressedSize {
                return .invalid("object is \(compressedHash.count) bytes, manifest says \(entry.compressedSize) (truncated)")
            }
            if compressedHash.hex() != entry.compressedSHA256 {
                return .invalid("compressed sha256 is \(compressedHash.hex()), manifest says \(entry.compressedSHA256)")
            }
            if !headerChecked { return .invalid("object ends inside its zstd frame header") }
            if let decompressionError { return .invalid("decompression failed: \(decompressionError)") }
            do { try decompressor.finish() } catch let error as ZstdError { return .invalid("decompression failed: \(error.message)") }
            if rawHash.count != entry.rawSize {
                return .invalid("decompressed to \(rawHash.count) bytes, manifest says \(entry.rawSize)")
            }
            if rawHash.hex() != entry.rawSHA256 {
                return .invalid("raw sha256 is \(rawHash.hex()), manifest says \(entry.rawSHA256)")
            }
            do { try output.close() } catch { throw LocalProblem(reason: "cannot write \(target): \(error)") }
        } catch let problem as ContentProblem {
            return .invalid(problem.reason)
        } catch let problem as LocalProblem {
            return .couldNotCheck(problem.reason)
        } catch let error as StoreError where error.code == .notFound {
            return .invalid("object \(entry.objectKey) is missing")
        } catch let error as StoreError where error.code == .invalidObject {
            return .invalid("object \(entry.objectKey) is unusable: \(error.message)")
        } catch let error as StoreError {
            return .couldNotCheck("cannot read object \(entry.objectKey): \(error)")
        } catch {
            return .couldNotCheck("local failure while checking: \(error)")
        }
        guard entry.kind == .sqlite, let expected = entry.sqlite else { return .ok }
        return checkSQLite(at: target, expected: expected)
    }

    /// The `format_version` of manifest bytes that do not decode as this format, if they have one.
    private static func formatVersion(in bytes: [UInt8]) -> Int? {
        struct Version: Decodable {
            var formatVersion: Int
            enum CodingKeys: String, CodingKey { case formatVersion = "format_version" }
        }
        return (try? StableJSON.decode(Version.self, from: bytes))?.formatVersion
    }

    /// Throws ``LocalProblem`` unless the file system of `directory` has room for `bytes` more.
    private func requireSpace(_ bytes: Int64, in directory: String) throws {
        guard let free = Files.availableBytes(directory) else { return }
        if bytes > free {
            throw LocalProblem(reason: "needs \(bytes) bytes to decompress, \(directory) has \(free) free")
        }
    }

    private func checkSQLite(at path: String, expected: Manifest.SQLiteInfo) -> FileOutcome {
        let seconds = budget.seconds(forBytes: (try? Files.size(path)) ?? 0)
        do {
            Database.limitHeap(bytes: budget.heapBytes)
            let db = try Database(path: path, mode: .untrustedImmutable)
            defer { try? db.close() }
            db.limitValueLength(budget.valueBytes)
            db.limitTime(seconds: seconds)
            let problems = try SQLiteFile.check(db, full: fullCheck)
            if !problems.isEmpty {
                return .invalid("\(fullCheck ? "integrity_check" : "quick_check") failed: " + problems.prefix(5).joined(separator: "; "))
            }
            let actual = try SQLiteFile.describe(db)
            if actual.pageSize != expected.pageSize || actual.pageCount != expected.pageCount {
                return .invalid("page size/count \(actual.pageSize)/\(actual.pageCount), manifest says \(expected.pageSize)/\(expected.pageCount)")
            }
            if actual.rowCounts != expected.rowCounts {
                let tables = Set(actual.rowCounts.keys).union(expected.rowCounts.keys).sorted()
                let diffs = tables.filter { actual.rowCounts[$0] != expected.rowCounts[$0] }.map {
                    "\($0): \(actual.rowCounts[$0].map(String.init) ?? "absent") rows, manifest says \(expected.rowCounts[$0].map(String.init) ?? "absent")"
                }
                return .invalid("row counts differ: " + diffs.joined(separator: "; "))
            }
            return .ok
        } catch let error as SQLiteError where error.isInterrupted {
            return .invalid("checking took longer than its time budget of \(Int(seconds)) s (a hostile schema, or raise --time-budget)")
        } catch let error as SQLiteError where error.isOutOfMemory {
            return .invalid("checking needed more than its heap budget of \(budget.heapBytes) bytes: \(error.message)")
        } catch let error as SQLiteError where error.isTooBig {
            return .invalid("a value is larger than the budget of \(budget.valueBytes) bytes: \(error.message)")
        } catch let error as SQLiteError {
            return .invalid("not a sound SQLite database: \(error.message)")
        } catch {
            return .couldNotCheck("\(error)")
        }
    }

    private func makeTemporaryDirectory() throws -> String {
        var template = Array((temporaryRoot + "/deltaseal-verify-XXXXXX").utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemError("mkdtemp", temporaryRoot, errno: errno)
        }
        return String(cString: result)
    }

    private func restore(_ manifest: Manifest, from workspace: String, into destination: String) throws {
        try Files.makeDirectories(destination)
        guard try Files.list(destination).isEmpty else {
            throw SystemError("restore", destination, errno: EEXIST)
        }
        for entry in manifest.files {
            let target = destination + "/" + entry.path
            try Files.makeDirectories(PathName.directory(of: target))
            let staged = workspace + "/" + entry.path
            _ = chmod(staged, 0o644)
            do {
                try Files.rename(staged, target)
            } catch let error as SystemError where error.errno == EXDEV {
                try FileManager.default.copyItem(atPath: staged, toPath: target)
            }
        }
    }
}
