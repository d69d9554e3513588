import DeltaSealStoreOpener
import Foundation
import DeltaSealCore
import DeltaSealS3
import DeltaSealStore
import DeltaSealSystem

/// The checks that decide whether the supervisor can work, in one place: `start` runs them
/// before it touches a batch, `config check` runs the same and prints what it found. Each
/// problem has a kind, and the kind decides the exit status (sysexits), so systemd's
/// `RestartPreventExitStatus` can tell a broken configuration (no restart will fix it) from a
/// store that is down for now.
public struct Preflight {
    /// What kind of problem, and so which exit status.
    public enum Kind: String, Sendable, Comparable {
        /// The store did not answer (network, DNS, 5xx): EX_UNAVAILABLE, 69.
        case unavailable
        /// Another supervisor holds the spool (at start): EX_TEMPFAIL, 75.
        case temporary
        /// The spool cannot be created or written: EX_CANTCREAT, 73.
        case cannotCreate
        /// A bad setting, an executable that cannot be run, missing or refused credentials: EX_CONFIG, 78.
        case config

        /// The sysexits status of this kind.
        public var exitStatus: Int32 {
            switch self {
            case .unavailable: return 69
            case .temporary: return 75
            case .cannotCreate: return 73
            case .config: return 78
            }
        }

        private var rank: Int { [.temporary: 0, .unavailable: 1, .cannotCreate: 2, .config: 3][self]! }
        public static func < (a: Kind, b: Kind) -> Bool { a.rank < b.rank }
    }

    /// One thing that stops the supervisor from working.
    public struct Problem: Sendable, CustomStringConvertible {
        public var kind: Kind
        public var message: String
        public var description: String { message }
    }

    /// What the checks found.
    public struct Report: Sendable {
        public var problems: [Problem] = []
        /// Worth a look but not fatal (unknown `DELTASEAL_*` variables, writers as root).
        public var warnings: [String] = []
        /// What was checked and how it came out, for `config check` (`writer sandbox: ...`).
        public var notes: [String] = []
        /// The metrics address, resolved to the numeric address to bind (nil: metrics off).
        public var metricsAddress: ListenAddress?

        /// The exit status the worst problem asks for; nil when there is none.
        public var exitStatus: Int32? { problems.map(\.kind).max()?.exitStatus }
    }

    public let config: SupervisorConfig
    public let environment: [String: String]

    public init(config: SupervisorConfig, environment: [String: String]) {
        self.config = config
        self.environment = environment
    }

    /// The key the store probe writes and deletes, the same one the daemon's outage probe uses.
    public var probeKey: String { ObjectLayout.join(config.host, ".deltaseal-probe") }

    /// Who runs the checks, which decides what a running supervisor on the same spool means.
    public enum Mode: Sendable {
        /// `start`: a supervisor holding the spool is a problem (75). The store is not probed:
        /// a store that is down at start is an outage the daemon rides out like any other.
        case start
        /// `config check`, typically run beside the daemon before a reload: a supervisor holding
        /// the spool (and its metrics address) is reported, not a problem. With `probeStore`,
        /// the store is written to (a 0-byte PUT and DELETE of ``probeKey``).
        case check(probeStore: Bool)
    }

