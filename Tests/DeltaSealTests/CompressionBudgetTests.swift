import DeltaSealCore
import DeltaSealDelta
import DeltaSealSupervisor
import DeltaSealSystem
import DeltaSealZstd
import Foundation
import Synchronization
import Testing

/// The memory all compressions in flight share: a take that fits runs at once, one that does not
/// waits (first come, first served, never holding a thread), cancellation leaves the queue, and
/// a pack plans its share from the file's size.
@Suite struct CompressionBudgetTests {
    /// 9 MiB (above the threaded threshold) of compressible bytes in `directory/out/big.bin`.
    func bigFile(_ directory: String) throws -> [UInt8] {
        var random = SplitMix64(seed: 9)
        let raw = (0..<(9 << 20)).map { i in i % 64 == 0 ? UInt8(truncatingIfNeeded: random.next()) : UInt8(i % 7) }
        try Files.makeDirectories(directory + "/out")
        try Data(raw).write(to: URL(fileURLWithPath: directory + "/out/big.bin"))
        return raw
    }

    func unpacked(_ path: String, size: Int) throws -> [UInt8] {
        let decompressor = try ZstdDecompressor(limit: Int64(size))
        var out: [UInt8] = []
        try Files.readAll(path).withUnsafeBytes { try decompressor.decompress($0) { out.append(contentsOf: $0) } }
        try decompressor.finish()
        return out
    }

