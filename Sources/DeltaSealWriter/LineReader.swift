import DeltaSealSystem

/// Reads a file line by line with a hard cap on line length, never holding more than one line
/// and one buffer in memory.
struct LineReader {
    private let file: PosixFile
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
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
            if let newline = buffer[start...].firstIndex(of: 10) {
                lineNumber += 1
                var end = newline
                if end > start && buffer[end - 1] == 13 { end -= 1 }
                let line = buffer[start..<end]
                start = newline + 1
                if line.count > maxLineBytes { throw LineTooLong(line: lineNumber) }
                return line
            }
            if buffer.count - start > maxLineBytes { throw LineTooLong(line: lineNumber + 1) }
            if atEnd {
                guard start < buffer.count else { return nil }
                lineNumber += 1
                let line = buffer[start...]
                start = buffer.count
                return line
            }
            // Compact, then read more.
            if start > 0 {
                buffer.removeFirst(start)
                start = 0
            }
            let chunk = 256 << 10
            let oldCount = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: chunk))
            let n = try buffer.withUnsafeMutableBytes { raw in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[oldCount...]))
            }
            buffer.removeLast(chunk - n)
            if n == 0 { atEnd = true }
        }
    }
}
