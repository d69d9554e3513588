#if canImport(Glibc)
import Glibc
#endif

/// The git commit an executable was built from, for `--version`. bin/ writes it beside the
/// executables when it builds (`deltaseal-commit`) and bin/install into
/// `PREFIX/share/deltaseal/commit`; those win, because SwiftPM evaluates Package.swift (where
/// the compiled-in value comes from) only when the manifest changes, so after later commits the
/// compiled-in value can be older than the sources.
public enum BuildCommit {
    /// The commit: from the file beside the executable, else `compiled`.
    public static func current(compiled: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return compiled }
        let executable = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let directory = PathName.directory(of: executable)
        for candidate in [directory + "/deltaseal-commit", directory + "/../share/deltaseal/commit"] {
            guard let bytes = try? Files.readAll(candidate, limit: 256) else { continue }
            // A commit has no whitespace: drop the newline (and any other).
            let text = String(decoding: bytes.filter { $0 > 0x20 }, as: UTF8.self)
            if !text.isEmpty { return text }
        }
        return compiled
    }
}
