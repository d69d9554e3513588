import DeltaSealCore
import DeltaSealDelta
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// The seal's proof that no process holds a delta (docs/reliability.md, "The seal's proof"),
/// against real processes holding it each way a hostile writer could: as the writer's own user,
/// in the writer's cgroup (which the seal kills) or with none, as `Tests/Fixtures/holder.py`.
/// Every wait is on something the holder did (a file it wrote), never a sleep.
///
/// Serialized: the tests that count what the seal read start hundreds of idle processes.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct SealerTests {
    /// Where a holder runs: in the writer's cgroup, which the seal reads and kills, or only as
    /// the writer's user (no delegated cgroup, or `writer.cgroup: off`).
    enum Confinement: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case cgroup, user
        var testDescription: String { rawValue }
    }

    /// One way to hold a delta, and how the seal must name it.
    struct Hold: CustomTestStringConvertible, Sendable {
        /// holder.py's KIND.
        var kind: String
        /// What it holds, relative to the delta.
        var target: String
        /// The `[how]` the seal names, up to the descriptor number.
        var how: String
        var testDescription: String { kind }
    }

    static let holds = [
        Hold(kind: "fd", target: "data.bin", how: "fd "),
        Hold(kind: "opath", target: "data.bin", how: "fd "),
        Hold(kind: "mmap-shared", target: "data.bin", how: "mmap"),
        Hold(kind: "mmap-private", target: "data.bin", how: "mmap"),
        Hold(kind: "cwd", target: "sub", how: "cwd"),
        Hold(kind: "dirfd", target: "sub", how: "fd "),
        Hold(kind: "hidden-cwd", target: "sub", how: "cwd"),
    ]

    @Test(arguments: holds, Confinement.allCases)
    func everyHoldIsRefusedAndNamedAndNothingIsChanged(_ hold: Hold, _ confinement: Confinement) async throws {
        guard let scene = try Scene(confinement) else { return }
        defer { scene.remove() }
        let pid = try await scene.hold(hold.kind, scene.out + "/" + hold.target)
        let failure = try #require(throws: Sealer.Failure.self) { try scene.sealer.seal(scene.out) }
        #expect(failure.reason.contains("pid \(pid) ("), "\(failure.reason)")
        #expect(failure.reason.contains("holds \(scene.out)/\(hold.target) [\(hold.how)"), "\(failure.reason)")
        // Refused before anything was changed.
        #expect(try scene.mode("data.bin") == 0o600)
    }

    @Test(arguments: Confinement.allCases)
    func runningAFileOfTheDeltaIsAHold(_ confinement: Confinement) async throws {
        guard let scene = try Scene(confinement) else { return }
        defer { scene.remove() }
        // The writer's own copy of sleep, executing from the delta: refused lease, named by its mapping.
        try scene.put("sleepy", contents: try Files.readAll("/bin/sleep"), mode: 0o700)
        let process = try scene.spawn([scene.out + "/sleepy", "300"], inCgroup: true)
        // The spawn returns once execve is past its point of no return; the program's mappings
        // come a moment later (a process still inside execve holds nothing the lease misses).
        try await waitUntil(timeout: .seconds(30)) {
            String(decoding: (try? Files.readAll("/proc/\(process.pid)/maps")) ?? [], as: UTF8.self).contains(scene.out + "/sleepy")
        }
        let failure = try #require(throws: Sealer.Failure.self) { try scene.sealer.seal(scene.out) }
        #expect(failure.reason.contains("pid \(process.pid) (\(scene.out)/sleepy 300) holds \(scene.out)/sleepy [mmap]"), "\(failure.reason)")
    }

    @Test(arguments: Confinement.allCases)
    func descriptorOfAnotherUsersProcessIsCaughtByTheLeaseAndNamed(_ confinement: Confinement) async throws {
        guard let scene = try Scene(confinement), scene.identity != nil else { return }
        defer { scene.remove() }
        // Root's process, outside every scope the seal reads: only the refused lease sees it,
        // and the scan of every process then names it.
        let pid = try await scene.hold("fd", scene.out + "/sub/more.bin", inCgroup: false, asWriter: false)
        let failure = try #require(throws: Sealer.Failure.self) { try scene.sealer.seal(scene.out) }
        #expect(failure.reason.contains("pid \(pid) ("), "\(failure.reason)")
        #expect(failure.reason.contains("holds \(scene.out)/sub/more.bin [fd "), "\(failure.reason)")
    }

    @Test(arguments: Confinement.allCases)
    func descriptorInFlightOverAUnixSocketIsCaughtByTheLease(_ confinement: Confinement) async throws {
        guard let scene = try Scene(confinement) else { return }
        defer { scene.remove() }
        // Sent over a socketpair the holder keeps and closed: no /proc/<pid>/fd shows the file,
        // yet the holder can receive a descriptor of it after the seal.
        let pid = try await scene.hold("in-flight", scene.out + "/data.bin")
        switch confinement {
        case .user:
            let failure = try #require(throws: Sealer.Failure.self) { try scene.sealer.seal(scene.out) }
            #expect(failure.reason.contains("data.bin open or mapped where no process shows it"), "\(failure.reason)")
            #expect(try scene.mode("data.bin") == 0o600)
        case .cgroup:
            // Killed with the cgroup before the lease: the descriptor died with its socket.
            let sealed = try scene.sealer.seal(scene.out)
            #expect(sealed.proof.leased == 2)
            try await waitUntil { TestSupport.processIsGone(pid) }
        }
    }

    @Test(arguments: Confinement.allCases)
    func descriptorPassedToAnotherProcessOfTheWritersUserIsNamed(_ confinement: Confinement) async throws {
        guard let scene = try Scene(confinement) else { return }
        defer { scene.remove() }
        // The receiver runs as the writer's user outside its cgroup (another delta's writer,
        // say); the sender is the writer, which gives the descriptor away and exits.
        let socket = scene.run + "/peer.socket"
        let receiver = try await scene.hold("receive", socket, inCgroup: false, extra: [socket])
        let sender = try scene.spawn(["/usr/bin/python3", SealerTests.holderScript, "send", scene.out + "/data.bin", scene.run + "/sent", socket],
                                     inCgroup: true)
        try await waitUntil { Files.exists(scene.run + "/receive.ready.got") }
        _ = await sender.wait(timeout: .seconds(30), grace: .seconds(1))
        let failure = try #require(throws: Sealer.Failure.self) { try scene.sealer.seal(scene.out) }
        #expect(failure.reason.contains("pid \(receiver) ("), "\(failure.reason)")
        #expect(failure.reason.contains("holds \(scene.out)/data.bin [fd "), "\(failure.reason)")
    }

    @Test func escapedDaemonHoldingNothingDiesWithTheWritersCgroupBeforeAFileIsLeased() async throws {
        guard let scene = try Scene(.cgroup) else { return }
        defer { scene.remove() }
        let daemon = try await scene.hold("escaped", scene.out)
        let sealed = try scene.sealer.seal(scene.out)
        #expect(sealed.proof.scope == .writerCgroup)
        #expect(sealed.inputs.map(\.path.description).sorted() == ["data.bin", "sub/more.bin"])
        try await waitUntil { TestSupport.processIsGone(daemon) }
        #expect(!Files.exists(try #require(scene.cgroup)))
    }

    /// A fork-server forks the writer and stays outside its cgroup, so processes of the writer's
    /// user outside the cgroup are not other deltas' business only: the seal reads them all.
    @Test func withAForkServerAHolderOfTheWritersUserOutsideTheCgroupIsNamed() async throws {
        guard let scene = try Scene(.cgroup) else { return }
        defer { scene.remove() }
        let holder = try await scene.hold("cwd", scene.out + "/sub", inCgroup: false)
        var sealer = scene.sealer
        sealer.userRunsOutsideCgroup = true
        #expect(sealer.scope == .writerUser(scene.owner))
        let failure = try #require(throws: Sealer.Failure.self) { try sealer.seal(scene.out) }
        #expect(failure.reason.contains("pid \(holder) ("), "\(failure.reason)")
    }

    @Test func inTheCommonCaseTheLeasesDecideAndNoProcEntryIsRead() async throws {
        guard let scene = try Scene(.cgroup) else { return }
        defer { scene.remove() }
        // Unrelated processes: root's, and the writer user's outside this writer's cgroup (other
        // deltas' writers). The writer itself ran in the cgroup and exited.
        let idle = try await scene.idle(300, inCgroup: false, asWriter: false)
        let idleWriters = try await scene.idle(50, inCgroup: false, asWriter: true)
        defer { idle.signalGroup(SIGKILL); idleWriters.signalGroup(SIGKILL) }
        _ = try await scene.spawn(["/bin/true"], inCgroup: true).wait(timeout: .seconds(30), grace: .seconds(1))
        let sealed = try scene.sealer.seal(scene.out)
        let proof = sealed.proof
        #expect(proof.scope == .writerCgroup && proof.leased == 2 && proof.leaseUnavailable == nil, "\(proof)")
        #expect(proof.procEntries == 0 && proof.processesInspected == 0, "\(proof)")
        #expect(try scene.mode("data.bin") == 0o444)
    }

    @Test func withoutACgroupOnlyTheWritersProcessesAreInspected() async throws {
        guard let scene = try Scene(.user) else { return }
        defer { scene.remove() }
        let idle = try await scene.idle(300, inCgroup: false, asWriter: false)
        defer { idle.signalGroup(SIGKILL) }
        let sealed = try scene.sealer.seal(scene.out)
        #expect(sealed.proof.leased == 2)
        #expect(sealed.proof.leaseUnavailable == nil)
        if scene.identity != nil {
            #expect(sealed.proof.scope == .writerUser(scene.owner))
            // Each of the 300 was looked at (a stat, a status), none of them inspected.
            #expect(sealed.proof.procEntries - sealed.proof.processesInspected >= 300, "\(sealed.proof)")
        }
    }

    @Test func theSupervisorLogsThatTheLeasesDecidedWhateverElseRuns() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.retry.maxAttempts = 1
        guard let scene = try Scene(.user) else { return }
        defer { scene.remove() }
        let idle = try await scene.idle(300, inCgroup: false, asWriter: false)
        defer { idle.signalGroup(SIGKILL) }
        try TestSupport.dropBatch(TestSupport.batch(records: 3), named: "b.ndjson", spool: harness.config.spool)
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 1, "\(summary)")
        let line = try #require(recorder.messages.first { $0.contains(" sealed ") }, "\(recorder.messages)")
        #expect(line.contains("1 file leased"), "\(line)")
        switch CgroupDelegation.detect(wantControllers: false, scope: "test-probe") {
        case .delegated(let probe):
            probe.removeBase()
            #expect(line.contains("the writer's cgroup; 0 processes inspected, 0 /proc entries"), "\(line)")
        case .unavailable(let why):
            print("skipped (partly): \(why); the seal inspected the writer user's processes")
        }
    }

    @Test func aSupervisorThatIsNotRootStillNamesHoldersAndShipsWhatIsClosed() async throws {
        guard geteuid() == 0, let writer = try? Sandbox.Identity.lookup(user: WriterIdentity.defaultUser) else {
            print("skipped: needs root and the \(WriterIdentity.defaultUser) user to run a supervisor as another user")
            return
        }
        let harness = try PipelineHarness()
        defer { harness.remove() }
        // The first batch's writer leaves a grandchild holding the database, the second's one
        // working inside the output (both in its process group, which the supervisor kills);
        // the third's leaves nothing.
        let script = try TestSupport.script("""
            \(TestSupport.writer) "$@" || exit $?
            out="${@: -1}"
            case "$(cat "$2")" in
            *hold-fd*) ( exec 3<"$out/delta.sqlite3"; exec sleep 300 ) & ;;
            *hold-cwd*) ( cd "$out" && exec sleep 300 ) & ;;
            esac
            exit 0
            """, at: harness.root + "/writer.sh")
        try TestSupport.dropBatch(TestSupport.batch(records: 2, prefix: "hold-fd"), named: "a.ndjson", spool: harness.config.spool)
        try TestSupport.dropBatch(TestSupport.batch(records: 2, prefix: "hold-cwd"), named: "b.ndjson", spool: harness.config.spool)
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "c.ndjson", spool: harness.config.spool)
        try Files.makeDirectories(harness.storeRoot)
        #expect(try await TestSupport.run(["/bin/chown", "-R", "\(writer.uid):\(writer.gid)", harness.root]).status == 0)
        let environment = ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": harness.root, "DELTASEAL_INTAKE_SETTLE": "0.1"]
        let result = try await TestSupport.run(
            ["/usr/bin/setpriv", "--reuid=\(writer.uid)", "--regid=\(writer.gid)", "--clear-groups", "--",
             TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", harness.storeRoot,
             "--host", "test-host", "--writer", script, "--metrics-address", "", "--max-attempts", "1", "--log-level", "debug"],
            cwd: harness.root, environment: environment)
        #expect(result.stderr.contains("the processes of uid \(writer.uid)"), "\(result.stderr)")
        #expect(try harness.shippedDeltas().count == 1, "\(result.stderr)")
        let reasons = try Files.list(harness.spool.failed).map { id in
            String(decoding: try Files.readAll(harness.spool.failed + "/" + id + "/report.json"), as: UTF8.self)
        }
        #expect(reasons.count == 2, "\(result.stderr)")
        #expect(reasons.contains { $0.contains("(sleep 300) holds") && $0.contains("delta.sqlite3 [fd 3]") }, "\(reasons)")
        #expect(reasons.contains { $0.contains("(sleep 300) holds") && $0.contains("/out [cwd]") }, "\(reasons)")
    }

    static let holderScript = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path
        + "/Fixtures/holder.py"
}

