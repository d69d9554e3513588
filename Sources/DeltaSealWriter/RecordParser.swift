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
///
/// The writer parses into a ``ParsedRecord`` it keeps from line to line, so a record costs no
/// allocation; the embedding's numbers take a fast path (grammar and value in one pass) and fall
/// back to the general one for anything it does not take, which then says what is wrong.
public struct RecordParser: Sendable {
    /// Deepest nesting accepted anywhere in a line.
    public static let maxDepth = 64

    /// Why a line is not a record.
    public struct Invalid: Error, Equatable { public var reason: String }

    public init() {}

    /// Parses one line (without its newline).
    public func parse(_ line: ArraySlice<UInt8>) throws -> Record {
        var fields = ParsedRecord()
        try line.withUnsafeBufferPointer { try parse($0, into: &fields) }
        return fields.record
    }

    /// Parses one line (without its newline) into `fields`, reusing their storage. When this
    /// throws, `fields` holds nothing of use.
    public func parse(_ line: UnsafeBufferPointer<UInt8>, into fields: inout ParsedRecord) throws {
        guard UTF8Validation.isValid(UnsafeRawBufferPointer(line)) else { throw Invalid(reason: "line is not valid UTF-8") }
        var scanner = Scanner(bytes: line)
        try scanner.record(into: &fields)
    }
}

