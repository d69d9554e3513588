/// The `DELTASEAL_*` variables the supervisor reads, so a misspelt one (`DELTASEAL_WRITER_TIMOUT`)
/// is reported instead of silently doing nothing.
public enum EnvironmentNames {
    /// Variables that are not settings but are read by the supervisor.
    public static let commands: Set<String> = ["DELTASEAL_CONFIG", "DELTASEAL_NO_EXPAND_ENV"]

    /// Prefixes and names of variables that belong to the test suite, bin/ and the writer
    /// contract (set for writers), not to the supervisor's configuration.
    static let others: [String] = ["DELTASEAL_TEST_", "DELTASEAL_BIN_DIR", "DELTASEAL_CHAOS_", "DELTASEAL_OUTAGE_FAULTS",
                                   "DELTASEAL_DELTA_ID", "DELTASEAL_ATTEMPT", "DELTASEAL_HANDLES_", "DELTASEAL_CHROMA_PYTHON",
                                   "DELTASEAL_AWS_CLI", "DELTASEAL_DEV_", "DELTASEAL_WEED_PID", "DELTASEAL_VENV"]

    /// Every variable that configures the supervisor.
    public static var known: [String] { ConfigSchema.settings.map(\.environmentName) + commands.sorted() }

    /// A warning for each `DELTASEAL_*` variable of `environment` that nothing reads, naming the
    /// closest known one.
    public static func unknown(in environment: [String: String]) -> [String] {
        let known = Self.known
        return environment.keys.filter { name in
            name.hasPrefix("DELTASEAL_") && !known.contains(name) && !others.contains { name.hasPrefix($0) }
        }.sorted().map { name in
            let closest = known.min { distance($0, name) < distance($1, name) }
            return "environment variable \(name) is not a DeltaSeal setting; it is ignored"
                + (closest.map { " (did you mean \($0)?)" } ?? "")
        }
    }

    /// Levenshtein distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
