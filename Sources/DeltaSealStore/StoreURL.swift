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

    /// Parses `file:///abs/path`, `s3://bucket/prefix`, or a plain path (absolute, or relative to
    /// `workingDirectory`), which means the filesystem store.
    public init(parsing text: String, workingDirectory: String) throws {
        if text.hasPrefix("s3://") {
            let rest = text.dropFirst("s3://".count)
            let parts = rest.split(separator: "/", maxSplits: 1)
            guard let bucket = parts.first, !bucket.isEmpty else {
                throw StoreError(.invalidRequest, key: nil, "store URL \(text) names no bucket (expected s3://BUCKET/PREFIX)")
            }
            self.init(scheme: .s3, root: String(bucket), prefix: parts.count > 1 ? String(parts[1]) : "")
            return
        }
        var path: String
        if text.hasPrefix("file://") {
            path = String(text.dropFirst("file://".count))
            guard path.hasPrefix("/") else {
                throw StoreError(.invalidRequest, key: nil, "store URL \(text) is not absolute (expected file:///ABSOLUTE/PATH)")
            }
        } else if text.contains("://") {
            throw StoreError(.invalidRequest, key: nil, "store URL \(text) has an unsupported scheme (use file:// or s3://)")
        } else {
            guard !text.isEmpty else { throw StoreError(.invalidRequest, key: nil, "store URL is empty") }
            path = text.hasPrefix("/") ? text : workingDirectory + "/" + text
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
        }
        self.init(scheme: .file, root: "/" + parts.joined(separator: "/"), prefix: "")
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
