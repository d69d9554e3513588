/// `${VAR}` and `$VAR` in the configuration file's values, as Litestream does it, so one file can
/// serve many hosts (`host: ${HOSTNAME}`, `store: s3://${BUCKET}/prod`). `$$` is a literal `$`; a
/// `$` not followed by a name, `{` or `$` stays as it is. A variable that is not set is an error,
/// never an empty string: `s3:///prod` from an unset `$BUCKET` is how a store ends up wrong.
public enum EnvironmentExpansion {
    /// Why a value cannot be expanded.
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// `text` with its variables replaced from `environment`.
    public static func expand(_ text: String, environment: [String: String]) throws -> String {
        guard text.contains("$") else { return text }
        let chars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        func isName(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || ("0"..."9").contains(c) }
        func value(_ name: String) throws -> String {
            guard let value = environment[name] else {
                throw Problem(message: "${\(name)} is not set (write $$ for a literal $, or turn expansion off with "
                              + "--no-expand-env or DELTASEAL_NO_EXPAND_ENV=1)")
            }
            return value
        }
        while i < chars.count {
            let c = chars[i]
            guard c == "$", i + 1 < chars.count else { out.append(c); i += 1; continue }
            let next = chars[i + 1]
            if next == "$" {
                out.append("$")
                i += 2
            } else if next == "{" {
                guard let close = chars[(i + 2)...].firstIndex(of: "}") else {
                    throw Problem(message: "${ without a closing }")
                }
                let name = String(String.UnicodeScalarView(chars[(i + 2)..<close]))
                guard let first = name.unicodeScalars.first, isNameStart(first), name.unicodeScalars.allSatisfy(isName) else {
                    throw Problem(message: "${\(name)} is not a variable name")
                }
                out.append(contentsOf: try value(name).unicodeScalars)
                i = close + 1
            } else if isNameStart(next) {
                var end = i + 1
                while end < chars.count && isName(chars[end]) { end += 1 }
                out.append(contentsOf: try value(String(String.UnicodeScalarView(chars[(i + 1)..<end]))).unicodeScalars)
                i = end
            } else {
                out.append(c)
                i += 1
            }
        }
        return String(out)
    }
}
