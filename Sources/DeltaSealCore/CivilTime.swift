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
