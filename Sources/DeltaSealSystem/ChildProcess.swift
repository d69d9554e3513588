import CDeltaSealLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process in a process group of its own, spawned with an explicit environment, stdin from
/// `/dev/null`, stdout and stderr appended to log files (or their bounded tail written to one), and
/// no inherited descriptors; with a ``Sandbox``, also under another identity, no_new_privs and Landlock.
///
/// The handle owns the child's pidfd. It learns of the exit from ``ChildMonitor`` and reads the
/// status without reaping, so the child stays a zombie, and its pid and process-group id cannot
/// be reused, for as long as the handle lives: every signal the handle sends reaches the child's
/// own group or nothing. The handle reaps the child when it goes (or, if the child still runs
/// then, the monitor reaps it once it exits).
public final class ChildProcess: Sendable {
    /// The child's pid, which is also its process-group id.
    public let pid: pid_t

    /// The child's pidfd, closed when the child is reaped.
    private let pidfd: Int32
    /// The tail of stdout (and stderr, unless it has its own) when spawned with an output limit.
    private let output: BoundedLog?
    /// The tail of stderr when spawned with an error limit.
    private let errors: BoundedLog?
    /// How it ended, once it did.
    private let ended = Mutex<Termination?>(nil)

    /// How long, after the child is gone, its output may take to reach end of file before the
    /// tail is written anyway (a grandchild may hold the pipe open).
    public static let outputLinger: Duration = .seconds(1)

    private init(pid: pid_t, pidfd: Int32, output: BoundedLog?, errors: BoundedLog?) {
        self.pid = pid
        self.pidfd = pidfd
        self.output = output
        self.errors = errors
    }

    deinit {
        RunningChildren.release(pid: pid, pidfd: pidfd)
    }

    /// How a child ended.
    public struct Termination: Sendable, Equatable {
        /// The exit status, if it exited.
        public var exitStatus: Int32?
        /// The signal, if a signal killed it.
        public var signal: Int32?
        /// Whether the supervisor killed it for running past its timeout.
        public var timedOut: Bool

        public init(exitStatus: Int32?, signal: Int32?, timedOut: Bool) {
            self.exitStatus = exitStatus
            self.signal = signal
            self.timedOut = timedOut
        }
    }

    /// Resource limits of the child, each as soft and hard limit: set in the child before exec when
    /// sandboxed, applied with prlimit right after the spawn otherwise. Zero counts as unset when sandboxed.
    public struct Limits: Sendable, Equatable {
        /// RLIMIT_NOFILE.
        public var openFiles: UInt64?
        /// RLIMIT_AS in bytes.
        public var addressSpaceBytes: UInt64?
        /// RLIMIT_CPU in seconds.
        public var cpuSeconds: UInt64?
        /// RLIMIT_FSIZE in bytes: the largest file the child may write.
        public var fileSizeBytes: UInt64?
        /// Limits; nil leaves one as inherited.
        public init(openFiles: UInt64? = nil, addressSpaceBytes: UInt64? = nil, cpuSeconds: UInt64? = nil,
                    fileSizeBytes: UInt64? = nil) {
            self.openFiles = openFiles; self.addressSpaceBytes = addressSpaceBytes; self.cpuSeconds = cpuSeconds
            self.fileSizeBytes = fileSizeBytes
        }
    }

