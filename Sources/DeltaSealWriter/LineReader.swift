import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// Reads a file line by line with a hard cap on line length, never holding more than one line
/// and one buffer in memory. The buffer is reused: a read fills the room after what is left of
/// the last one, only a partial line moves to the front, and newlines are found with `memchr`.
/// A line is handed out as a view of the buffer, valid until the next call: no copy.
final class LineReader {
    private let file: PosixFile
    private let maxLineBytes: Int
    /// `buffer[start..<filled]` is read and not yet returned; the rest is room to read into.
    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0
    private var filled = 0
    /// Where the search for the next newline goes on (bytes before it have none).
    private var searched = 0
    private var atEnd = false
    /// The 1-based number of the line last returned.
    private(set) var lineNumber = 0

    /// A line longer than the cap; `line` is its number.
    struct LineTooLong: Error { var line: Int }

    init(file: PosixFile, maxLineBytes: Int, bufferBytes: Int = 256 << 10) {
        self.file = file
        self.maxLineBytes = maxLineBytes
        capacity = bufferBytes
        buffer = .allocate(capacity: bufferBytes)
    }

    deinit { buffer.deallocate() }

    /// The next line without its `\n` (and without a `\r` before it), or `nil` at end of file.
    /// The bytes stay valid until the next call.
    func next() throws -> UnsafeBufferPointer<UInt8>? {
        while true {
            let from = max(start, searched)
            if filled > from, let found = memchr(buffer + from, 10, filled - from) {
                let newline = buffer.distance(to: found.assumingMemoryBound(to: UInt8.self))
                lineNumber += 1
                var end = newline
                if end > start && buffer[end - 1] == 13 { end -= 1 }
                let line = UnsafeBufferPointer(start: buffer + start, count: end - start)
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
                let line = UnsafeBufferPointer(start: buffer + start, count: filled - start)
                start = filled
                return line
            }
            // Only the partial line moves to the front; a line that fills the buffer grows it.
            if start > 0 {
                let count = filled - start
                memmove(buffer, buffer + start, count)
                filled = count
                searched -= start
                start = 0
            }
            if filled == capacity {
                let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                grown.update(from: buffer, count: filled)
                buffer.deallocate()
                buffer = grown
                capacity *= 2
            }
            let n = try file.read(into: UnsafeMutableRawBufferPointer(start: buffer + filled, count: capacity - filled))
            filled += n
            if n == 0 { atEnd = true }
        }
    }
}
