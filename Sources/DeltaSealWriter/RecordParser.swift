import DeltaSealCore
#if canImport(Glibc)
import Glibc
#endif

/// Parses and validates one NDJSON line into a ``Record``, straight from its bytes.
///
/// A strict RFC 8259 parser written for the record schema: every JSON string is kept exactly
/// (escapes decoded, `\u0000` included), a lone UTF-16 surrogate, a raw control character,
/// a duplicate key or nesting deeper than ``maxDepth`` is refused, numbers keep their literal text
/// in metadata, and the embedding is parsed straight into floats. Every failure is a reason a
/// person can act on; a syntax error wins over a schema error on the same line.
public struct RecordParser: Sendable {
    /// Deepest nesting accepted anywhere in a line.
    public static let maxDepth = 64

    /// Why a line is not a record.
    public struct Invalid: Error, Equatable { public var reason: String }

    public init() {}

    /// Parses one line (without its newline).
    public func parse(_ line: ArraySlice<UInt8>) throws -> Record {
        guard UTF8Validation.isValid(line) else { throw Invalid(reason: "line is not valid UTF-8") }
        return try line.withUnsafeBufferPointer { buffer in
            var scanner = Scanner(bytes: buffer)
            return try scanner.record()
        }
    }
}

/// The cursor over one line. `fail` is a syntax error (thrown at once); `note` keeps the first
/// schema error and lets parsing continue, so malformed JSON is reported as such.
private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var problem: String?

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    enum Kind: String { case string, number, boolean, null, array, object }

    // MARK: Record

    mutating func record() throws -> Record {
        skipWhitespace()
        guard peek == UInt8(ascii: "{") else {
            _ = try value(depth: 1)
            try end()
            throw RecordParser.Invalid(reason: "record must be a JSON object")
        }
        index += 1
        var collection: [UInt8]?, id: [UInt8]?, embedding: [Float]?
        var document: [UInt8]?, metadata: [UInt8]?
        var seen = Set<[UInt8]>()
        try members { scanner, key in
            if !seen.insert(key).inserted { scanner.note("duplicate field \(Self.display(key))") }
            switch String(decoding: key, as: UTF8.self) {
            case "collection": collection = try scanner.requiredString("collection")
            case "id": id = try scanner.requiredString("id")
            case "embedding": embedding = try scanner.embedding()
            case "document": document = try scanner.optionalString("document")
            case "metadata": metadata = try scanner.metadata()
            default:
                scanner.note("unknown field \(Self.display(key))")
                _ = try scanner.value(depth: 2)
            }
        }
        try end()
        if let problem { throw RecordParser.Invalid(reason: problem) }
        guard let collection else { throw RecordParser.Invalid(reason: "missing field \"collection\"") }
        guard let id else { throw RecordParser.Invalid(reason: "missing field \"id\"") }
        guard let embedding else { throw RecordParser.Invalid(reason: "missing field \"embedding\"") }
        return Record(collection: collection, id: id, embedding: embedding, document: document, metadataJSON: metadata)
    }

    private mutating func requiredString(_ field: String) throws -> [UInt8]? {
        guard peek == UInt8(ascii: "\"") else {
            note("field \"\(field)\" must be a string, not \(try value(depth: 2).rawValue)")
            return nil
        }
        let text = try string()
        if text.isEmpty { note("field \"\(field)\" is empty") }
        return text
    }

    private mutating func optionalString(_ field: String) throws -> [UInt8]? {
        if peek == UInt8(ascii: "\"") { return try string() }
        let kind = try value(depth: 2)
        if kind != .null { note("field \"\(field)\" must be a string, not \(kind.rawValue)") }
        return nil
    }

    private mutating func embedding() throws -> [Float]? {
        guard peek == UInt8(ascii: "[") else {
            note("field \"embedding\" must be an array of numbers, not \(try value(depth: 2).rawValue)")
            return nil
        }
        index += 1
        var values: [Float] = []
        var position = 0
        try elements {
            if let literal = try $0.numberIfPresent() {
                let n = Self.double(literal)
                if !(n.isFinite && abs(n) <= Double(Float.greatestFiniteMagnitude)) {
                    $0.note("embedding[\(position)] = \(String(decoding: literal, as: UTF8.self)) does not fit a float32")
                }
                values.append(Float(n))
            } else {
                $0.note("embedding[\(position)] must be a number, not \(try $0.value(depth: 3).rawValue)")
            }
            position += 1
        }
        if values.isEmpty && problem == nil { note("field \"embedding\" is empty") }
        return values
    }

    /// Canonical JSON of a flat metadata object: keys sorted by bytes, values as they were
    /// (strings re-escaped minimally, numbers as written).
    private mutating func metadata() throws -> [UInt8]? {
        guard peek == UInt8(ascii: "{") else {
            let kind = try value(depth: 2)
            if kind != .null { note("field \"metadata\" must be an object, not \(kind.rawValue)") }
            return nil
        }
        index += 1
        var entries: [(key: [UInt8], value: [UInt8])] = []
        try members { scanner, key in
            let value: [UInt8]
            if scanner.peek == UInt8(ascii: "\"") {
                value = JSONText.encodeString(try scanner.string())
            } else if let literal = try scanner.numberIfPresent() {
                value = Array(literal)
            } else if scanner.take("true") {
                value = Array("true".utf8)
            } else if scanner.take("false") {
                value = Array("false".utf8)
            } else {
                let kind = try scanner.value(depth: 3)
                scanner.note("metadata \(Self.display(key)) must be a string, number or boolean, not \(kind.rawValue)")
                return
            }
            entries.append((key, value))
        }
        entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
        for (a, b) in zip(entries, entries.dropFirst()) where a.key == b.key {
            note("metadata has duplicate key \(Self.display(a.key))")
            break
        }
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (n, entry) in entries.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out += JSONText.encodeString(entry.key)
            out.append(UInt8(ascii: ":"))
            out += entry.value
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    // MARK: Generic JSON

    /// Parses any value, returns its kind.
    mutating func value(depth: Int) throws -> Kind {
        guard depth <= RecordParser.maxDepth else { throw fail("nested deeper than \(RecordParser.maxDepth) levels") }
        switch peek {
        case UInt8(ascii: "{"):
            index += 1
            var keys = Set<[UInt8]>()
            try members { scanner, key in
                if !keys.insert(key).inserted { scanner.note("duplicate key \(Self.display(key))") }
                _ = try scanner.value(depth: depth + 1)
            }
            return .object
        case UInt8(ascii: "["):
            index += 1
            try elements { _ = try $0.value(depth: depth + 1) }
            return .array
        case UInt8(ascii: "\""):
            _ = try string()
            return .string
        case UInt8(ascii: "t"):
            if take("true") { return .boolean }
        case UInt8(ascii: "f"):
            if take("false") { return .boolean }
        case UInt8(ascii: "n"):
            if take("null") { return .null }
        default:
            if try numberIfPresent() != nil { return .number }
        }
        throw fail("unexpected \(describeHere())")
    }

    /// `{` already taken: members up to and including `}`; `body` parses each value.
    private mutating func members(_ body: (inout Scanner, [UInt8]) throws -> Void) throws {
        skipWhitespace()
        if peek == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a key, found \(describeHere())") }
            let key = try string()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after a key, found \(describeHere())") }
            index += 1
            skipWhitespace()
            try body(&self, key)
            skipWhitespace()
            if peek == UInt8(ascii: ",") { index += 1; continue }
            if peek == UInt8(ascii: "}") { index += 1; return }
            throw fail("expected ',' or '}', found \(describeHere())")
        }
    }

    /// `[` already taken: elements up to and including `]`.
    private mutating func elements(_ body: (inout Scanner) throws -> Void) throws {
        skipWhitespace()
        if peek == UInt8(ascii: "]") { index += 1; return }
        while true {
            skipWhitespace()
            try body(&self)
            skipWhitespace()
            if peek == UInt8(ascii: ",") { index += 1; continue }
            if peek == UInt8(ascii: "]") { index += 1; return }
            throw fail("expected ',' or ']', found \(describeHere())")
        }
    }

    /// A string's decoded UTF-8 bytes; the cursor is on its opening quote.
    mutating func string() throws -> [UInt8] {
        index += 1
        var out: [UInt8] = []
        var runStart = index
        while true {
            guard index < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                out += bytes[runStart..<index]
                index += 1
                return out
            }
            if byte < 0x20 { throw fail("unescaped control character 0x\(String(byte, radix: 16)) in a string") }
            if byte != UInt8(ascii: "\\") { index += 1; continue }
            out += bytes[runStart..<index]
            index += 1
            guard index < bytes.count else { throw fail("unterminated string") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    let high = scalar
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw loneSurrogate(high)
                    }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw loneSurrogate(high) }
                    scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw loneSurrogate(scalar)
                }
                UTF8Validation.append(scalar, to: &out)
            default:
                throw fail("invalid escape \\\(DisplayByte.describe(escape)) in a string")
            }
            runStart = index
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("incomplete \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(b - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(b - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(b - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private func loneSurrogate(_ unit: UInt32) -> RecordParser.Invalid {
        RecordParser.Invalid(reason: "string holds a lone UTF-16 surrogate \\u\(String(unit, radix: 16, uppercase: true)), which is not text")
    }

    /// The literal of a JSON number at the cursor (grammar checked), or nil if none starts here.
    private mutating func numberIfPresent() throws -> Slice<UnsafeBufferPointer<UInt8>>? {
        let start = index
        func digit(_ i: Int) -> Bool { i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") }
        var i = index
        if i < bytes.count && bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else {
            if i > start { throw fail("a '-' without digits") }
            return nil
        }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if digit(i) { throw fail("a number with a leading zero") }
        } else {
            while digit(i) { i += 1 }
        }
        if i < bytes.count && bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { throw fail("a number with no digits after '.'") }
            while digit(i) { i += 1 }
        }
        if i < bytes.count && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            if i < bytes.count && (bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-")) { i += 1 }
            guard digit(i) else { throw fail("a number with no digits in its exponent") }
            while digit(i) { i += 1 }
        }
        index = i
        return bytes[start..<i]
    }

    /// The value of a number literal already checked against the JSON grammar: `strtod`'s, by
    /// the fast methods when they can say.
    static func double(_ literal: Slice<UnsafeBufferPointer<UInt8>>) -> Double {
        if let fast = FastDecimal.correctlyRounded(literal) { return fast }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: literal.count + 1) { buffer in
            for (n, byte) in literal.enumerated() { buffer[n] = CChar(bitPattern: byte) }
            buffer[literal.count] = 0
            return strtod(buffer.baseAddress!, nil)
        }
    }

    private mutating func take(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        for n in 0..<count where bytes[index + n] != word.utf8Start[n] { return false }
        index += count
        return true
    }

    private mutating func end() throws {
        skipWhitespace()
        if index < bytes.count { throw fail("unexpected \(describeHere()) after the value") }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func note(_ reason: String) {
        if problem == nil { problem = reason }
    }

    private func fail(_ what: String) -> RecordParser.Invalid {
        RecordParser.Invalid(reason: "malformed JSON: \(what) at byte \(index + 1)")
    }

    private func describeHere() -> String {
        guard let byte = peek else { return "end of line" }
        return DisplayByte.describe(byte)
    }

    private static func display(_ key: [UInt8]) -> String {
        DisplayText.quoted(String(decoding: key, as: UTF8.self), limit: 128)
    }
}

/// One byte of input, for a message: `'x'` when printable ASCII, else its hex value.
enum DisplayByte {
    static func describe(_ byte: UInt8) -> String {
        (0x21...0x7E).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }
}
