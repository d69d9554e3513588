import DeltaSealSystem
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Child processes tracked by pidfd: the exit is reported without a thread per child, the child
/// stays a zombie (so its pid and group id cannot be reused) until its handle goes, a group with a
/// survivor is told from one without, and a drain's stop reaches every child.
@Suite(.timeLimit(.minutes(5)))
struct ChildProcessTests {
    private static let environment = ["PATH": "/usr/bin:/bin", "LANG": "C"]

    private func spawn(_ script: String, in directory: String) throws -> ChildProcess {
        try ChildProcess.spawn(arguments: ["/bin/sh", "-c", script], environment: Self.environment, workingDirectory: directory,
                               outputPath: directory + "/child.log")
    }

    /// The state letter of `/proc/<pid>/stat`, nil once the pid is gone.
    private func state(of pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(after: close)...].split(separator: " ").first.map(String.init)
    }

    /// One newline per reader through the fifo (each child opened it read-write, so neither side
    /// blocks in open; each newline ends exactly one child's `read`). The caller closes the
    /// returned descriptor once the children are done: a fifo nobody holds drops its bytes, and a
    /// child may not have opened it yet.
    private func release(_ fifo: String, readers: Int) -> Int32 {
        let fd = open(fifo, O_RDWR)
        #expect(fd >= 0)
        let newlines = [UInt8](repeating: 10, count: readers)
        _ = newlines.withUnsafeBytes { write(fd, $0.baseAddress, readers) }
        return fd
    }

    /// This process's threads called `name`.
    private func threads(named name: String) -> Int {
        NamedThread.names().filter { $0 == name }.count
    }

    @Test func anExitedChildStaysAZombieUntilItsHandleGoesThenIsReaped() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        var process: ChildProcess? = try spawn("exit 7", in: root)
        let pid = process!.pid
        let termination = await process!.wait(timeout: .seconds(30), grace: .seconds(1))
        #expect(termination.exitStatus == 7 && termination.signal == nil && !termination.timedOut)
        // The pid is held: no other process can get it, nor its group id, while the handle lives.
        #expect(state(of: pid) == "Z")
        #expect(!process!.groupIsAlive)
        #expect(RunningChildren.isUnreaped(pid))
        process = nil
        #expect(state(of: pid) == nil)
        #expect(!RunningChildren.isUnreaped(pid))
    }

    @Test func aHandleDroppedWhileTheChildRunsIsReapedWhenItExits() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let fifo = root + "/go"
        #expect(mkfifo(fifo, 0o600) == 0)
        var process: ChildProcess? = try spawn("read line <> \(fifo)", in: root)
        let pid = process!.pid
        process = nil
        #expect(state(of: pid) != nil && state(of: pid) != "Z")
        // Let it end: the monitor reaps it, no zombie is left.
        let held = release(fifo, readers: 1)
        defer { close(held) }
        try await waitUntil(timeout: .seconds(90)) { state(of: pid) == nil }
        #expect(!RunningChildren.isUnreaped(pid))
    }

    @Test func aGroupWithASurvivorIsAliveAndItsSignalReachesTheSurvivor() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        // The grandchild stays in the child's group; the child exits at once.
        let process = try spawn("sleep 3600 & echo $! > \(root)/survivor; exit 0", in: root)
        let termination = await process.wait(timeout: .seconds(30), grace: .seconds(1))
        #expect(termination.exitStatus == 0)
        let survivor = try #require(Int32(String(decoding: try Files.readAll(root + "/survivor"), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(process.groupIsAlive)
        #expect(process.signalGroup(SIGKILL))
        try await waitUntil(timeout: .seconds(90)) { state(of: survivor) == nil || state(of: survivor) == "Z" }
        try await waitUntil(timeout: .seconds(90)) { !process.groupIsAlive }
    }

    @Test func waitingForManyChildrenHoldsNoThreadPerChild() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let fifo = root + "/go"
        #expect(mkfifo(fifo, 0o600) == 0)
        let count = 80
        let processes = try (0..<count).map { _ in try spawn("read line <> \(fifo)", in: root) }
        try await withThrowingTaskGroup(of: ChildProcess.Termination.self) { group in
            for process in processes {
                group.addTask { await process.wait(timeout: .seconds(60), grace: .seconds(1)) }
            }
            // Every child is waited for now (each blocks on the fifo), and every wait is a pidfd
            // in the one monitor thread's epoll set. Other tests run in parallel and start threads
            // of their own, so the process's whole thread count proves nothing; what is asserted is
            // where the waits are (a wait that held a thread, its own or the blocking executor's,
            // would not be in the monitor) and that the monitor is one thread.
            try await waitUntil(timeout: .seconds(90)) { ChildMonitor.shared.watching >= count }
            #expect(threads(named: ChildMonitor.threadName) == 1, "threads: \(NamedThread.names().sorted())")
            let held = release(fifo, readers: count)
            defer { close(held) }
            var statuses: [Int32?] = []
            for try await termination in group { statuses.append(termination.exitStatus) }
            #expect(statuses.count == count && statuses.allSatisfy { $0 == 0 })
        }
    }

    /// A deadline that passes after the child ended (here at once, as on an executor too busy to
    /// run the exit's task before the timer's) is not a timeout: neither said nor signalled.
    @Test func aChildThatEndedBeforeItsTimerRanDidNotTimeOut() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        for _ in 0..<40 {
            let process = try spawn("exit 3", in: root)
            let pid = process.pid
            try await waitUntil(timeout: .seconds(90)) { state(of: pid) == "Z" }
            let termination = await process.wait(timeout: .zero, grace: .zero)
            #expect(termination.exitStatus == 3 && !termination.timedOut, "\(termination)")
        }
    }

    @Test func aTimeoutTermsThenKillsTheGroupAndSaysSo() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let process = try spawn("trap '' TERM; while :; do sleep 1; done", in: root)
        let termination = await process.wait(timeout: .milliseconds(100), grace: .milliseconds(100))
        #expect(termination.timedOut)
        #expect(termination.signal == SIGKILL)
    }
    // RunningChildren.stopAll signals every child of the process, other tests' too: it is tested
    // in a daemon of its own (DaemonTests.drainTimeoutStopsTheWriterAndTheDeltaResumesAtTheNextStart).
}
