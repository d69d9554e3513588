/// The identity of one delta: sorts by creation time and is unique per host.
///
/// Text form: `YYYYMMDDTHHMMSSmmmZ-xxxxxxxxxx`, a UTC timestamp to the millisecond followed by
/// ten lowercase hex digits of randomness (40 bits), e.g. `20261125T140509123Z-3fa9c01b7e`.
/// Lexicographic order equals creation order to the millisecond.
public struct DeltaID: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    /// The text form, safe as a path component and an object-key component.
    public let rawValue: String

    /// Builds an id from milliseconds since the Unix epoch and a random number (low 40 bits used).
    public init(unixMilliseconds: Int64, random: UInt64) {
        let (date, time) = CivilTime.utc(unixMilliseconds: unixMilliseconds)
        let hex = String(random & 0xFF_FFFF_FFFF, radix: 16)
        rawValue = date + "T" + time + "Z-" + String(repeating: "0", count: 10 - hex.count) + hex
    }

    /// Parses the text form; `nil` unless it is exactly the documented shape.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 30, bytes[8] == UInt8(ascii: "T"), bytes[18] == UInt8(ascii: "Z"),
              bytes[19] == UInt8(ascii: "-")
        else { return nil }
        let isDigit = { (b: UInt8) in b >= 48 && b <= 57 }
        let isHex = { (b: UInt8) in isDigit(b) || (b >= 97 && b <= 102) }
        guard bytes[0..<8].allSatisfy(isDigit), bytes[9..<18].allSatisfy(isDigit),
              bytes[20...].allSatisfy(isHex)
        else { return nil }
        rawValue = text
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = DeltaID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a delta id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static func < (lhs: DeltaID, rhs: DeltaID) -> Bool { lhs.rawValue < rhs.rawValue }
}