    /// Spawns `arguments[0]` (searched in `PATH` of `environment`) with `arguments`; stdout goes to
    /// `outputPath`, stderr to `errorPath` (or the same file).
    ///
    /// With `sandbox`, the child is forked and confined before it execs (see ``Sandbox``); a failure
    /// of any step throws a ``SystemError`` whose operation names the step (`chdir`, `setuid`,
    /// `landlock`, `execve`, ...). Without, it is posix_spawn-ed as before.
    ///
    /// With `outputLimit`, stdout and stderr go to a pipe instead and only their last `outputLimit`
    /// bytes are kept, written to `outputPath` (replaced, not appended) once the output ends;
    /// ``wait(timeout:grace:)`` returns after that. `errorPath` must then be nil, unless
    /// `errorLimit` gives stderr a bounded log of its own at `errorPath` (for a child whose stdout
    /// means something, such as a check command's reason line).
    ///
    /// stdin is `/dev/null`, or `input` (the caller's descriptor, which it keeps and closes).
    public static func spawn(arguments: [String], environment: [String: String], workingDirectory: String,
                             outputPath: String, errorPath: String? = nil, limits: Limits = Limits(),
                             sandbox: Sandbox? = nil, outputLimit: Int? = nil, errorLimit: Int? = nil,
                             input: Int32? = nil) throws -> ChildProcess {
        precondition(!arguments.isEmpty, "a command needs at least its program")
        precondition(outputLimit == nil || errorPath == nil || errorLimit != nil, "a bounded log takes stdout and stderr together")
        precondition(errorLimit == nil || (outputLimit != nil && errorPath != nil), "a bounded stderr needs a bounded stdout and a path")
        let output = try outputLimit.map { try BoundedLog(path: outputPath, limit: $0) }
        let errors = try errorLimit.map { try BoundedLog(path: errorPath!, limit: $0) }
        // On a throw the log was never started, so it closes its pipe when it goes.
        let child = if let sandbox {
            try spawnSandboxed(arguments: arguments, environment: environment, workingDirectory: workingDirectory,
                               outputPath: outputPath, errorPath: errorPath, limits: limits, sandbox: sandbox,
                               output: output, errors: errors, input: input)
        } else {
            try spawnPlain(arguments: arguments, environment: environment, workingDirectory: workingDirectory,
                           outputPath: outputPath, errorPath: errorPath, limits: limits, output: output, errors: errors,
                           input: input)
        }
        output?.start()
        errors?.start()
        return child
    }