/// The cursor over one line. `fail` is a syntax error (thrown at once); `note` keeps the first
/// schema error and lets parsing continue, so malformed JSON is reported as such. What it parses
/// goes into a ``ParsedRecord``, whose buffers are its scratch space too.
private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var problem: String?

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    enum Kind: String { case string, number, boolean, null, array, object }

    /// The record's fields, one bit each, to find one given twice.
    enum Field: UInt8 {
        case collection = 1, id = 2, embedding = 4, document = 8, metadata = 16

        /// The field a key names, if any.
        init?(_ key: [UInt8]) {
            @inline(__always) func equals(_ name: StaticString) -> Bool {
                key.count == name.utf8CodeUnitCount && key.withUnsafeBufferPointer { memcmp($0.baseAddress!, name.utf8Start, key.count) == 0 }
            }
            switch key.count {
            case 2 where equals("id"): self = .id
            case 8 where equals("document"): self = .document
            case 8 where equals("metadata"): self = .metadata
            case 9 where equals("embedding"): self = .embedding
            case 10 where equals("collection"): self = .collection
            default: return nil
            }
        }
    }

    // MARK: Record

    mutating func record(into fields: inout ParsedRecord) throws {
        skipWhitespace()
        guard peek == UInt8(ascii: "{") else {
            _ = try value(depth: 1, &fields)
            try end()
            throw RecordParser.Invalid(reason: "record must be a JSON object")
        }
        index += 1
        fields.hasCollection = false
        fields.hasID = false
        fields.hasEmbedding = false
        fields.hasDocument = false
        fields.hasMetadata = false
        var seen: UInt8 = 0
        var seenUnknown = Set<[UInt8]>()
        try members(&fields) { scanner, fields in
            guard let field = Field(fields.key) else {
                if !seenUnknown.insert(fields.key).inserted { scanner.note("duplicate field \(Self.display(fields.key))") }
                scanner.note("unknown field \(Self.display(fields.key))")
                _ = try scanner.value(depth: 2, &fields)
                return
            }
            if seen & field.rawValue != 0 { scanner.note("duplicate field \(Self.display(fields.key))") }
            seen |= field.rawValue
            // A string goes straight into its buffer; anything else is parsed (and named) apart.
            let isString = scanner.peek == UInt8(ascii: "\"")
            switch field {
            case .collection where isString: fields.hasCollection = try scanner.requiredString("collection", into: &fields.collection)
            case .collection: fields.hasCollection = try scanner.notAString("collection", required: true, &fields)
            case .id where isString: fields.hasID = try scanner.requiredString("id", into: &fields.id)
            case .id: fields.hasID = try scanner.notAString("id", required: true, &fields)
            case .document where isString: fields.hasDocument = try scanner.optionalString(into: &fields.document)
            case .document: fields.hasDocument = try scanner.notAString("document", required: false, &fields)
            case .embedding: fields.hasEmbedding = try scanner.embedding(&fields)
            case .metadata: fields.hasMetadata = try scanner.metadata(&fields)
            }
        }
        try end()
        if let problem { throw RecordParser.Invalid(reason: problem) }
        guard fields.hasCollection else { throw RecordParser.Invalid(reason: "missing field \"collection\"") }
        guard fields.hasID else { throw RecordParser.Invalid(reason: "missing field \"id\"") }
        guard fields.hasEmbedding else { throw RecordParser.Invalid(reason: "missing field \"embedding\"") }
    }

    /// A required string field at the cursor (on its quote) into `target`; true.
    private mutating func requiredString(_ field: String, into target: inout [UInt8]) throws -> Bool {
        try string(into: &target)
        if target.isEmpty { note("field \"\(field)\" is empty") }
        return true
    }

    /// An optional string field at the cursor (on its quote) into `target`; true.
    private mutating func optionalString(into target: inout [UInt8]) throws -> Bool {
        try string(into: &target)
        return true
    }

    /// A string field's value that is not a string: false, and a note unless it is an optional
    /// field's null.
    private mutating func notAString(_ field: String, required: Bool, _ fields: inout ParsedRecord) throws -> Bool {
        let kind = try value(depth: 2, &fields)
        if required || kind != .null { note("field \"\(field)\" must be a string, not \(kind.rawValue)") }
        return false
    }

    /// The embedding into `fields`; false (and a note) if the value is not an array.
    private mutating func embedding(_ fields: inout ParsedRecord) throws -> Bool {
        guard peek == UInt8(ascii: "[") else {
            note("field \"embedding\" must be an array of numbers, not \(try value(depth: 2, &fields).rawValue)")
            return false
        }
        index += 1
        // The values go straight into storage big enough for any array this line can hold (each
        // value takes a byte and a comma): no growth, no check per value. Moved out of `fields`
        // meanwhile, which the general parser below needs.
        var storage: [UInt32] = []
        swap(&storage, &fields.embeddingStorage)
        defer { swap(&storage, &fields.embeddingStorage) }
        let room = bytes.count / 2 + 1
        if storage.count < room { storage = Array(repeating: 0, count: max(room, storage.count * 2)) }
        var count = 0
        try storage.withUnsafeMutableBufferPointer { values in
            // `elements`, written out: this loop runs once per number of the batch.
            skipWhitespace()
            if peek == UInt8(ascii: "]") { index += 1; return }
            while true {
                skipWhitespace()
                let start = index
                let value: Double?
                if let fast = fastNumber() {
                    value = fast
                } else if let literal = try numberIfPresent() {
                    value = Self.double(literal)
                } else {
                    note("embedding[\(count)] must be a number, not \(try self.value(depth: 3, &fields).rawValue)")
                    value = nil
                }
                if let value {
                    if !(value.isFinite && abs(value) <= Double(Float.greatestFiniteMagnitude)) {
                        note("embedding[\(count)] = \(String(decoding: bytes[start..<index], as: UTF8.self)) does not fit a float32")
                    }
                    values[count] = Float(value).bitPattern.littleEndian
                }
                count += 1
                skipWhitespace()
                if peek == UInt8(ascii: ",") { index += 1; continue }
                if peek == UInt8(ascii: "]") { index += 1; return }
                throw fail("expected ',' or ']', found \(describeHere())")
            }
        }
        fields.dimension = count
        if count == 0 && problem == nil { note("field \"embedding\" is empty") }
        return true
    }

    /// 10^0 ... 10^8.
    private static let smallPowers: [UInt64] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000]

    /// The number at the cursor when it is the common kind, grammar checked and valued in one pass
    /// (at most 19 digits, a short exponent, a value Clinger or Eisel-Lemire decides); else nil
    /// with the cursor unmoved, for ``numberIfPresent()`` to read (and to say what is wrong).
    @inline(__always)
    private mutating func fastNumber() -> Double? {
        guard let base = bytes.baseAddress else { return nil }
        let count = bytes.count
        var i = index
        guard i < count else { return nil }
        // Without a branch: embeddings' signs are random, a branch on them mispredicted half the time.
        let negative = base[i] == UInt8(ascii: "-")
        i &+= negative ? 1 : 0
        guard i < count, case let first = base[i] &- 0x30, first < 10 else { return nil }
        i += 1
        var mantissa = UInt64(first)
        // Digits in the mantissa but a lone leading zero: at most 19 fit any UInt64.
        var digits = first == 0 ? 0 : 1
        if first == 0 {
            if i < count && base[i] &- 0x30 < 10 { return nil }
        } else {
            while i < count, case let d = base[i] &- 0x30, d < 10 { mantissa = mantissa &* 10 &+ UInt64(d); digits += 1; i += 1 }
        }
        var exponent = 0
        if i < count && base[i] == UInt8(ascii: ".") {
            i += 1
            let fractionStart = i
            // Up to eight digits per step, in a word: the digits are the bytes below the first
            // one that is not, and their value takes three multiplications.
            while i + 8 <= count {
                let digitValues = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)) ^ 0x3030_3030_3030_3030
                // A byte's top bit set: it is not a digit (exact up to the first such byte).
                let notDigits = ((digitValues &+ 0x7676_7676_7676_7676) | digitValues) & 0x8080_8080_8080_8080
                let n = notDigits == 0 ? 8 : notDigits.trailingZeroBitCount >> 3
                guard n > 0 else { break }
                mantissa = mantissa &* Self.smallPowers[n] &+ Self.eightDigits(digitValues << UInt64(64 - 8 * n))
                i += n
                if n < 8 { break }
            }
            while i < count, case let d = base[i] &- 0x30, d < 10 { mantissa = mantissa &* 10 &+ UInt64(d); i += 1 }
            guard i > fractionStart else { return nil }
            digits += i - fractionStart
            exponent = fractionStart - i
        }
        guard digits <= 19 else { return nil }
        if i < count && (base[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            var negativeExponent = false
            if i < count && (base[i] == UInt8(ascii: "+") || base[i] == UInt8(ascii: "-")) {
                negativeExponent = base[i] == UInt8(ascii: "-")
                i += 1
            }
            let exponentStart = i
            var e = 0
            while i < count, case let d = base[i] &- 0x30, d < 10 { e = e &* 10 &+ Int(d); i += 1 }
            guard i > exponentStart, i - exponentStart <= 5 else { return nil }
            exponent += negativeExponent ? -e : e
        }
        guard let value = FastDecimal.value(mantissa, exponent, negative: negative) else { return nil }
        index = i
        return value
    }

    /// The value of eight decimal digits, one per byte (0...9), the first in the lowest byte
    /// (leading zero bytes for fewer digits).
    @inline(__always)
    private static func eightDigits(_ word: UInt64) -> UInt64 {
        let pairs = word &* 10 &+ (word >> 8)
        return ((pairs & 0x0000_00FF_0000_00FF) &* 0x000F_4240_0000_0064 &+ ((pairs >> 16) & 0x0000_00FF_0000_00FF) &* 0x0000_2710_0000_0001) >> 32
    }

    /// Canonical JSON of a flat metadata object into `fields.metadata`: keys sorted by bytes,
    /// values as they were (strings re-escaped minimally, numbers as written). False for null
    /// (or, with a note, anything but an object).
    private mutating func metadata(_ fields: inout ParsedRecord) throws -> Bool {
        guard peek == UInt8(ascii: "{") else {
            let kind = try value(depth: 2, &fields)
            if kind != .null { note("field \"metadata\" must be an object, not \(kind.rawValue)") }
            return false
        }
        index += 1
        fields.entries.removeAll(keepingCapacity: true)
        fields.entryBytes.removeAll(keepingCapacity: true)
        try members(&fields) { scanner, fields in
            let keyStart = fields.entryBytes.count
            fields.entryBytes += fields.key
            let valueStart = fields.entryBytes.count
            if scanner.peek == UInt8(ascii: "\"") {
                try scanner.string(into: &fields.text)
                fields.text.withUnsafeBufferPointer { JSONText.appendString($0, to: &fields.entryBytes) }
            } else if let literal = try scanner.numberIfPresent() {
                fields.entryBytes.append(contentsOf: literal)
            } else if scanner.take("true") {
                fields.entryBytes += "true".utf8
            } else if scanner.take("false") {
                fields.entryBytes += "false".utf8
            } else {
                // The value's own keys overwrite `fields.key`: the key is the one copied above.
                let kind = try scanner.value(depth: 3, &fields)
                let key = Array(fields.entryBytes[keyStart..<valueStart])
                scanner.note("metadata \(Self.display(key)) must be a string, number or boolean, not \(kind.rawValue)")
                fields.entryBytes.removeSubrange(keyStart...)
                return
            }
            fields.entries.append(.init(key: keyStart..<valueStart, value: valueStart..<fields.entryBytes.count))
        }
        fields.entryBytes.withUnsafeBufferPointer { bytes in
            func key(_ entry: ParsedRecord.MetadataEntry) -> UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: bytes[entry.key]) }
            fields.entries.sort { key($0).lexicographicallyPrecedes(key($1)) }
            for (a, b) in zip(fields.entries, fields.entries.dropFirst()) where key(a).elementsEqual(key(b)) {
                note("metadata has duplicate key \(Self.display(Array(key(a))))")
                break
            }
            fields.metadata.removeAll(keepingCapacity: true)
            fields.metadata.append(UInt8(ascii: "{"))
            for (n, entry) in fields.entries.enumerated() {
                if n > 0 { fields.metadata.append(UInt8(ascii: ",")) }
                JSONText.appendString(key(entry), to: &fields.metadata)
                fields.metadata.append(UInt8(ascii: ":"))
                fields.metadata.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[entry.value]))
            }
            fields.metadata.append(UInt8(ascii: "}"))
        }
        return true
    }

    // MARK: Generic JSON

    /// Parses any value, returns its kind; `fields` lends scratch space.
    mutating func value(depth: Int, _ fields: inout ParsedRecord) throws -> Kind {
        guard depth <= RecordParser.maxDepth else { throw fail("nested deeper than \(RecordParser.maxDepth) levels") }
        switch peek {
        case UInt8(ascii: "{"):
            index += 1
            var keys = Set<[UInt8]>()
            try members(&fields) { scanner, fields in
                if !keys.insert(fields.key).inserted { scanner.note("duplicate key \(Self.display(fields.key))") }
                _ = try scanner.value(depth: depth + 1, &fields)
            }
            return .object
        case UInt8(ascii: "["):
            index += 1
            try elements { _ = try $0.value(depth: depth + 1, &fields) }
            return .array
        case UInt8(ascii: "\""):
            try string(into: &fields.text)
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

    /// `{` already taken: members up to and including `}`; `body` parses each value, its key
    /// decoded in `fields.key` (which the next key overwrites).
    private mutating func members(_ fields: inout ParsedRecord, _ body: (inout Scanner, inout ParsedRecord) throws -> Void) throws {
        skipWhitespace()
        if peek == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw fail("expected a key, found \(describeHere())") }
            try string(into: &fields.key)
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw fail("expected ':' after a key, found \(describeHere())") }
            index += 1
            skipWhitespace()
            try body(&self, &fields)
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

    /// A string's decoded UTF-8 bytes into `out` (replacing what it held); the cursor is on its
    /// opening quote.
    mutating func string(into out: inout [UInt8]) throws {
        index += 1
        out.removeAll(keepingCapacity: true)
        var runStart = index
        while true {
            guard index < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
                index += 1
                return
            }
            if byte < 0x20 { throw fail("unescaped control character 0x\(String(byte, radix: 16)) in a string") }
            if byte != UInt8(ascii: "\\") { index += 1; continue }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
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
