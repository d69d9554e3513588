import ArgumentParser
import DeltaSealCore
import Foundation

/// A `--since` value: RFC 3339 (`2026-11-25T00:00:00Z`), a delta id (the deltas from it on), or
/// an age (`90s`, `30m`, `24h`, `7d`). Anything else is refused: `--since yesterday` listing
/// nothing would look like an empty store.
struct SinceTime {
    /// The instant as manifests write `created_at` (`YYYY-MM-DDTHH:MM:SS.mmmZ`), so it compares as text.
    let createdAt: String

    init(_ text: String, nowMs: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws {
        let ms: Int64
        if let id = DeltaID(text) {
            let raw = Array(id.rawValue.utf8)
            func n(_ range: Range<Int>) -> String { String(decoding: raw[range], as: UTF8.self) }
            createdAt = "\(n(0..<4))-\(n(4..<6))-\(n(6..<8))T\(n(9..<11)):\(n(11..<13)):\(n(13..<15)).\(n(15..<18))Z"
            return
        } else if let unit = text.last, let count = Int64(text.dropLast()), count >= 0,
                  let factor = ["s": Int64(1000), "m": 60_000, "h": 3_600_000, "d": 86_400_000][String(unit)] {
            ms = nowMs - count * factor
        } else {
            let fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            guard let date = fractional.date(from: text) ?? ISO8601DateFormatter().date(from: text) else {
                throw ValidationError("--since \(text): expected an RFC 3339 time (2026-11-25T00:00:00Z), a delta id, or an age such as 90s, 30m, 24h, 7d")
            }
            ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        }
        createdAt = CivilTime.rfc3339(unixMilliseconds: ms)
    }
}
