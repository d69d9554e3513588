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

/// Calendar arithmetic for UTC timestamps, without time zones or Foundation formatters.
public enum CivilTime {
    /// `("YYYYMMDD", "HHMMSSmmm")` for a Unix time in milliseconds.
    public static func utc(unixMilliseconds ms: Int64) -> (date: String, time: String) {
        let c = components(unixMilliseconds: ms)
        return (pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2),
                pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + pad(c.millisecond, 3))
    }

    /// RFC 3339 text in UTC with milliseconds, e.g. `2026-11-25T14:05:09.123Z`.
    public static func rfc3339(unixMilliseconds ms: Int64) -> String {
        let c = components(unixMilliseconds: ms)
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(c.millisecond, 3))Z"
    }

    /// Broken-down UTC time (proleptic Gregorian calendar).
    public static func components(unixMilliseconds ms: Int64)
        -> (year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, millisecond: Int64)
    {
        let millis = ((ms % 1000) + 1000) % 1000
        let seconds = (ms - millis) / 1000
        let secondsOfDay = ((seconds % 86_400) + 86_400) % 86_400
        let days = (seconds - secondsOfDay) / 86_400
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, secondsOfDay / 3600, (secondsOfDay % 3600) / 60, secondsOfDay % 60, millis)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
