import DeltaSealCore
import DeltaSealDelta
import DeltaSealSystem
import DeltaSealZstd
import Foundation
import Testing

/// One multithreaded compressor at a time per budget: a big file that finds the slot taken is
/// packed on its own thread at once (never waits for it), and every pack gives its slot back.
@Suite struct CompressionBudgetTests {
    /// 9 MiB (above the threaded threshold) of compressible bytes in `directory/big.bin`.
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

    @Test func aSlotIsTakenOnceAndGivenBack() {
        let budget = CompressionBudget(threaded: 1)
        #expect(budget.tryTakeThreaded())
        #expect(!budget.tryTakeThreaded())
        budget.release()
        #expect(budget.tryTakeThreaded())
    }

    @Test func onlyABigFileWithASlotFreeGetsWorkers() {
        let budget = CompressionBudget(threaded: 1)
        let packer = Packer(level: 3, workers: 2, budget: budget)
        let big = ZstdCompressor.threadedThreshold
        #expect(packer.takeWorkers(forSize: big - 1) == 0)
        #expect(packer.takeWorkers(forSize: big) == 2)
        // The slot is taken: the next big file gets none, and none until it is given back.
        #expect(packer.takeWorkers(forSize: big * 4) == 0)
        budget.release()
        #expect(packer.takeWorkers(forSize: big * 4) == 2)
        #expect(Packer(level: 3, workers: 0, budget: CompressionBudget(threaded: 1)).takeWorkers(forSize: big) == 0)
    }

    @Test func aBigFilePacksWithoutWaitingWhileTheSlotIsTakenAndEveryPackGivesItsSlotBack() throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let raw = try bigFile(root)
        let budget = CompressionBudget(threaded: 1)
        let packer = Packer(level: 3, workers: 2, budget: budget)
        let input = Packer.Input(path: RelativePath("big.bin")!, sqlite: nil)

        // Another delta holds the only threaded compressor: this pack runs on its own thread.
        #expect(budget.tryTakeThreaded())
        let alone = try packer.pack([input], from: root + "/out", into: root + "/alone")
        #expect(try unpacked(root + "/alone/" + alone[0].objectKey, size: raw.count) == raw)
        #expect(!budget.tryTakeThreaded(), "the pack took a slot it was not given")
        budget.release()

        // With the slot free it is taken for the pack, and free again after it.
        let threaded = try packer.pack([input], from: root + "/out", into: root + "/threaded")
        #expect(try unpacked(root + "/threaded/" + threaded[0].objectKey, size: raw.count) == raw)
        #expect(threaded[0].rawSHA256 == alone[0].rawSHA256)
        #expect(budget.tryTakeThreaded(), "the pack kept its slot")
    }
}
