import DeltaSealCore
import DeltaSealSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A check command: the writer's own reader, run on a verified and restored delta to prove it
/// answers (docs/formats.md, "Check command"). It runs as `CMD ARGS --delta DIR --manifest FILE`
/// in the writer sandbox: its own user, no_new_privs, Landlock with DIR read-only and only a
/// private tmp directory writable, a clean environment, a timeout, bounded output.
public struct DeltaCheck: Sendable {
    /// The command's words, before `--delta` and `--manifest`.
    public var command: [String]
    /// How long it may run before its process group gets SIGTERM.
    public var timeout: Duration
    /// Between SIGTERM and SIGKILL after the timeout.
    public var grace: Duration = .seconds(5)
    /// Who it runs as; nil keeps the verifier's own user.
    public var identity: Sandbox.Identity?
    /// Whether Landlock confines its writes (where the kernel has it).
    public var landlock: Bool
    /// The most bytes kept of its stdout, and of its stderr.
    public static let outputLimit = 64 << 10

    /// A check of `command`; by default Landlock where this kernel has it.
    public init(command: [String], timeout: Duration = .seconds(300), identity: Sandbox.Identity? = nil,
                landlock: Bool = Sandbox.landlockABI != nil) {
        precondition(!command.isEmpty, "a check command needs at least its program")
        self.command = command
        self.timeout = timeout
        self.identity = identity
        self.landlock = landlock
    }

    /// The command as it would be typed, for reports.
    public var displayCommand: String {
        command.map { $0.contains(" ") || $0.isEmpty ? "'\($0)'" : $0 }.joined(separator: " ")
    }

    /// Runs the check on `delta` with the manifest at `manifest`; `scratch` (the verifier's own,
    /// empty) gets the check's private tmp directory and its output logs. Makes `delta` readable,
    /// never writable, by the check's user. Returns when the check is done.
    public func run(delta: String, manifest: String, scratch: String) async -> VerificationReport.Check {
        let started = WallClock.monotonicNanoseconds()
        func result(_ verdict: VerificationReport.Status, _ reason: String?) -> VerificationReport.Check {
            VerificationReport.Check(command: displayCommand, verdict: verdict, reason: reason,
                                     durationMs: Int64((WallClock.monotonicNanoseconds() - started) / 1_000_000))
        }
        let temporary = scratch + "/tmp"
        do {
            try prepare(delta: delta, manifest: manifest, scratch: scratch, temporary: temporary)
        } catch {
            return result(.couldNotCheck, "cannot prepare the check: \(error)")
        }
        let process: ChildProcess
        do {
            let environment = [
                "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
                "HOME": temporary, "TMPDIR": temporary, "LANG": "C.UTF-8",
            ]
            process = try ChildProcess.spawn(
                arguments: command + ["--delta", delta, "--manifest", manifest], environment: environment,
                workingDirectory: temporary, outputPath: scratch + "/check.out", errorPath: scratch + "/check.err",
                sandbox: Sandbox(identity: identity, writableDirectories: [temporary], landlock: landlock, noNewPrivileges: true),
                outputLimit: Self.outputLimit, errorLimit: Self.outputLimit)
        } catch let error as SystemError where error.operation == "chdir" && error.errno == EACCES {
            return result(.couldNotCheck, "cannot start the check \(command[0]): \(error) (every directory above the "
                + "verifier's temporary directory must be searchable by the check's user)")
        } catch {
            return result(.couldNotCheck, "cannot start the check \(command[0]): \(error)")
        }
        let termination = await process.wait(timeout: timeout, grace: grace)
        // Whatever it said, nothing it started outlives it (a setsid escapee aside: it still
        // cannot write the delta, and the workspace is removed under it).
        process.signalGroup(SIGKILL)
        let reason = Self.lastLine(of: scratch + "/check.out")
        if termination.timedOut {
            return result(.couldNotCheck, "the check ran past its timeout of \(Self.seconds(timeout)) s and was killed with its process group"
                + (reason.map { "; its last line: " + $0 } ?? ""))
        }
        switch (termination.exitStatus, termination.signal) {
        case (0?, _): return result(.valid, reason)
        case (1?, _): return result(.invalid, reason ?? "the check said invalid and printed no reason"
                                    + (Self.lastLine(of: scratch + "/check.err").map { "; stderr: " + $0 } ?? ""))
        case (2?, _): return result(.couldNotCheck, reason ?? "the check could not check and printed no reason")
        case (let status?, _):
            return result(.couldNotCheck, "the check exited \(status)"
                + ((Self.lastLine(of: scratch + "/check.err") ?? reason).map { ": " + $0 } ?? ""))
        case (nil, let signal?): return result(.couldNotCheck, "the check was killed by signal \(signal)")
        case (nil, nil): return result(.couldNotCheck, "the check's exit could not be collected")
        }
    }

    /// Makes the delta readable and not writable by the check's user, and its tmp its own.
    private func prepare(delta: String, manifest: String, scratch: String, temporary: String) throws {
        // Search only, no listing: the check reaches its delta and tmp, not the rest of the workspace.
        try syscallRetrying("chmod", scratch) { chmod(scratch, 0o711) }
        for directory in [delta] + (try Files.walkBeneath(delta)).filter(\.isDirectory).map({ delta + "/" + $0.path }) {
            try syscallRetrying("chmod", directory) { chmod(directory, 0o755) }
        }
        for file in try Files.walk(delta).files {
            try syscallRetrying("chmod", delta + "/" + file) { chmod(delta + "/" + file, 0o644) }
        }
        try syscallRetrying("chmod", manifest) { chmod(manifest, 0o644) }
        try Files.makeDirectories(temporary, mode: 0o700)
        if let identity {
            try syscallRetrying("chown", temporary) { chown(temporary, identity.uid, identity.gid) }
        }
    }

    /// The last non-empty line of a log, sanitized for a report.
    private static func lastLine(of path: String) -> String? {
        guard let bytes = try? Files.readAll(path, limit: outputLimit * 2) else { return nil }
        let line = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
            .last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        return line.map { DisplayText.sanitize(String($0).trimmingCharacters(in: .whitespaces), limit: 4096) }
    }

    private static func seconds(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        return atto == 0 ? "\(s)" : String(format: "%.3g", Double(s) + Double(atto) / 1e18)
    }
}