    /// A count several tasks may bump.
    final class Count: Sendable {
        private let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .sequentiallyConsistent) }
        var current: Int { value.load(ordering: .sequentiallyConsistent) }
    }

    /// A take running in a task, and whether it has got its share (or failed) yet.
    final class PendingTake: Sendable {
        let task: Task<Int, any Error>
        private let ended = Count()
        init(_ budget: CompressionBudget, _ amount: Int) {
            let ended = ended
            task = Task {
                defer { ended.add() }
                return try await budget.take(amount)
            }
        }
        var isDone: Bool { ended.current > 0 }
    }

    @Test func aTakeThatFitsRunsAtOnceAndOneThatDoesNotWaitsForARelease() async throws {
        let waited = Count()
        let budget = CompressionBudget(bytes: 10) { waited.add() }
        #expect(try await budget.take(6) == 6)
        #expect(try await budget.take(4) == 4)
        #expect(budget.inUse == 10 && budget.waits == 0)

        let third = PendingTake(budget, 3)
        try await waitUntil(timeout: .seconds(30)) { budget.waits == 1 }
        #expect(!third.isDone && budget.inUse == 10, "a take ran beyond the budget")
        #expect(waited.current == 1)

        budget.release(4)
        #expect(try await third.task.value == 3)
        #expect(budget.inUse == 9)
        budget.release(6)
        budget.release(3)
        #expect(budget.inUse == 0)
    }

    /// A budget of 10 with 6 taken, a take of 8 waiting, and a take of 2 queued behind it (2
    /// would fit beside the 6 running, but the 8 came first).
    func smallBehindBig() async throws -> (budget: CompressionBudget, big: PendingTake, small: PendingTake) {
        let budget = CompressionBudget(bytes: 10)
        #expect(try await budget.take(6) == 6)
        let big = PendingTake(budget, 8)
        try await waitUntil(timeout: .seconds(30)) { budget.waits == 1 }
        let small = PendingTake(budget, 2)
        try await waitUntil(timeout: .seconds(30)) { budget.waits == 2 }
        return (budget, big, small)
    }

    @Test func aSmallTakeDoesNotOvertakeABigOneWaitingBeforeIt() async throws {
        let (budget, big, small) = try await smallBehindBig()
        #expect(budget.inUse == 6 && !big.isDone && !small.isDone)

        budget.release(6)
        #expect(try await big.task.value == 8)
        #expect(try await small.task.value == 2)
        #expect(budget.inUse == 10)
    }

    @Test func aTakeLargerThanTheBudgetTakesAllOfItAndRunsAlone() async throws {
        let budget = CompressionBudget(bytes: 10)
        #expect(try await budget.take(1) == 1)
        let huge = PendingTake(budget, 50)
        try await waitUntil(timeout: .seconds(30)) { budget.waits == 1 }
        #expect(!huge.isDone)
        budget.release(1)
        #expect(try await huge.task.value == 10)
        #expect(budget.inUse == 10)
    }

    @Test func aCancelledWaiterLeavesTheQueueAndTheOneBehindItRuns() async throws {
        let (budget, big, small) = try await smallBehindBig()

        big.task.cancel()
        await #expect(throws: CancellationError.self) { try await big.task.value }
        // The head went: the 2 behind it fits beside the 6 and runs without any release.
        #expect(try await small.task.value == 2)
        #expect(budget.inUse == 8)

        // Cancelled before it could queue: nothing taken, nothing left waiting.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await budget.take(5)
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        budget.release(8)
        #expect(budget.inUse == 0)
        #expect(try await budget.take(10) == 10)
    }

    @Test func aPlanCountsWorkersOnlyForBigFilesAndGrowsWithThem() {
        let packer = Packer(level: 3, workers: 2)
        let big = ZstdCompressor.threadedThreshold
        let tiny = packer.plan(forSize: 10_000)
        let small = packer.plan(forSize: big - 1)
        let threaded = packer.plan(forSize: big)
        #expect(tiny.workers == 0 && small.workers == 0 && threaded.workers == 2)
        // zstd sizes its window by the pledged size: a tiny file takes far less than a big one.
        #expect(tiny.memory < 1 << 20)
        #expect(small.memory > 3 << 20 && small.memory < 6 << 20)
        // Measured at its peak, 2 workers with 1 MiB jobs allocated 10.5 MiB (ZSTD_sizeof_CCtx).
        #expect(threaded.memory > 11 << 20 && threaded.memory < 24 << 20)
        #expect(Packer(level: 3, workers: 0).plan(forSize: big).workers == 0)
        // The default budget holds the threaded compressor and one more beside it, not two more.
        let budget = Int(SupervisorConfig(workingDirectory: "/", executableDirectory: "/").zstdMemory)
        #expect(threaded.memory + small.memory <= budget && threaded.memory + 2 * small.memory > budget)
    }

    @Test func aPackUnderABudgetSmallerThanItsPlanRunsAloneAndGivesItsShareBack() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let raw = try bigFile(root)
        let input = Packer.Input(path: RelativePath("big.bin")!, sqlite: nil, size: Int64(raw.count))
        let packer = Packer(level: 3, workers: 2)
        let budget = CompressionBudget(bytes: 1 << 20)

        let entries = try await packer.pack([input, input], from: root + "/out", into: root + "/packed", budget: budget)
        #expect(try unpacked(root + "/packed/" + entries[0].objectKey, size: raw.count) == raw)
        #expect(entries.map(\.rawSize) == [Int64(raw.count), Int64(raw.count)])
        #expect(budget.inUse == 0, "the pack kept its share")
        // The same bytes as a pack with no budget, on this thread.
        let alone = try packer.pack([input], from: root + "/out", into: root + "/alone")
        #expect(alone[0].rawSHA256 == entries[0].rawSHA256)
    }

    @Test func aFileWhoseSizeIsNotTheSealedOneIsNotPacked() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let raw = try bigFile(root)
        let budget = CompressionBudget(bytes: 64 << 20)
        // Planned for a small file, it would compress with more memory than its share.
        let input = Packer.Input(path: RelativePath("big.bin")!, sqlite: nil, size: 4096)
        await #expect {
            _ = try await Packer(level: 3, workers: 2).pack([input], from: root + "/out", into: root + "/packed", budget: budget)
        } throws: { error in
            "\(error)".contains("sealed at 4096 bytes, now \(raw.count)") && "\(error)".contains("big.bin")
        }
        #expect(budget.inUse == 0)
    }
}
