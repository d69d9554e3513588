/// Text that came from outside (a store's error message, an object key, a record id, a manifest
/// path) made safe for a terminal, a log line or a report: control characters and the Unicode
/// controls that reorder or hide text are shown as escapes, never passed through, and length is
/// bounded so a hostile peer cannot flood a line.
public enum DisplayText {
    /// The longest text kept, in characters; longer text ends with `…`.
    public static let defaultLimit = 512

    /// `text` with every control character escaped (`\n`, `\u{1b}`, ...), cut to `limit` characters.
    /// Idempotent (a backslash is kept as it is), so text may pass through it more than once.
    public static func sanitize(_ text: String, limit: Int = defaultLimit) -> String {
        var out = ""
        var kept = 0
        for scalar in text.unicodeScalars {
            if kept >= limit {
                out += "…"
                break
            }
            out += escaped(scalar)
            kept += 1
        }
        return out
    }

    /// `bytes` (any, possibly not UTF-8) as sanitized text: invalid sequences become U+FFFD.
    public static func sanitize(bytes: some Collection<UInt8>, limit: Int = defaultLimit) -> String {
        sanitize(String(decoding: Array(bytes), as: UTF8.self), limit: limit)
    }

    /// `text` sanitized and in double quotes, `"` and `\` escaped: for names inside messages.
    public static func quoted(_ text: String, limit: Int = defaultLimit) -> String {
        var inner = ""
        for scalar in sanitize(text, limit: limit).unicodeScalars {
            switch scalar {
            case "\"": inner += "\\\""
            default: inner.unicodeScalars.append(scalar)
            }
        }
        return "\"" + inner + "\""
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        default:
            if isUnsafe(scalar) { return "\\u{" + String(scalar.value, radix: 16) + "}" }
            return String(scalar)
        }
    }

    /// C0 and C1 controls, DEL, and the bidirectional and invisible formatting characters that
    /// can make a line read differently from what it holds.
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (v >= 0x7F && v <= 0x9F) || (v >= 0x200B && v <= 0x200F) || (v >= 0x202A && v <= 0x202E)
            || (v >= 0x2066 && v <= 0x2069) || v == 0xFEFF || v == 0x2028 || v == 0x2029
    }
}
