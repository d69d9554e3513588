import DeltaSealSystem
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The bounded executor for blocking work: never more threads than its limit, jobs in order, a
/// job cancelled before it starts never runs, an uncancellable one runs in a cancelled task.
@Suite(.timeLimit(.minutes(5)))
struct BlockingExecutorTests {
    /// A gate blocking jobs on a pipe until the test opens it (no sleeping in the jobs).
    private final class Gate: Sendable {
        let read: Int32
        let write: Int32
        init() {
            var fds: [Int32] = [-1, -1]
            pipe(&fds)
            (read, write) = (fds[0], fds[1])
        }
        /// Blocks until the gate opens.
        func pass() {
            var byte: UInt8 = 0
            _ = Glibc.read(read, &byte, 1)
        }
        /// Lets `count` jobs through.
        func open(_ count: Int) {
            let bytes = [UInt8](repeating: 1, count: count)
            _ = bytes.withUnsafeBytes { Glibc.write(write, $0.baseAddress, count) }
        }
        deinit { close(read); close(write) }
    }

    /// Counters the jobs share.
    private final class JobCounters: Sendable {
        let running = Atomic<Int>(0)
        let most = Atomic<Int>(0)
        let ran = Atomic<Bool>(false)
    }

    @Test func neverRunsMoreJobsAtOnceThanItsLimit() async throws {
        let executor = BlockingExecutor(threads: 2)
        let gate = Gate()
        let counters = JobCounters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    try await executor.run {
                        let now = counters.running.add(1, ordering: .relaxed).newValue
                        _ = counters.most.max(now, ordering: .relaxed)
                        gate.pass()
                        counters.running.subtract(1, ordering: .relaxed)
                    }
                }
            }
            try await waitUntil(timeout: .seconds(90)) { executor.load.running == 2 && executor.load.queued == 4 }
            #expect(executor.load.threads == 2)
            gate.open(6)
            try await group.waitForAll()
        }
        let mostAtOnce = counters.most.load(ordering: .relaxed)
        #expect(mostAtOnce == 2)
        let load = executor.load
        #expect(load.threads == 2 && load.running == 0 && load.queued == 0)
    }

    @Test func aJobCancelledBeforeItStartsNeverRuns() async throws {
        let executor = BlockingExecutor(threads: 1)
        let gate = Gate()
        let counters = JobCounters()
        let blocker = Task { try await executor.run { gate.pass() } }
        try await waitUntil(timeout: .seconds(90)) { executor.load.running == 1 }
        let queued = Task { try await executor.run { counters.ran.store(true, ordering: .relaxed) } }
        try await waitUntil(timeout: .seconds(90)) { executor.load.queued == 1 }
        queued.cancel()
        await #expect(throws: CancellationError.self) { try await queued.value }
        gate.open(1)
        try await blocker.value
        // The thread went on to the dropped job and skipped it.
        try await waitUntil(timeout: .seconds(90)) { executor.load.queued == 0 && executor.load.running == 0 }
        let bodyRan = counters.ran.load(ordering: .relaxed)
        #expect(!bodyRan)
    }

    @Test func anUncancellableJobRunsInACancelledTask() async throws {
        let executor = BlockingExecutor(threads: 1)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            let cancelled = try? await executor.run { 1 }
            let ran = try await executor.runUncancellable { 2 }
            return (cancelled, ran)
        }
        let (cancelled, ran) = try await task.value
        #expect(cancelled == nil)
        #expect(ran == 2)
    }

    @Test func aRunningCancellableJobStopsWhenItsTaskIsCancelled() async throws {
        let executor = BlockingExecutor(threads: 1)
        let counters = JobCounters()
        let job = Task {
            try await executor.runCancellable { cancellation in
                counters.ran.store(true, ordering: .relaxed)
                // An hour's backoff: only the cancellation ends it within the test's time limit.
                try cancellation.sleep(seconds: 3600)
            }
        }
        try await waitUntil(timeout: .seconds(90)) { counters.ran.load(ordering: .relaxed) && executor.load.running == 1 }
        job.cancel()
        await #expect(throws: CancellationError.self) { try await job.value }
        try await waitUntil(timeout: .seconds(90)) { executor.load.running == 0 }
    }

    @Test func aJobsCancellationStaysClearUnlessItsTaskIsCancelled() async throws {
        let executor = BlockingExecutor(threads: 1)
        let seen = try await executor.runCancellable { cancellation in
            try cancellation.sleep(seconds: 0.01)
            return cancellation.isCancelled
        }
        #expect(seen == false)
    }

    private struct Failure: Error, Equatable {}

    @Test func errorsComeBackToTheCaller() async throws {
        let executor = BlockingExecutor(threads: 1)
        await #expect(throws: Failure.self) { try await executor.run { throw Failure() } }
        #expect(try await executor.run { 42 } == 42)
    }
}
