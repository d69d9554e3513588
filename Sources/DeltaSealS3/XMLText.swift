import Foundation

/// Just enough XML for S3's answers: the texts of elements by name, in document order.
/// S3's responses are flat and well known; a full parser would add a dependency and nothing else.
enum XMLText {
    /// The text of every `<tag>...</tag>` in `xml`, entities decoded.
    static func values(of tag: String, in xml: String) -> [String] {
        var out: [String] = []
        let open = "<\(tag)>"
        let close = "</\(tag)>"
        var rest = xml[...]
        while let start = rest.range(of: open), let end = rest[start.upperBound...].range(of: close) {
            out.append(decode(String(rest[start.upperBound..<end.lowerBound])))
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// The first value of `tag`, if any.
    static func value(of tag: String, in xml: String) -> String? { values(of: tag, in: xml).first }

    /// The blocks `<tag>...</tag>` (inner XML), for repeated records such as `<Contents>`.
    static func blocks(_ tag: String, in xml: String) -> [String] {
        var out: [String] = []
        var rest = xml[...]
        while let start = rest.range(of: "<\(tag)>"), let end = rest[start.upperBound...].range(of: "</\(tag)>") {
            out.append(String(rest[start.upperBound..<end.lowerBound]))
            rest = rest[end.upperBound...]
        }
        return out
    }

    /// Escapes text for an element body.
    static func escape(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func decode(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }
}
