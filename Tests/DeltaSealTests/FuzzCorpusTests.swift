import Foundation
import Testing

/// Every input of the fuzz seed corpus (Tests/Fixtures/fuzz), replayed through its fuzz target's
/// normal build (no libFuzzer), one process per input: a seed or a crash file added after a fix is
/// a regression test of the parser or decoder it reached.
@Suite struct FuzzCorpusTests {
    /// Target and corpus directory (under Tests/Fixtures/fuzz) of each fuzz target.
    static let targets = [("fuzz-record-parser", "record-parser"), ("fuzz-manifest", "manifest")]

    /// Inputs that still crash their target, and why; each entry goes when the bug is fixed (the
    /// test then fails with "known issue was not recorded" until it is removed).
    /// Inputs that still crash, with why (none: the overflow the seeds found is fixed, and its
    /// input stays in the corpus as a regression test).
    static let knownCrashes: [String: String] = [:]

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz").path

    /// `(target, "corpus/file")` for every input, in name order.
    static let inputs: [(String, String)] = targets.flatMap { target, corpus in
        ((try? FileManager.default.contentsOfDirectory(atPath: fixtures + "/" + corpus)) ?? [])
            .filter { !$0.hasPrefix(".") }.sorted().map { (target, corpus + "/" + $0) }
    }

    @Test func everyTargetHasASeedCorpus() {
        for (_, corpus) in Self.targets {
            #expect(Self.inputs.filter { $0.1.hasPrefix(corpus + "/") }.count >= 10, "\(corpus) holds fewer than 10 seeds")
        }
    }

    @Test(arguments: inputs)
    func replaysWithoutACrash(target: String, input: String) async throws {
        // The runtime's crash message is enough here; its backtracer only slows a known crash down.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let result = try await TestSupport.run([TestSupport.binDirectory + "/" + target, Self.fixtures + "/" + input], environment: environment)
        let check = {
            #expect(result.status == 0, "\(target) \(input) exited \(result.status)\n\(result.stderr.suffix(4000))")
        }
        if let why = Self.knownCrashes[input] {
            withKnownIssue(Comment(rawValue: why), check)
        } else {
            check()
        }
    }
}
