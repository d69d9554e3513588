import CZstd

/// Streaming compression into a sink, with the frame checksum on and, for large inputs, worker
/// threads (Debian's libzstd is multithreaded).
public final class ZstdCompressor {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer

    /// Inputs at least this large are compressed with worker threads.
    public static let threadedThreshold: Int64 = 8 << 20

    /// Bytes of input per worker job (`ZSTD_c_jobSize`, 1 MiB: twice zstd's minimum): what each
    /// worker's buffers hold. Measured at level 3 with 2 workers (`ZSTD_sizeof_CCtx` at its peak,
    /// 64 MiB of half random bytes): 18.5 MiB with jobs of 2 MiB, 10.5 MiB with 1 MiB; `zstd -3 -T2`
    /// of 250 MiB took the same time with either, its output 0.0014% larger with 1 MiB.
    static let jobSize: Int32 = 1 << 20

    /// The size of the buffer compressed bytes are passed to the sink in.
    public static var outputBufferSize: Int { ZSTD_CStreamOutSize() }

    /// An upper bound on what a compressor of `size` bytes at `level` with `workers` threads
    /// allocates. zstd's own estimate for one thread (the window, the match tables and the input
    /// buffer, sized by the level and the pledged size: 325 KiB for 10 KB at level 3, 3.5 MiB from
    /// 4 MiB up); with workers, zstd gives none, so each worker is counted as another such
    /// context plus two jobs (at level 3 with 2 workers: 15.1 MiB estimated, 10.5 MiB measured).
    public static func memoryEstimate(level: Int, workers: Int, size: Int64) -> Int {
        let parameters = ZSTD_getCParams(Int32(level), UInt64(max(size, 0)), 0)
        let single = ZSTD_estimateCStreamSize_usingCParams(parameters)
        guard workers > 0 else { return single }
        return single + workers * (single + 2 * Int(jobSize))
    }

    /// - Parameters:
    ///   - level: compression level (1...19; 3 is zstd's default).
    ///   - workers: worker threads; 0 compresses on the calling thread.
    ///   - pledgedSize: the exact input size, recorded in the frame header, if known.
    public init(level: Int, workers: Int = 0, pledgedSize: Int64? = nil) throws {
        guard let context = ZSTD_createCCtx() else { throw ZstdError("out of memory") }
        self.context = context
        output = .allocate(byteCount: Self.outputBufferSize, alignment: 16)
        _ = try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level)))
        _ = try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1))
        if workers > 0 {
            // A library built without threads refuses; compressing on this thread is still correct.
            _ = ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, Int32(workers))
            // Jobs of 2 MiB instead of level 3's default 8 MiB: `zstd -3 -T2` of 256 MiB took
            // 19 MiB of memory instead of 58, about 5% slower, its output 0.0005% larger.
            _ = ZSTD_CCtx_setParameter(context, ZSTD_c_jobSize, Self.jobSize)
        }
        if let pledgedSize { _ = try ZstdError.check(ZSTD_CCtx_setPledgedSrcSize(context, UInt64(pledgedSize))) }
    }

    deinit {
        ZSTD_freeCCtx(context)
        output.deallocate()
    }

    /// Compresses `input`, passing compressed bytes to `sink` as they are produced.
    public func compress(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while inBuffer.pos < inBuffer.size {
            var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            _ = try ZstdError.check(ZSTD_compressStream2(context, &outBuffer, &inBuffer, ZSTD_e_continue))
            if outBuffer.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: output[..<outBuffer.pos])) }
        }
    }

    /// Ends the frame, passing the remaining bytes to `sink`.
    public func finish(into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuffer = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
        while true {
            var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let remaining = try ZstdError.check(ZSTD_compressStream2(context, &outBuffer, &inBuffer, ZSTD_e_end))
            if outBuffer.pos > 0 { try sink(UnsafeRawBufferPointer(rebasing: output[..<outBuffer.pos])) }
            if remaining == 0 { return }
        }
    }
}