/// A delta of two files owned by the writer's user (`data.bin`, `sub/more.bin`), a directory for
/// the holders' reports, the writer's cgroup where one is wanted, and the processes started.
private final class Scene: @unchecked Sendable {
    // Used by one test at a time, from its own task.
    let root: String
    let out: String
    let run: String
    /// The writer's user when this process is root, else nil (holders run as this process's user).
    let identity: Sandbox.Identity?
    let cgroup: String?
    private let delegation: CgroupDelegation?
    private var processes: [ChildProcess] = []
    private var reported: [String] = []

    var owner: uid_t { identity?.uid ?? geteuid() }
    var sealer: Sealer { Sealer(owner: owner, writerCgroup: cgroup) }

    /// Nil, with a note, where the confinement cannot be had here (a cgroup needs root and a
    /// delegated cgroup v2 subtree).
    init?(_ confinement: SealerTests.Confinement, _ label: String = #function) throws {
        identity = geteuid() == 0 ? try? Sandbox.Identity.lookup(user: WriterIdentity.defaultUser) : nil
        if confinement == .cgroup {
            guard identity != nil, case .delegated(let found) = CgroupDelegation.detect(wantControllers: false, scope: "sealer-tests") else {
                print("skipped: needs root, the \(WriterIdentity.defaultUser) user and a delegated cgroup v2 subtree")
                return nil
            }
            delegation = found
            cgroup = try found.makeGroup("writer-\(UInt32.random(in: 0 ... .max))", memoryMax: nil, pidsMax: nil)
        } else {
            delegation = nil
            cgroup = nil
        }
        root = try Files.realPath(try TestSupport.temporaryDirectory(label))
        out = root + "/out"
        run = root + "/run"
        for directory in [out, run, out + "/sub"] { try Files.makeDirectories(directory, mode: 0o700) }
        try put("data.bin", contents: [UInt8](repeating: 7, count: 8192), mode: 0o600)
        try put("sub/more.bin", contents: [UInt8](repeating: 9, count: 100), mode: 0o600)
        for directory in [out, run, out + "/sub"] { chown(directory, owner, identity?.gid ?? getegid()) }
    }

