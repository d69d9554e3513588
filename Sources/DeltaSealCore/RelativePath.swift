/// A path inside a delta: relative, `/`-separated, with no empty, `.` or `..` components.
///
/// Every path that comes from a manifest or a directory walk goes through this type, so a hostile
/// manifest cannot name a file outside the directory it is restored into.
public struct RelativePath: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The validated text.
    public let rawValue: String

    /// Validates `text`; returns `nil` when it is absolute, empty, contains `..`, `.`, an empty
    /// component, a NUL or a backslash, or is longer than ``DeltaLimits/maxPathBytes``.
    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= DeltaLimits.maxPathBytes, !text.hasPrefix("/"),
              !text.utf8.contains(0), !text.contains("\\")
        else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
        rawValue = text
    }

    /// The path's components.
    public var components: [Substring] { rawValue.split(separator: "/") }

    public var description: String { rawValue }

    public static func < (lhs: RelativePath, rhs: RelativePath) -> Bool { lhs.rawValue < rhs.rawValue }
}
