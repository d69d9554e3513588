import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// The verify stage: a separate verifier process downloads, decompresses and checks the delta;
/// only its "valid" ships it.
extension DeltaPipeline {
    /// Runs the verifier process on the uploaded delta; → `verified`.
    func verify(_ record: DeltaRecord, _ log: Logger) async throws -> DeltaEvent {
        let verifyStarted = WallClock.monotonicNanoseconds()
        let directory = spool.directory(of: record.id)
        let url = config.store.appending(ObjectLayout.join(config.host, record.id.rawValue))
        var arguments = [config.verifierPath, url.description, "--json"] + (live.quickVerify ? ["--quick"] : ["--full"])
            + (config.store.scheme == .s3 ? config.s3.arguments : [])
        for stale in ["verify.log", "verify.err", "verify-tmp"] { try Files.removeTree(directory + "/" + stale) }
        // A private TMPDIR (0700) under the spool, and the credentials in a 0600 file there that
        // the verifier deletes once read: none of them in its environment.
        let privateTemporary = directory + "/verify-tmp"
        try Files.makeDirectories(privateTemporary, mode: 0o700)
        if !config.verifyCheckCommand.isEmpty {
            // The check runs as the writer user inside the verifier's workspace below this
            // directory: it may pass through (search), not list; the credentials file is 0600
            // and the verifier deletes it once read.
            try syscallRetrying("chmod", privateTemporary) { chmod(privateTemporary, 0o711) }
            let timeout = config.verifyCheckTimeout.components
            arguments += ["--check-command", config.verifyCheckCommand,
                          "--check-timeout", "\(Double(timeout.seconds) + Double(timeout.attoseconds) / 1e18)",
                          "--check-user", config.writerUser]
            if !config.writerGroup.isEmpty { arguments += ["--check-group", config.writerGroup] }
        }
        if let credentials = verifierCredentials {
            let file = privateTemporary + "/credentials"
            try Files.writeAtomically(Array(credentials.sharedCredentialsFile.utf8), to: file, mode: 0o600)
            arguments += ["--credentials-file", file]
        }
        let environment = VerifierEnvironment.make(temporary: privateTemporary)
        var ran: ChildProcess.Termination?
        var serverFailure: String?
        if let verifierServer, verifierServer.isAvailable {
            // A child of the server, or (before any child ran) a verifier process below.
            if case .ran(let ended, let failure) = await verifierServer.run(
                id: "\(record.id.rawValue)-\(record.attempt)-\(verifyStarted)", arguments: arguments, environment: environment,
                workingDirectory: directory, outputPath: directory + "/verify.log", errorPath: directory + "/verify.err",
                timeout: live.verifierTimeout, grace: live.killGrace, log) {
                ran = ended
                serverFailure = failure
            }
        }
        let termination: ChildProcess.Termination
        let launched = ran == nil ? "process" : "fork-server"
        if let ran {
            termination = ran
        } else {
            let process: ChildProcess
            do {
                process = try ChildProcess.spawn(arguments: arguments, environment: environment,
                                                 workingDirectory: directory, outputPath: directory + "/verify.log",
                                                 errorPath: directory + "/verify.err")
            } catch {
                return .verified(.couldNotCheck(reason: "cannot start the verifier \(config.verifierPath): \(error)",
                                                storeAvailable: storeHealth.isAvailable))
            }
            termination = await process.wait(timeout: live.verifierTimeout, grace: live.killGrace)
        }
        try? Files.removeTree(privateTemporary)
        let report = (try? Files.readAll(directory + "/verify.log")).flatMap { try? StableJSON.decode(VerificationReport.self, from: $0) }
        if let check = report?.check {
            SupervisorMetrics.stage("check", nanoseconds: UInt64(max(0, check.durationMs)) * 1_000_000)
        }
        if termination.exitStatus == VerifierExit.valid {
            storeHealth.succeeded()
            SupervisorMetrics.stage("verify", nanoseconds: WallClock.monotonicNanoseconds() - verifyStarted)
            if let manifest = try? localManifest(record) {
                SupervisorMetrics.bytes("raw", manifest.rawBytes)
                SupervisorMetrics.bytes("compressed", manifest.compressedBytes)
            }
            var metadata: Logger.Metadata = ["verifier": "\(launched)"]
            if let check = report?.check { metadata["check_ms"] = "\(check.durationMs)" }
            log.info("verified", metadata: metadata)
            return .verified(.valid)
        }
        var kind = termination.timedOut ? "timeout" : "error"
        var reason = termination.timedOut ? "verifier timed out" : "verifier exit \(termination.exitStatus.map(String.init) ?? "by signal \(termination.signal ?? 0)")"
        if let report {
            reason += ": " + report.status.rawValue + " " + report.problems.map { "\($0.file ?? "-"): \($0.reason)" }.joined(separator: "; ")
            kind = report.status.rawValue
        } else {
            reason += serverFailure.map { "; " + $0 } ?? ""
            reason += logSuffix(directory + "/verify.err")
        }
        SupervisorMetrics.verificationFailure(reason: kind)
        log.warning("verification failed", metadata: ["reason": "\(reason)", "verifier": "\(launched)"])
        // "invalid": what was uploaded is bad; write the delta again. Anything else (could not
        // check, a timeout, a crash) says nothing about the delta: verify it again.
        if termination.exitStatus == VerifierExit.invalid { return .verified(.invalid(reason: reason)) }
        _ = storeHealth.failed(StoreError(.transient, key: nil, "the verifier could not check the delta: \(reason)"))
        return .verified(.couldNotCheck(reason: reason, storeAvailable: storeHealth.isAvailable))
    }

}