    private static func spawnPlain(arguments: [String], environment: [String: String], workingDirectory: String,
                                   outputPath: String, errorPath: String?, limits: Limits,
                                   output: BoundedLog?, errors: BoundedLog?, input: Int32?) throws -> ChildProcess {
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
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        if let output {
            posix_spawn_file_actions_adddup2(&actions, output.writeEnd, 1)
            posix_spawn_file_actions_adddup2(&actions, errors?.writeEnd ?? output.writeEnd, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            if let errorPath {
                posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            } else {
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
            }
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
        let child = try adopt(pid: pid, program: arguments[0], output: output, errors: errors)
        child.apply(limits)
        return child
    }

    private static func spawnSandboxed(arguments: [String], environment: [String: String], workingDirectory: String,
                                       outputPath: String, errorPath: String?, limits: Limits, sandbox: Sandbox,
                                       output: BoundedLog?, errors: BoundedLog?, input: Int32?) throws -> ChildProcess {
        let program = resolve(arguments[0], path: environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        // An unresolved bare name would make execve look in the child's working directory.
        guard program.contains("/") else { throw SystemError("execve", program, errno: ENOENT) }
        var opened: [Int32] = []
        defer { opened.forEach { close($0) } }
        func open(_ path: String, _ flags: Int32) throws -> Int32 {
            let fd = try syscallRetrying("open", path) { Glibc.open(path, flags | O_CLOEXEC, 0o600) }
            opened.append(fd)
            return fd
        }
        let stdin = try input ?? open("/dev/null", O_RDONLY)
        let stdout = try output?.writeEnd ?? open(outputPath, O_WRONLY | O_CREAT | O_APPEND)
        let stderr = try errors?.writeEnd
            ?? (output == nil ? (errorPath.map { try open($0, O_WRONLY | O_CREAT | O_APPEND) } ?? stdout) : stdout)

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let writable = sandbox.writableDirectories.map { UnsafePointer(strdup($0)) } + [nil]
        let cgroupDirectory = sandbox.cgroup.map { strdup($0) }
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
            writable.forEach { free(UnsafeMutablePointer(mutating: $0)) }
            cgroupDirectory.map { free($0) }
        }
        var outcome = dsl_sandbox_outcome()
        let result = program.withCString { programPointer in
            workingDirectory.withCString { directoryPointer in
                argv.withUnsafeBufferPointer { argvPointer in
                    envp.withUnsafeBufferPointer { envpPointer in
                        writable.withUnsafeBufferPointer { writablePointer in
                            var spec = dsl_sandbox_spec()
                            spec.program = programPointer
                            spec.argv = argvPointer.baseAddress
                            spec.envp = envpPointer.baseAddress
                            spec.working_directory = directoryPointer
                            spec.stdin_fd = stdin
                            spec.stdout_fd = stdout
                            spec.stderr_fd = stderr
                            spec.rlimit_nofile = limits.openFiles ?? 0
                            spec.rlimit_as = limits.addressSpaceBytes ?? 0
                            spec.rlimit_cpu = limits.cpuSeconds ?? 0
                            spec.rlimit_fsize = limits.fileSizeBytes ?? 0
                            spec.uid = sandbox.identity.map { Int64($0.uid) } ?? -1
                            spec.gid = sandbox.identity.map { Int64($0.gid) } ?? -1
                            spec.no_new_privs = sandbox.noNewPrivileges ? 1 : 0
                            spec.landlock = sandbox.landlock ? 1 : 0
                            spec.writable_dirs = writablePointer.baseAddress
                            spec.cgroup_dir = cgroupDirectory.map { UnsafePointer($0!) }
                            return dsl_sandbox_spawn(&spec, &outcome)
                        }
                    }
                }
            }
        }
        if result != 0 {
            throw spawnFailure(outcome, program: program, workingDirectory: workingDirectory, sandbox: sandbox)
        }
        return try adopt(pid: outcome.pid, program: program, output: output, errors: errors)
    }

    /// The handle of a child just spawned: its pidfd opened (the child is ours and unreaped, so
    /// the pid is still it) and the child registered for a drain's stop. Without a pidfd (a
    /// kernel before 5.4, or no descriptor left) the child is killed, reaped, and the spawn fails.
    private static func adopt(pid: pid_t, program: String, output: BoundedLog?, errors: BoundedLog?) throws -> ChildProcess {
        let pidfd = dsl_pidfd_open(pid)
        if pidfd < 0 {
            let error = errno
            kill(-pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1, errno == EINTR {}
            throw SystemError("pidfd_open", program, errno: error)
        }
        RunningChildren.started(pid: pid, pidfd: pidfd)
        return ChildProcess(pid: pid, pidfd: pidfd, output: output, errors: errors)
    }

    /// The error for a failed sandboxed spawn: the step as operation, what it acted on as subject.
    private static func spawnFailure(_ outcome: dsl_sandbox_outcome, program: String, workingDirectory: String,
                                     sandbox: Sandbox) -> SystemError {
        let identity = sandbox.identity
        let (stage, subject): (String, String) = switch outcome.failed_stage {
        case DSL_STAGE_PIPE: ("pipe", program)
        case DSL_STAGE_RULESET: ("landlock-ruleset", "Landlock ABI \(Sandbox.landlockABI.map(String.init) ?? "none")")
        case DSL_STAGE_RULE:
            ("landlock-rule", outcome.failed_index >= 0 && Int(outcome.failed_index) < sandbox.writableDirectories.count
                ? sandbox.writableDirectories[Int(outcome.failed_index)] : outcome.failed_index == -1 ? "/" : "/dev/null")
        case DSL_STAGE_FORK: ("fork", program)
        case DSL_STAGE_SIGNALS: ("signals", program)
        case DSL_STAGE_SETPGID: ("setpgid", program)
        case DSL_STAGE_DESCRIPTORS: ("descriptors", program)
        case DSL_STAGE_CHDIR: ("chdir", workingDirectory)
        case DSL_STAGE_RLIMIT: ("setrlimit", program)
        case DSL_STAGE_SETGROUPS: ("setgroups", "gid \(identity.map { String($0.gid) } ?? "-")")
        case DSL_STAGE_SETGID: ("setgid", "gid \(identity.map { String($0.gid) } ?? "-")")
        case DSL_STAGE_SETUID: ("setuid", "uid \(identity.map { String($0.uid) } ?? "-")")
        case DSL_STAGE_NO_NEW_PRIVS: ("no_new_privs", program)
        case DSL_STAGE_LANDLOCK: ("landlock", program)
        case DSL_STAGE_EXECVE: ("execve", program)
        case DSL_STAGE_CGROUP: ("cgroup", sandbox.cgroup ?? "-")
        default: ("spawn stage \(outcome.failed_stage)", program)
        }
        return SystemError(stage, subject, errno: outcome.failed_errno)
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
        set(dsl_rlimit_fsize(), limits.fileSizeBytes)
    }

    /// Sends `signal` to the child's whole process group; false when no process of it is left.
    /// The leader is not reaped before the handle goes, so the group id is still the child's.
    @discardableResult
    public func signalGroup(_ signal: Int32) -> Bool {
        kill(-pid, signal) == 0
    }

    /// Whether any process of the group is still alive: the child, or, once it exited, another
    /// member (the exited child itself, a zombie until reaped, does not count).
    public var groupIsAlive: Bool {
        if collect(block: false) == nil { return true }
        return kill(-pid, 0) == 0 && ProcessIdentity.groupHasLiveMembers(pid, besides: pid)
    }

    /// Waits until the child's bounded output has been written to its file: at once when it had
    /// none, else when the pipe ends or `linger` after this call, whichever comes first. Call it
    /// once the child is gone; ``wait(timeout:grace:)`` does.
    public func outputDone(linger: Duration = ChildProcess.outputLinger) async {
        async let errorsDone: Void? = errors?.finish(linger: linger)
        await output?.finish(linger: linger)
        _ = await errorsDone
    }

    /// After ``outputDone(linger:)``: the child's output pipe was still held open by another
    /// process after the child had gone, one the child started (a daemon that closed its
    /// descriptors leaves no such trace).
    public var outputWasHeldOpen: Bool { output?.wasHeldOpen == true || errors?.wasHeldOpen == true }

    /// Why the bounded output could not be written, if it could not (after ``outputDone(linger:)``).
    public var outputFailure: SystemError? { output?.writeFailure ?? errors?.writeFailure }

    /// Waits for the child (blocking the calling thread); does not wait for its bounded output.
    public func waitBlocking() -> Termination {
        if let termination = collect(block: true) { return termination }
        return Termination(exitStatus: nil, signal: nil, timedOut: false)
    }

    /// How the child ended, read without reaping it; nil while it runs (or, without `block`, when
    /// it has not ended yet). Blocks only with `block`.
    private func collect(block: Bool) -> Termination? {
        if let termination = ended.withLock({ $0 }) { return termination }
        var exitStatus: Int32 = -1
        var signal: Int32 = 0
        let result = dsl_pidfd_wait(pidfd, dsl_wait_nowait() | (block ? 0 : dsl_wait_nohang()), &exitStatus, &signal)
        guard result == 1 else {
            // -1: not our child any more (cannot happen while the handle lives); report it ended unseen.
            return result == 0 ? nil : record(Termination(exitStatus: nil, signal: nil, timedOut: false))
        }
        return record(Termination(exitStatus: exitStatus >= 0 ? exitStatus : nil, signal: signal != 0 ? signal : nil,
                                  timedOut: false))
    }

    private func record(_ termination: Termination) -> Termination {
        ended.withLock { ended in
            if let ended { return ended }
            ended = termination
            return termination
        }
    }

    /// Waits for the child; at `timeout` sends SIGTERM to its group, after `grace` SIGKILL.
    /// Whatever happens, the group gets SIGKILL after a timeout so no grandchild survives it.
    /// With an output limit, returns once the tail is in its file (``outputDone(linger:)``).
    /// The wait holds no thread: ``ChildMonitor`` reports the exit. In a cancelled task the
    /// timeout is not enforced (a drain's stop signals every child instead), the wait goes on.
    public func wait(timeout: Duration, grace: Duration) async -> Termination {
        let timedOut = await ExitDeadline.wait(timeout: timeout, grace: grace,
                                               exited: { await ChildMonitor.shared.exited(self.pidfd) },
                                               hasEnded: { self.collect(block: false) != nil },
                                               signalGroup: { self.signalGroup($0) })
        var termination = collect(block: true) ?? Termination(exitStatus: nil, signal: nil, timedOut: false)
        termination.timedOut = timedOut
        await outputDone()
        return termination
    }
}
