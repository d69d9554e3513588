import CZstd

/// A zstd failure: the library's message, or a limit this code enforces.
public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "zstd: \(message)" }

    static func check(_ code: Int) throws -> Int {
        if ZSTD_isError(code) != 0 { throw ZstdError(String(cString: ZSTD_getErrorName(code))) }
        return code
    }
}

/// Streaming compression into a sink, with the frame checksum on and, for large inputs, worker
/// threads (Debian's libzstd is multithreaded).
public final class ZstdCompressor {
    private let context: OpaquePointer
    private let output: UnsafeMutableRawBufferPointer

    /// Inputs at least this large are compressed with worker threads.
    public static let threadedThreshold: Int64 = 8 << 20

    /// - Parameters:
    ///   - level: compression level (1...19; 3 is zstd's default).
    ///   - workers: worker threads; 0 compresses on the calling thread.
    ///   - pledgedSize: the exact input size, recorded in the frame header, if known.
    public init(level: Int, workers: Int = 0, pledgedSize: Int64? = nil) throws {
        guard let context = ZSTD_createCCtx() else { throw ZstdError("out of memory") }
        self.context = context
        output = .allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)
        _ = try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, Int32(level)))
        _ = try ZstdError.check(ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1))
        if workers > 0 {
            // A library built without threads refuses; compressing on this thread is still correct.
            _ = ZSTD_CCtx_setParameter(context, ZSTD_c_nbWorkers, Int32(workers))
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

/// What a zstd frame header says about the size of its content.
public enum ZstdFrameHeader: Equatable, Sendable {
    /// The header records the content size.
    case contentSize(UInt64)
    /// The header does not record it.
    case sizeUnknown
    /// More bytes are needed to read the header.
    case incomplete
    /// The bytes do not start a zstd frame.
    case invalid

    /// The most bytes a frame header takes.
    public static let maximumLength = 18

    /// Reads the frame header at the start of `bytes`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> ZstdFrameHeader {
        guard bytes.count >= 5 else { return bytes.count >= 4 && !hasMagic(bytes) ? .invalid : .incomplete }
        guard hasMagic(bytes) else { return .invalid }
        // The header's length follows from its descriptor byte (RFC 8878, 3.1.1.1).
        let descriptor = bytes[4]
        let singleSegment = descriptor & 0x20 != 0
        if descriptor & 0x08 != 0 { return .invalid }  // the reserved bit
        let dictionaryIDBytes = [0, 1, 2, 4][Int(descriptor & 0x3)]
        let contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][Int(descriptor >> 6)]
        let headerSize = 5 + (singleSegment ? 0 : 1) + dictionaryIDBytes + contentSizeBytes
        if bytes.count < headerSize { return .incomplete }
        let size = ZSTD_getFrameContentSize(bytes.baseAddress, bytes.count)
        switch size {
        case UInt64.max: return .sizeUnknown  // ZSTD_CONTENTSIZE_UNKNOWN
        case UInt64.max - 1: return .invalid  // ZSTD_CONTENTSIZE_ERROR
        default: return .contentSize(size)
        }
    }

    private static func hasMagic(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x28 && bytes[1] == 0xB5 && bytes[2] == 0x2F && bytes[3] == 0xFD
    }
}
