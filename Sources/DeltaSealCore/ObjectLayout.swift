/// Where a delta's objects live in a store.
///
/// `<prefix>/<host>/<delta-id>/manifest.json` and `<prefix>/<host>/<delta-id>/files/<path>.zst`.
/// Keys inside a manifest are relative to the delta's own location, so a delta can be copied to
/// another prefix and still verify.
public enum ObjectLayout {
    /// The manifest's key relative to the delta location.
    public static let manifestKey = "manifest.json"

    /// The compressed object's key for a file, relative to the delta location.
    public static func objectKey(for path: RelativePath) -> String { "files/" + path.rawValue + ".zst" }

    /// The delta location (a key prefix without trailing slash) below a store prefix.
    public static func deltaLocation(prefix: String, host: String, id: DeltaID) -> String {
        join(prefix, host, id.rawValue)
    }

    /// The host's location below a store prefix.
    public static func hostLocation(prefix: String, host: String) -> String { join(prefix, host) }

    /// Joins key parts with `/`, dropping empty parts and stray slashes at the joins.
    public static func join(_ parts: String...) -> String {
        parts.map { $0.split(separator: "/").joined(separator: "/") }.filter { !$0.isEmpty }.joined(separator: "/")
    }

    /// Whether `host` can be used as a key component: 1–128 of `[A-Za-z0-9._-]`, not `.` or `..`.
    public static func isValidHost(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 128, host != ".", host != ".." else { return false }
        return host.utf8.allSatisfy { b in
            (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 46 || b == 95
        }
    }
}
