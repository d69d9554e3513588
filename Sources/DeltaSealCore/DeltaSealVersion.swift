/// The release of DeltaSeal these sources are: what `--version` prints, with the commit.
public enum DeltaSealVersion {
    /// Bumped with each release.
    public static let version = "0.9.0"

    /// `NAME VERSION (commit COMMIT)`, the line every executable's `--version` prints.
    public static func line(_ name: String, commit: String) -> String {
        "\(name) \(version) (commit \(commit))"
    }
}
