import DeltaSealCore
import DeltaSealDelta
import DeltaSealStore
import DeltaSealSystem
import DeltaSealZstd
import Foundation
import Testing

/// Compression and decompression are right for every size, the awkward ones above all: zero, one,
/// and each multiple of zstd's 128 KiB block, plus and minus one.
@Suite struct ZstdRoundTripTests {
    static let block = 128 << 10

    /// 0, 1, every multiple of the block up to 4 MiB and each ±1, and random sizes up to 6 MiB.
    static let sizes: [Int] = {
        var sizes = [0, 1, 2]
        for k in 1...24 { sizes += [k * block - 1, k * block, k * block + 1] }
        var random = SplitMix64(seed: 20261201)
        for _ in 0..<6 { sizes.append(Int(random.next() % UInt64(5 << 20))) }
        return sizes
    }()

    /// 1 MiB of compressible, text-like bytes with enough variety to give zstd work.
    static let pattern: [UInt8] = {
        var random = SplitMix64(seed: 42)
        let words = ["delta", "seal", "sqlite", "record", "0000", "    ", "\n"].map { Array($0.utf8) }
        var out: [UInt8] = []
        while out.count < 1 << 20 { out += words[Int(random.next() % UInt64(words.count))] }
        return Array(out.prefix(1 << 20))
    }()

    /// `size` bytes of the pattern, starting at a place that depends on `seed`.
    static func content(_ size: Int, seed: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        var at = Int(seed * 7919) % pattern.count
        while out.count < size {
            let take = min(size - out.count, pattern.count - at)
            out += pattern[at..<(at + take)]
            at = 0
        }
        return out
    }

    @Test func everySizeRoundTripsWhateverTheChunking() async throws {
        for (n, size) in Self.sizes.enumerated() {
            let raw = Self.content(size, seed: UInt64(n))
            for workers in [0, 2] {
                let compressor = try ZstdCompressor(level: 3, workers: workers, pledgedSize: Int64(size))
                var packed: [UInt8] = []
                // Feed in uneven chunks, as a file read would not.
                var offset = 0
                var chunk = 1
                while offset < raw.count {
                    let end = min(raw.count, offset + chunk)
                    try raw[offset..<end].withUnsafeBytes { try compressor.compress($0) { packed.append(contentsOf: $0) } }
                    offset = end
                    chunk = chunk * 3 + 7
                }
                try compressor.finish { packed.append(contentsOf: $0) }
                #expect(packed.withUnsafeBytes(ZstdFrameHeader.parse) == .contentSize(UInt64(size)), "size \(size)")
                // Byte by byte only where it stays quick; every size gets the block-sized feeds.
                for feed in (size <= 3 * Self.block ? [1] : []) + [4093, Self.block, 1 << 20] {
                    let decompressor = try ZstdDecompressor(limit: Int64(size))
                    var out: [UInt8] = []
                    var at = 0
                    while at < packed.count {
                        let end = min(packed.count, at + feed)
                        try packed[at..<end].withUnsafeBytes { try decompressor.decompress($0) { out.append(contentsOf: $0) } }
                        at = end
                    }
                    // An empty call after the end must not reopen the frame.
                    try [UInt8]().withUnsafeBytes { try decompressor.decompress($0) { out.append(contentsOf: $0) } }
                    try decompressor.finish()
                    #expect(out == raw, "size \(size), workers \(workers), feed \(feed)")
                }
            }
        }
    }

    @Test func capStopsOutputPastTheLimitAndTruncationIsCaught() async throws {
        let raw = Self.content(3 * Self.block, seed: 7)
        let compressor = try ZstdCompressor(level: 3, pledgedSize: Int64(raw.count))
        var packed: [UInt8] = []
        try raw.withUnsafeBytes { try compressor.compress($0) { packed.append(contentsOf: $0) } }
        try compressor.finish { packed.append(contentsOf: $0) }
        let capped = try ZstdDecompressor(limit: Int64(raw.count - 1))
        #expect(throws: ZstdError.self) {
            try packed.withUnsafeBytes { try capped.decompress($0) { _ in } }
        }
        let truncated = try ZstdDecompressor(limit: Int64(raw.count))
        try packed.prefix(packed.count - 3).withUnsafeBytes { try truncated.decompress($0) { _ in } }
        #expect(throws: ZstdError.self) { try truncated.finish() }
    }

    /// The real pipeline: a writer that leaves one file of each size, packed by the supervisor,
    /// verified by the verifier process, restored byte for byte.
    @Test func everySizeShipsVerifiesAndRestoresThroughThePipeline() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let fixtures = harness.root + "/fixtures"
        try Files.makeDirectories(fixtures)
        for (n, size) in Self.sizes.enumerated() {
            try Data(Self.content(size, seed: UInt64(n))).write(to: URL(fileURLWithPath: fixtures + "/f\(n)-\(size).bin"))
        }
        harness.config.writerCommand = [try TestSupport.script("""
            out="${@: -1}"
            cp \(fixtures)/*.bin "$out"/
            """, at: harness.root + "/copy.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 1), named: "b.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1, "\(summary)")
        let id = try #require(try harness.shippedDeltas().first)
        let restored = harness.root + "/restored"
        let result = try await TestSupport.run([TestSupport.verifier, "restore", harness.deltaURL(id), "--out", restored])
        #expect(result.status == 0, "\(result.stdout)")
        for name in try Files.list(fixtures) {
            #expect(try Files.readAll(restored + "/" + name) == Files.readAll(fixtures + "/" + name), "\(name)")
        }
    }
}
