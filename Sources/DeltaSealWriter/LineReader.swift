import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// Reads a file line by line with a hard cap on line length, never holding more than one line
/// and one buffer in memory. The buffer is reused: a read fills the room after what is left of
/// the last one, only a partial line moves to the front, and newlines are found with `memchr`.
struct LineReader {
    private let file: PosixFile
    private let maxLineBytes: Int
    /// `buffer[start..<filled]` is read and not yet returned; the rest is room to read into.
    private var buffer = [UInt8](repeating: 0, count: 256 << 10)
    private var start = 0
    private var filled = 0
    /// Where the search for the next newline goes on (bytes before it have none).
    private var searched = 0
    private var atEnd = false
    /// The 1-based number of the line last returned.
    private(set) var lineNumber = 0

    /// A line longer than the cap; `line` is its number.
    struct LineTooLong: Error { var line: Int }

    init(file: PosixFile, maxLineBytes: Int) {
        self.file = file
        self.maxLineBytes = maxLineBytes
    }

    /// The next line without its `\n` (and without a `\r` before it), or `nil` at end of file.
    mutating func next() throws -> ArraySlice<UInt8>? {
        while true {
            let from = max(start, searched)
            let newline: Int? = buffer.withUnsafeBytes { raw in
                guard filled > from, let found = memchr(raw.baseAddress! + from, 10, filled - from) else { return nil }
                return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
            }
            if let newline {
                lineNumber += 1
                var end = newline
                if end > start && buffer[end - 1] == 13 { end -= 1 }
                let line = buffer[start..<end]
                start = newline + 1
                searched = start
                if line.count > maxLineBytes { throw LineTooLong(line: lineNumber) }
                return line
            }
            searched = filled
            if filled - start > maxLineBytes { throw LineTooLong(line: lineNumber + 1) }
            if atEnd {
                guard start < filled else { return nil }
                lineNumber += 1
                let line = buffer[start..<filled]
                start = filled
                return line
            }
            // Only the partial line moves to the front; a line that fills the buffer grows it.
            if start > 0 {
                let (from, count) = (start, filled - start)
                buffer.withUnsafeMutableBytes { raw in _ = memmove(raw.baseAddress!, raw.baseAddress! + from, count) }
                filled = count
                searched -= start
                start = 0
            }
            if filled == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let room = filled
            let n = try buffer.withUnsafeMutableBytes { raw in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[room...]))
            }
            filled += n
            if n == 0 { atEnd = true }
        }
    }
}
