import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// A child process in a process group of its own, spawned with an explicit environment, stdin from
/// `/dev/null`, stdout and stderr appended to log files, and no inherited descriptors.
public struct ChildProcess: Sendable {
    /// The child's pid, which is also its process-group id.
    public let pid: pid_t

    /// How a child ended.
    public struct Termination: Sendable, Equatable {
        /// The exit status, if it exited.
        public var exitStatus: Int32?
        /// The signal, if a signal killed it.
        public var signal: Int32?
        /// Whether the supervisor killed it for running past its timeout.
        public var timedOut: Bool
    }

    /// Resource limits applied to the child right after it is spawned.
    public struct Limits: Sendable, Equatable {
        public var openFiles: UInt64?
        public var addressSpaceBytes: UInt64?
        public var cpuSeconds: UInt64?
        public init(openFiles: UInt64? = nil, addressSpaceBytes: UInt64? = nil, cpuSeconds: UInt64? = nil) {
            self.openFiles = openFiles; self.addressSpaceBytes = addressSpaceBytes; self.cpuSeconds = cpuSeconds
        }
    }

    /// Spawns `arguments[0]` (searched in `PATH` of `environment`) with `arguments`; stdout goes to
    /// `outputPath`, stderr to `errorPath` (or the same file).
    public static func spawn(arguments: [String], environment: [String: String], workingDirectory: String,
                             outputPath: String, errorPath: String? = nil, limits: Limits = Limits()) throws -> ChildProcess {
        precondition(!arguments.isEmpty, "a command needs at least its program")
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        // The supervisor may ignore SIGPIPE; the child starts with every signal at its default.
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        dsl_spawn_addclosefrom(&actions, 3)
        dsl_spawn_addchdir(&actions, workingDirectory)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let program = resolve(arguments[0], path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        var pid: pid_t = 0
        let result = posix_spawn(&pid, program, &actions, &attributes, argv, envp)
        if result != 0 { throw SystemError("spawn", arguments[0], errno: result) }
        let child = ChildProcess(pid: pid)
        child.apply(limits)
        return child
    }

    /// Finds `program` in `path` unless it contains a slash.
    public static func resolve(_ program: String, path: String) -> String {
        if program.contains("/") { return program }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(program)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return program
    }

    private func apply(_ limits: Limits) {
        func set(_ resource: Int32, _ value: UInt64?) {
            guard let value else { return }
            _ = dsl_prlimit(pid, resource, value, value)
        }
        set(dsl_rlimit_nofile(), limits.openFiles)
        set(dsl_rlimit_as(), limits.addressSpaceBytes)
        set(dsl_rlimit_cpu(), limits.cpuSeconds)
    }

    /// Sends `signal` to the child's whole process group; false when the group is gone.
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        kill(-pid, signal) == 0
    }

    /// Whether any process of the group is still alive.
    public var groupIsAlive: Bool { kill(-pid, 0) == 0 }

    /// Waits for the child (blocking the calling thread).
    public func waitBlocking() -> Termination {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return Termination(exitStatus: nil, signal: nil, timedOut: false) }
        }
        let signal = status & 0x7f
        if signal == 0 { return Termination(exitStatus: (status >> 8) & 0xff, signal: nil, timedOut: false) }
        return Termination(exitStatus: nil, signal: signal, timedOut: false)
    }

    /// Waits for the child; at `timeout` sends SIGTERM to its group, after `grace` SIGKILL.
    /// Whatever happens, the group gets SIGKILL after a timeout so no grandchild survives it.
    public func wait(timeout: Duration, grace: Duration) async -> Termination {
        let box = OnceFlag()
        let waiter = Task.detached { () -> Termination in
            (try? await Blocking.run { self.waitBlocking() }) ?? Termination(exitStatus: nil, signal: nil, timedOut: false)
        }
        let killer = Task {
            do {
                try await Task.sleep(for: timeout)
                box.set()
                signalGroup(SIGTERM)
                try await Task.sleep(for: grace)
                signalGroup(SIGKILL)
            } catch {}
        }
        var termination = await waiter.value
        killer.cancel()
        if box.isSet {
            termination.timedOut = true
            signalGroup(SIGKILL)
        }
        return termination
    }
}