    /// Runs every check.
    public func run(_ mode: Mode) async -> Report {
        var probeStore = false
        var starting = false
        switch mode {
        case .start: starting = true
        case .check(let probe): probeStore = probe
        }
        var report = Report()
        func problem(_ kind: Kind, _ message: String) { report.problems.append(Problem(kind: kind, message: message)) }
        report.warnings += EnvironmentNames.unknown(in: environment)
        for message in config.problems() { problem(.config, message) }

        var sandbox: WriterSandbox?
        do {
            sandbox = try WriterSandbox.make(config)
            report.notes.append("writer sandbox: \(sandbox!.summary)")
            report.warnings += sandbox!.identity.warnings
            if config.writerLandlock && sandbox!.landlockABI == nil {
                report.warnings.append("this kernel has no Landlock; writers are confined by their user, no_new_privs and the seal's checks only")
            }
        } catch {
            problem(.config, "\(error)")
        }

        let command = config.writerCommand.first ?? ""
        let writer = ChildProcess.resolve(command, path: environment["PATH"] ?? "/usr/bin:/bin")
        if !writer.hasPrefix("/") && !command.contains("/") {
            problem(.config, "writer command \(command) is not on PATH (\(environment["PATH"] ?? "/usr/bin:/bin"))")
        } else if access(writer, X_OK) != 0 {
            problem(.config, "writer command \(command) is not an executable file")
        } else if let identity = sandbox?.identity.identity, identity.uid != geteuid() {
            let absolute = writer.hasPrefix("/") ? writer : FileManager.default.currentDirectoryPath + "/" + writer
            if let why = ExecutableAccess.problem(absolute, uid: identity.uid, gid: identity.gid) {
                problem(.config, "writer command \(command) cannot be run by the writers' user: \(why)")
            }
        }
        if access(config.verifierPath, X_OK) != 0 { problem(.config, "verifier \(config.verifierPath) is not an executable file") }

        checkSpool(&report)
        var running: String?
        if SpoolLock.isHeld(spool: config.spool) {
            let holder = (try? Files.readAll(config.spool + "/supervisor.lock", limit: 4096))
                .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            running = holder.isEmpty ? "pid unknown" : holder
            let held = SpoolLock.Held(spool: config.spool, holder: running!)
            if starting { problem(.temporary, "\(held)") } else { report.notes.append("\(held); start would exit 75 while it runs") }
        }

        if let address = config.metricsAddress {
            do {
                let resolved = try ListenAddress(resolving: address)
                report.metricsAddress = resolved
                do {
                    try resolved.checkBindable()
                    report.notes.append("metrics: \(address) binds (\(resolved))")
                } catch let bad as ListenAddress.Problem where bad.temporary {
                    // In use is not a configuration error: by the running supervisor (a check
                    // beside it), or by another process for now. Shipping matters more than
                    // being scraped: the daemon runs without the endpoints and says so.
                    if let running {
                        report.notes.append("metrics: \(address) (\(resolved)) is in use, by the running supervisor (\(running)) presumably")
                    } else {
                        report.warnings.append("metrics.address: \(bad.message): the supervisor would run without /metrics, /healthz and /readyz")
                    }
                }
            } catch let bad as ListenAddress.Problem {
                report.metricsAddress = nil
                problem(.config, "metrics.address: \(bad.message)")
            } catch {
                report.metricsAddress = nil
                problem(.config, "metrics.address: \(error)")
            }
        }

        if config.store.scheme == .s3 {
            // A configured source is what start needs (no source at all is a configuration error);
            // config check also asks it once, so its answer says it works. Start does not: the
            // store asks it when it opens, and a source that cannot answer now is an outage.
            do {
                let provider = try CredentialChain.provider(environment: environment, readFile: AWSConfigFile.read)
                if starting {
                    report.notes.append("s3 credentials: from \(provider.source)")
                } else {
                    do {
                        report.notes.append("s3 credentials: \(try provider.credentials())")
                    } catch {
                        problem(.config, "s3 credentials: from \(provider.source), which failed: \(error)")
                    }
                }
            } catch {
                problem(.config, "s3 credentials: \(error)")
            }
        }
        if probeStore && report.problems.isEmpty {
            await probe(&report)
        } else if !probeStore {
            report.notes.append("store: not probed (offline)")
        }
        return report
    }

    private func checkSpool(_ report: inout Report) {
        let spool = Spool(root: config.spool)
        do {
            try spool.prepare()
        } catch {
            report.problems.append(Problem(kind: .cannotCreate, message: "spool \(config.spool) cannot be created: \(error)"))
            return
        }
        // access(2) is not enough: a read-only mount or a full inode table shows only on a write.
        let trial = spool.root + "/.deltaseal-preflight-\(getpid())"
        let fd = open(trial, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd < 0 {
            report.problems.append(Problem(kind: .cannotCreate,
                                           message: "spool \(config.spool) is not writable: \(String(cString: strerror(errno)))"))
            return
        }
        close(fd)
        unlink(trial)
    }

    private func probe(_ report: inout Report) async {
        do {
            let store = try StoreOpener.open(config.store, s3: config.s3, environment: environment)
            try await store.put(key: probeKey, bytes: [], ifAbsent: false)
            try await store.delete(keys: [probeKey])
            report.notes.append("store: \(config.store) is writable (PUT and DELETE of \(probeKey))")
        } catch let error as StoreError {
            report.problems.append(Problem(kind: error.isRetryable ? .unavailable : .config,
                                           message: "store \(config.store): \(error)"))
        } catch {
            report.problems.append(Problem(kind: .config, message: "store \(config.store): \(error)"))
        }
    }
}
