import CZstd

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
