/// Where a store (or a delta in it) is: `file:///path` or `s3://bucket/prefix`.
public struct StoreURL: Sendable, Equatable, CustomStringConvertible {
    public enum Scheme: String, Sendable { case file, s3 }

    public let scheme: Scheme
    /// For `file`: the absolute directory. For `s3`: the bucket.
    public let root: String
    /// Key prefix inside the root, without leading or trailing slash; may be empty.
    public let prefix: String

    public init(scheme: Scheme, root: String, prefix: String) {
        self.scheme = scheme
        self.root = root
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
    }

    /// Parses `file:///ABSOLUTE/PATH`, `s3://BUCKET[/PREFIX]`, or a plain path, which means the
    /// filesystem store (absolute or `~`; relative only where `paths` allows it, see ``LocalPath``).
    /// Anything else that looks like a URL (`[a-z][a-z0-9+.-]*:`) is refused rather than taken for
    /// a directory: `s3:/deltas/prod` is a typo, not a directory named `s3:` in the working directory.
    public init(parsing text: String, paths: LocalPath) throws {
        func refuse(_ why: String) -> StoreError { StoreError(.invalidRequest, key: nil, "store URL \(text) \(why)") }
        let scheme = Self.schemePrefix(of: text)
        switch scheme?.lowercased() {
        case "s3":
            guard text.hasPrefix("s3://") else { throw refuse("is not s3://BUCKET/PREFIX (two slashes after s3:)") }
            let rest = text.dropFirst("s3://".count)
            let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            let bucket = parts.first.map(String.init) ?? ""
            guard !bucket.isEmpty else { throw refuse("names no bucket (expected s3://BUCKET/PREFIX)") }
            if let problem = Self.bucketProblem(bucket) { throw refuse("has an invalid bucket name \"\(bucket)\": \(problem)") }
            self.init(scheme: .s3, root: bucket, prefix: parts.count > 1 ? String(parts[1]) : "")
        case "file":
            guard text.hasPrefix("file:///") else { throw refuse("is not absolute (expected file:///ABSOLUTE/PATH)") }
            self.init(scheme: .file, root: LocalPath.normalised(String(text.dropFirst("file://".count))), prefix: "")
        case let other?:
            throw refuse("has an unsupported scheme \(other): (use file:///PATH, s3://BUCKET/PREFIX or an absolute path)")
        case nil:
            self.init(scheme: .file, root: try paths.resolve(text, what: "store"), prefix: "")
        }
    }

    /// Parses as ``init(parsing:paths:)`` with relative paths resolved against `workingDirectory`
    /// (for callers that know the path was typed by a person, and for tests).
    public init(parsing text: String, workingDirectory: String) throws {
        try self.init(parsing: text, paths: LocalPath(workingDirectory: workingDirectory, home: nil, allowRelative: true))
    }

    /// The `scheme` of a text that starts like a URL (`[a-z][a-z0-9+.-]*:`), else nil.
    static func schemePrefix(of text: String) -> String? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let scheme = Array(text[..<colon].utf8)
        func letter(_ c: UInt8) -> Bool { (0x61...0x7A).contains(c | 0x20) }
        func digit(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) }
        guard let first = scheme.first, letter(first),
              scheme.allSatisfy({ letter($0) || digit($0) || $0 == 0x2B || $0 == 0x2E || $0 == 0x2D }) else { return nil }
        return String(decoding: scheme, as: UTF8.self)
    }

    /// Why `name` is not an S3 bucket name (3-63 of `a-z 0-9 . -`, a letter or digit at both ends,
    /// no `..`, not an IP address), or nil.
    public static func bucketProblem(_ name: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        if !(3...63).contains(name.count) { return "must be 3-63 characters" }
        if !name.allSatisfy(allowed.contains) { return "only lowercase letters, digits, '.' and '-' are allowed" }
        let ends = Set("abcdefghijklmnopqrstuvwxyz0123456789")
        if !ends.contains(name.first!) || !ends.contains(name.last!) { return "must start and end with a letter or digit" }
        if name.contains("..") { return "must not contain \"..\"" }
        if name.split(separator: ".").count == 4 && name.split(separator: ".").allSatisfy({ Int($0) != nil }) { return "must not be an IP address" }
        return nil
    }

    /// This location with `path` appended to the prefix (or the directory, for files).
    public func appending(_ path: String) -> StoreURL {
        switch scheme {
        case .file:
            let joined = ([root == "/" ? "" : root] + path.split(separator: "/").map(String.init)).joined(separator: "/")
            return StoreURL(scheme: .file, root: joined, prefix: "")
        case .s3:
            return StoreURL(scheme: .s3, root: root, prefix: prefix.isEmpty ? path : prefix + "/" + path)
        }
    }

    public var description: String {
        switch scheme {
        case .file: return "file://" + root
        case .s3: return "s3://" + root + (prefix.isEmpty ? "" : "/" + prefix)
        }
    }
}
