import DeltaSealCore
import DeltaSealDelta
import DeltaSealS3
import DeltaSealStore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// DeltaSeal against a real S3 server (SeaweedFS, SigV4 checked), through the built binaries.
@Suite(.enabled(if: S3TestServer.available, "needs the SeaweedFS server bin/test starts"), .timeLimit(.minutes(2)))
struct S3Tests {
    let server = S3TestServer.current!

    /// Runs `supervisor start --once` against `s3://bucket/prefix`.
    func runSupervisor(_ harness: PipelineHarness, prefix: String, extra: [String] = [], secret: String? = nil,
                       endpoint: String? = nil) async throws -> TestSupport.Result {
        try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
             "--host", "test-host", "--endpoint", endpoint ?? server.endpoint, "--retry-base-delay", "0.05", "--log-level", "info"] + extra,
            cwd: harness.root, environment: server.environment(secret: secret))
    }

    func deltaIDs(prefix: String) async throws -> [String] {
        let store = try server.store(prefix: prefix)
        return Set(try await store.list(prefix: "test-host/").compactMap { $0.key.split(separator: "/").dropFirst().first.map(String.init) }).sorted()
    }

    @Test func shipsToS3AndTheVerifierValidatesWithObjectsPlusOneRequests() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        for n in 0..<2 { try TestSupport.dropBatch(TestSupport.batch(records: 30 + n), named: "b\(n).ndjson", spool: harness.config.spool) }
        let result = try await runSupervisor(harness, prefix: prefix)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("shipped 2, rejected 0, failed 0"))
        // One object and the manifest per delta: 2 PUTs, nothing else.
        #expect(result.stderr.components(separatedBy: "\"requests\":\"PUT=2\"").count == 3, "\(result.stderr)")
        let ids = try await deltaIDs(prefix: prefix)
        #expect(ids.count == 2)
        for id in ids {
            let verify = try await TestSupport.run([TestSupport.verifier, "s3://\(server.bucket)/\(prefix)/test-host/\(id)", "--json"],
                                             environment: server.environment())
            #expect(verify.status == 0, "\(verify.stdout)")
            let report = try StableJSON.decode(VerificationReport.self, from: Array(verify.stdout.utf8))
            #expect(report.requests == ["GET": report.files + 1])
        }
        #expect(try Files.list(harness.spool.work) == [])
    }

    @Test func awsCLIReadsWhatDeltaSealWroteAndDeltaSealReadsWhatItWrote() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        try TestSupport.dropBatch(TestSupport.batch(records: 40), named: "b.ndjson", spool: harness.config.spool)
        #expect(try await runSupervisor(harness, prefix: prefix).status == 0)
        let id = try #require(try await deltaIDs(prefix: prefix).first)
        let store = try server.store(prefix: prefix)
        let manifest = try await StableJSON.decode(Manifest.self, from: store.getBytes(key: "test-host/\(id)/manifest.json"))
        let file = manifest.files[0]
        let download = harness.root + "/downloaded.zst"
        let cp = try await server.aws(["s3", "cp", "s3://\(server.bucket)/\(prefix)/test-host/\(id)/\(file.objectKey)", download])
        #expect(cp.status == 0, "\(cp.stderr)")
        #expect(SHA256Stream.hex(of: try Files.readAll(download)) == file.compressedSHA256)

        let upload = harness.root + "/from-cli.bin"
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: upload))
        let put = try await server.aws(["s3", "cp", upload, "s3://\(server.bucket)/\(prefix)/from-cli/object.bin"])
        #expect(put.status == 0, "\(put.stderr)")
        #expect(try await store.getBytes(key: "from-cli/object.bin") == bytes)
    }

    @Test func verifierGetsItsCredentialsThroughAFileItDeletesNeverItsEnvironment() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        let seen = harness.root + "/verifier-seen"
        // A verifier in front of the real one that records what it was given.
        let verifier = try TestSupport.script("""
            { env; echo ARGS "$@"; echo TMPDIR-MODE $(stat -c %a "$TMPDIR"); } > \(seen)
            file=""; prev=""; for a in "$@"; do [ "$prev" = --credentials-file ] && file="$a"; prev="$a"; done
            \(TestSupport.verifier) "$@"; status=$?
            [ -n "$file" ] && [ -e "$file" ] && echo STILL-THERE >> \(seen)
            exit $status
            """, at: harness.root + "/verifier.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 4), named: "b.ndjson", spool: harness.config.spool)
        var environment = server.environment()
        environment["DELTASEAL_VERIFIER_PATH"] = verifier
        let result = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
             "--host", "test-host", "--endpoint", server.endpoint, "--log-level", "warning", "--metrics-address", ""],
            cwd: harness.root, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        let recorded = try String(contentsOfFile: seen, encoding: .utf8)
        #expect(!recorded.contains(server.secretKey), "the secret reached the verifier's environment or arguments")
        #expect(!recorded.contains("AWS_SECRET_ACCESS_KEY") && !recorded.contains("AWS_ACCESS_KEY_ID="))
        #expect(recorded.contains("--credentials-file"))
        #expect(recorded.contains("TMPDIR-MODE 700"))
        #expect(recorded.contains("AWS_REGION=us-east-1"))
        #expect(!recorded.contains("STILL-THERE"), "the verifier did not delete the credentials file")
        #expect(try await deltaIDs(prefix: prefix).count == 1)
    }

    @Test func aCredentialsFileServesTheListingAndEveryDeltaOfARangeCheck() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        for n in 0..<2 { try TestSupport.dropBatch(TestSupport.batch(records: 3 + n), named: "b\(n).ndjson", spool: harness.config.spool) }
        let shipped = try await runSupervisor(harness, prefix: prefix)
        #expect(shipped.status == 0, "\(shipped.stderr)")
        try #require(try await deltaIDs(prefix: prefix).count == 2)
        let file = harness.root + "/credentials"
        try TestSupport.write("[default]\naws_access_key_id = \(server.accessKey)\naws_secret_access_key = \(server.secretKey)\n", to: file)
        // Nothing else to sign with: no keys in the environment, no profile, no instance metadata.
        let environment = ["PATH": "/usr/bin:/bin", "HOME": harness.root, "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"]
        let result = try await TestSupport.run([TestSupport.verifier, "check", "s3://\(server.bucket)/\(prefix)", "--host", "test-host",
                                                "--endpoint", server.endpoint, "--credentials-file", file, "--json"],
                                               cwd: harness.root, environment: environment)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("\"valid\" : 2"), "\(result.stdout)")
        #expect(!Files.exists(file), "the credentials file was left behind")
    }

    @Test func wrongSecretIsAClearPermanentErrorAndTheBatchIsKept() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        let text = TestSupport.batch(records: 5)
        try TestSupport.dropBatch(text, named: "b.ndjson", spool: harness.config.spool)
        let result = try await runSupervisor(harness, prefix: prefix, secret: "definitely-wrong-secret")
        #expect(result.status == 1)
        #expect(!result.stderr.contains("definitely-wrong-secret"))
        let failed = try Files.list(harness.spool.failed)
        try #require(failed.count == 1)
        let report = try String(contentsOfFile: harness.spool.failed + "/" + failed[0] + "/report.json", encoding: .utf8)
        #expect(report.contains("the server refused the credentials (access key \(server.accessKey) from environment (secret redacted))"), "\(report)")
        #expect(report.contains("SignatureDoesNotMatch"))
        #expect(report.contains("\"attempts\" : 1"), "a wrong secret is not retried: \(report)")
        #expect(!report.contains("definitely-wrong-secret"))
        #expect(try String(contentsOfFile: harness.spool.failed + "/" + failed[0] + "/batches/b.ndjson", encoding: .utf8) == text)
    }

    @Test func stoppedServerIsWaitedOutNotFailedAndTheDeltaResumesWithoutWritingAgain() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.letWritersReportOutsideTheirOutput()
        let runs = harness.root + "/runs"
        let writer = try TestSupport.script("echo run >> \(runs); exec \(TestSupport.writer) \"$@\"", at: harness.root + "/counting.sh")
        let text = TestSupport.batch(records: 5)
        try TestSupport.dropBatch(text, named: "b.ndjson", spool: harness.config.spool)
        let prefix = S3TestServer.uniquePrefix()
        var environment = server.environment().merging(PipelineHarness.writersReportOutside) { $1 }
        environment["DELTASEAL_OUTAGE_THRESHOLD"] = "0.5"
        // A port nothing listens on: what a stopped server looks like.
        let down = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
             "--host", "test-host", "--endpoint", "http://127.0.0.1:9", "--retry-base-delay", "0.05", "--max-attempts", "2",
             "--writer", writer, "--log-level", "info", "--metrics-address", ""],
            cwd: harness.root, environment: environment)
        // Not shipped, not failed: the delta waits in work/, sealed and packed, for the store.
        #expect(down.status == 1)
        #expect(down.stderr.contains("Couldn't connect to server"), "\(down.stderr)")
        #expect(down.stderr.contains("store unavailable since"), "\(down.stderr)")
        #expect(try Files.list(harness.spool.failed) == [])
        let id = try #require(try harness.spool.workInProgress().first)
        #expect(try harness.spool.load(id)?.state == .packed)
        #expect(try String(contentsOfFile: harness.spool.batchPath(try #require(try harness.spool.load(id)), "b.ndjson"), encoding: .utf8) == text)
        // The server is back: the packed delta is uploaded and verified; the writer ran once.
        let back = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
             "--host", "test-host", "--endpoint", server.endpoint, "--writer", writer, "--log-level", "warning", "--metrics-address", ""],
            cwd: harness.root, environment: environment)
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try await deltaIDs(prefix: prefix) == [id.rawValue])
        #expect(try String(contentsOfFile: runs, encoding: .utf8).split(separator: "\n").count == 1)
    }

    @Test func deltaAboveTheMultipartThresholdShipsAndVerifies() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let prefix = S3TestServer.uniquePrefix()
        // 12 MiB of random bytes beside the database: three parts of 5 MiB at most.
        let writer = try TestSupport.script("""
            \(TestSupport.writer) "$@" || exit $?
            out="${@: -1}"
            mkdir -p "$out/index"
            head -c 12582912 /dev/urandom > "$out/index/vectors.bin"
            """, at: harness.root + "/big.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 10), named: "b.ndjson", spool: harness.config.spool)
        let result = try await runSupervisor(harness, prefix: prefix,
                                       extra: ["--writer", writer, "--multipart-threshold", "1048576", "--part-size", "5242880"])
        #expect(result.status == 0, "\(result.stderr)")
        // Database object: 1 PUT; index: create + 3 parts + complete; manifest: 1 PUT.
        #expect(result.stderr.contains("\"requests\":\"POST=2,PUT=5\""), "\(result.stderr)")
        let id = try #require(try await deltaIDs(prefix: prefix).first)
        let verify = try await TestSupport.run([TestSupport.verifier, "s3://\(server.bucket)/\(prefix)/test-host/\(id)"],
                                         environment: server.environment())
        #expect(verify.status == 0, "\(verify.stdout)")
        #expect(try await server.store(prefix: prefix).listPendingUploads(prefix: "").isEmpty)
    }

    @Test func interruptedMultipartUploadIsAbortedAndLeavesNothing() async throws {
        let prefix = S3TestServer.uniquePrefix()
        let proxy = try FaultProxy(upstream: server.endpoint)
        try await proxy.set([.init(action: "reset_body", method: "PUT", contains: "partNumber=2")])
        var options = S3Options()
        options.multipartThreshold = 1 << 20
        options.partSize = 5 << 20
        options.partConcurrency = 1
        options.maxAttempts = 1  // the part is not retried by the store (RequestRetryTests does that)
        let store = try server.store(prefix: prefix, endpoint: proxy.endpoint, options: options)
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let bytes = (0..<(11 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/big.bin"))
        await #expect {
            try await store.put(key: "h/d/files/big.bin.zst", file: dir + "/big.bin", sha256: SHA256Stream.hex(of: bytes))
        } throws: { error in
            (error as? StoreError)?.isRetryable == true
        }
        #expect(try await proxy.injected() == ["reset_body": 1])
        let direct = try server.store(prefix: prefix)
        #expect(try await direct.listPendingUploads(prefix: "").isEmpty)
        #expect(try await direct.head(key: "h/d/files/big.bin.zst") == nil)
        // The same upload goes through once the network behaves.
        try await store.put(key: "h/d/files/big.bin.zst", file: dir + "/big.bin", sha256: SHA256Stream.hex(of: bytes))
        #expect(try await direct.getBytes(key: "h/d/files/big.bin.zst", limit: 12 << 20) == bytes)
        try await direct.delete(keys: ["h/d/files/big.bin.zst"])
    }

    @Test func aCancelledUploadStopsMidTransferAndLeavesNothing() async throws {
        let prefix = S3TestServer.uniquePrefix()
        let proxy = try FaultProxy(upstream: server.endpoint)
        // The first part's request hangs far longer than the test may run: only the cancellation
        // can end it (the store's own stall timeout is set longer still).
        try await proxy.set([.init(action: "stall", method: "PUT", contains: "partNumber=1", seconds: 900)])
        var options = S3Options()
        options.multipartThreshold = 1 << 20
        options.partSize = 5 << 20
        options.stallTimeoutSeconds = 900
        options.maxAttempts = 1
        let store = try server.store(prefix: prefix, endpoint: proxy.endpoint, options: options)
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let bytes = (0..<(11 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ $0 >> 11) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/big.bin"))
        let upload = Task {
            try await store.put(key: "h/d/files/big.bin.zst", file: dir + "/big.bin", sha256: SHA256Stream.hex(of: bytes))
        }
        try await waitUntil(timeout: .seconds(120)) { ((try? await proxy.injected()) ?? [:])["stall"] == 1 }
        upload.cancel()
        await #expect(throws: CancellationError.self) { try await upload.value }
        // The multipart upload was aborted on the way out, and nothing appeared.
        let direct = try server.store(prefix: prefix)
        #expect(try await direct.listPendingUploads(prefix: "").isEmpty)
        #expect(try await direct.head(key: "h/d/files/big.bin.zst") == nil)
    }
}
