import CZstd

/// Streaming decompression with a hard cap on the output: a decompression bomb stops at the cap.
public final class ZstdDecompressor {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer
    private let limit: Int64
    private var produced: Int64 = 0
    private var frameComplete = false

    /// - Parameter limit: the most bytes the whole stream may decompress to.
    public init(limit: Int64) throws {
        guard let context = ZSTD_createDCtx() else { throw ZstdError("out of memory") }
        self.context = context
        self.limit = limit
        output = .allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 16)
        // Refuse frames that ask for huge windows before a byte is produced.
        _ = try ZstdError.check(ZSTD_DCtx_setParameter(context, ZSTD_d_windowLogMax, 27))
    }

    deinit {
        ZSTD_freeDCtx(context)
        output.deallocate()
    }

    /// Bytes produced so far.
    public var producedBytes: Int64 { produced }

    /// Decompresses `input`, passing raw bytes to `sink`; throws once the output would pass the cap,
    /// and for any byte after the end of the one frame an object holds.
    public func decompress(_ input: UnsafeRawBufferPointer, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuffer = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        while true {
            if frameComplete {
                // Once the frame has ended (and is flushed), no further call may reopen it: a
                // later empty call must not turn "complete" back into "inside a frame".
                if inBuffer.pos < inBuffer.size { throw ZstdError("data after the end of the frame") }
                return
            }
            var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
            let hint = try ZstdError.check(ZSTD_decompressStream(context, &outBuffer, &inBuffer))
            if outBuffer.pos > 0 {
                produced += Int64(outBuffer.pos)
                if produced > limit { throw ZstdError("output exceeds the expected \(limit) bytes (decompression bomb or wrong size)") }
                try sink(UnsafeRawBufferPointer(rebasing: output[..<outBuffer.pos]))
            }
            // 0: the frame is decoded and fully flushed.
            if hint == 0 { frameComplete = true; continue }
            // Otherwise more input is needed once this input is consumed and the output buffer
            // was not filled (a full buffer may hide more output: call again).
            if inBuffer.pos == inBuffer.size && outBuffer.pos < outBuffer.size { return }
        }
    }

    /// Checks that the stream ended on a complete frame (a truncated object does not).
    public func finish() throws {
        if !frameComplete { throw ZstdError("stream ends inside a frame (truncated)") }
    }
}
