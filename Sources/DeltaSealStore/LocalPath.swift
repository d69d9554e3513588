/// How a path given by an operator (the store, the spool) becomes an absolute path, the same way
/// everywhere: `~` and `~/x` are the home directory; an absolute path is taken as it is; a relative
/// path is resolved against the working directory only when a person typed it at a terminal. A
/// daemon's working directory is an accident of how it was started (`/` under systemd), so a
/// relative path there would quietly land somewhere nobody meant.
public struct LocalPath: Sendable, Equatable {
    /// The directory relative paths are resolved against.
    public var workingDirectory: String
    /// `HOME`, for `~`; `nil` when it is not set.
    public var home: String?
    /// Whether relative paths are accepted (stdin is a terminal).
    public var allowRelative: Bool

    public init(workingDirectory: String, home: String?, allowRelative: Bool) {
        self.workingDirectory = workingDirectory
        self.home = home
        self.allowRelative = allowRelative
    }

    /// Resolves `text` (named `what` in errors) to a normalised absolute path.
    public func resolve(_ text: String, what: String) throws -> String {
        guard !text.isEmpty else { throw StoreError(.invalidRequest, key: nil, "\(what) is empty") }
        var path = text
        if text == "~" || text.hasPrefix("~/") {
            guard let home, home.hasPrefix("/") else {
                throw StoreError(.invalidRequest, key: nil, "\(what) \(text) starts with ~ but HOME is not set to an absolute path")
            }
            path = home + text.dropFirst()
        } else if text.hasPrefix("~") {
            throw StoreError(.invalidRequest, key: nil, "\(what) \(text): only ~ and ~/PATH are expanded (not ~USER); write the absolute path")
        } else if !text.hasPrefix("/") {
            guard allowRelative else {
                throw StoreError(.invalidRequest, key: nil,
                                 "\(what) \(text) is a relative path and stdin is not a terminal (a service's working directory, "
                                 + "\(workingDirectory), is no place to guess from): write an absolute path")
            }
            path = workingDirectory + "/" + text
        }
        return Self.normalised(path)
    }

    /// `path` without `.`, `..` and repeated slashes.
    public static func normalised(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }
}
