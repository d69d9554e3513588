/// Splits a command line into words the way a POSIX shell would for plain words, single and double
/// quotes and backslashes, without expansion of any kind.
public enum CommandWords {
    /// A quote was opened and never closed.
    public struct Unterminated: Error, CustomStringConvertible {
        public let text: String
        public var description: String { "unterminated quote in command: \(text)" }
    }

    /// The words of `text`.
    public static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for ch in text {
            if escaped { current.append(ch); escaped = false; inWord = true; continue }
            switch (quote, ch) {
            case (nil, "\\"), ("\"", "\\"): escaped = true; inWord = true
            case (nil, "'"), (nil, "\""): quote = ch; inWord = true
            case (let q?, _) where ch == q: quote = nil
            case (nil, _) where ch.isWhitespace:
                if inWord { words.append(current); current = ""; inWord = false }
            default: current.append(ch); inWord = true
            }
        }
        if quote != nil || escaped { throw Unterminated(text: text) }
        if inWord { words.append(current) }
        return words
    }
}
