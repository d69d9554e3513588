/// The limits of a delta, in one place: the seal refuses to ship what the verifier would refuse
/// to read, so a delta is never uploaded only to be rejected on every attempt. docs/formats.md
/// lists them.
public enum DeltaLimits {
    /// The most files one delta may hold.
    public static let maxFiles = 10_000
    /// The largest manifest, in bytes of its JSON.
    public static let maxManifestBytes = 16 << 20
    /// The longest path of a file inside a delta, in UTF-8 bytes.
    public static let maxPathBytes = 1024
    /// The longest component of such a path: NAME_MAX (255) less the `.zst` of its object.
    public static let maxComponentBytes = 251

    /// Why `path` cannot be part of a delta, or nil when it can.
    public static func pathProblem(_ path: RelativePath) -> String? {
        if let long = path.components.first(where: { $0.utf8.count > maxComponentBytes }) {
            return "path component \(DisplayText.quoted(String(long), limit: 64)) is \(long.utf8.count) bytes (at most \(maxComponentBytes))"
        }
        return nil
    }
}