    /// A file of the writer's in the delta.
    func put(_ name: String, contents: [UInt8], mode: mode_t) throws {
        let file = try PosixFile.create(out + "/" + name, mode: mode)
        try file.write(contents)
        try file.close()
        chown(out + "/" + name, owner, identity?.gid ?? getegid())
        chmod(out + "/" + name, mode)
    }

    func mode(_ name: String) throws -> mode_t {
        var st = stat()
        try syscallRetrying("stat", name) { stat(out + "/" + name, &st) }
        return st.st_mode & 0o7777
    }

    /// Starts `arguments` as the writer's user, in the writer's cgroup if there is one and `inCgroup`.
    func spawn(_ arguments: [String], inCgroup: Bool, asWriter: Bool = true) throws -> ChildProcess {
        let sandbox = Sandbox(identity: asWriter ? identity : nil, landlock: false, noNewPrivileges: true, cgroup: inCgroup ? cgroup : nil)
        let process = try ChildProcess.spawn(arguments: arguments, environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"],
                                             workingDirectory: "/", outputPath: run + "/\(processes.count).log",
                                             sandbox: asWriter || inCgroup ? sandbox : nil)
        processes.append(process)
        return process
    }

    /// Starts holder.py `kind` on `path`; returns the pid of the process that holds, once it holds.
    func hold(_ kind: String, _ path: String, inCgroup: Bool = true, asWriter: Bool = true, extra: [String] = []) async throws -> Int32 {
        let ready = run + "/\(kind).ready"
        _ = try spawn(["/usr/bin/python3", SealerTests.holderScript, kind, path, ready] + extra, inCgroup: inCgroup, asWriter: asWriter)
        try await waitUntil(timeout: .seconds(30)) { Files.exists(ready) }
        let pid = try #require(Int32(String(decoding: try Files.readAll(ready), as: UTF8.self)))
        reported.append(ready)
        return pid
    }

    /// `count` idle processes in a process group of their own (root's, or the writer user's),
    /// all running once this returns; the caller kills the group.
    func idle(_ count: Int, inCgroup: Bool, asWriter: Bool) async throws -> ChildProcess {
        let ready = run + "/idle-\(processes.count).ready"
        let process = try spawn(["/bin/bash", "-c", "for i in $(seq \(count)); do sleep 300 & done; echo started > \(ready).tmp; mv \(ready).tmp \(ready); wait"],
                                inCgroup: inCgroup, asWriter: asWriter)
        try await waitUntil(timeout: .seconds(60)) { Files.exists(ready) }
        return process
    }

    /// Kills every holder (daemons by the pid they reported), the cgroup, and removes the files.
    func remove() {
        for ready in reported {
            if let pid = Int32(String(decoding: (try? Files.readAll(ready)) ?? [], as: UTF8.self)) { kill(pid, SIGKILL) }
        }
        for process in processes {
            _ = process.signalGroup(SIGKILL)
            _ = process.waitBlocking()
        }
        if let cgroup { CgroupDelegation.killAndRemove(cgroup) }
        delegation?.removeBase()
        try? Files.removeTree(root)
    }
}
