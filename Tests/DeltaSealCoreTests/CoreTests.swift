import DeltaSealCore
import Testing

@Suite struct DeltaIDTests {
    @Test func formatsUTCToTheMillisecond() {
        // 2026-11-25T14:05:09.123Z
        let id = DeltaID(unixMilliseconds: 1_795_615_509_123, random: 0x3fa9c01b7e)
        #expect(id.rawValue == "20261125T140509123Z-3fa9c01b7e")
        #expect(DeltaID(id.rawValue) == id)
    }

    @Test func sortsByCreationTime() {
        let earlier = DeltaID(unixMilliseconds: 1_000_000_000_000, random: .max)
        let later = DeltaID(unixMilliseconds: 1_000_000_000_001, random: 0)
        #expect(earlier < later)
        #expect(earlier.rawValue.count == 30)
    }

    @Test(arguments: ["", "20261125T140509123Z", "20261125T140509123Z-3FA9C01B7E", "20261125X140509123Z-3fa9c01b7e",
                      "../1125T140509123Z-3fa9c01b7e", "20261125T140509123Z-3fa9c01b7"])
    func rejectsOtherShapes(_ text: String) {
        #expect(DeltaID(text) == nil)
    }

    @Test func civilTimeHandlesLeapYearsAndEpoch() {
        #expect(CivilTime.rfc3339(unixMilliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(CivilTime.rfc3339(unixMilliseconds: 951_782_400_000) == "2000-02-29T00:00:00.000Z")
        #expect(CivilTime.rfc3339(unixMilliseconds: -1) == "1969-12-31T23:59:59.999Z")
    }
}

@Suite struct RelativePathTests {
    @Test(arguments: ["a", "a/b.sqlite3", "index/seg-1/data.bin", "..hidden", "a..b"])
    func acceptsRelativePaths(_ text: String) {
        #expect(RelativePath(text)?.rawValue == text)
    }

    @Test(arguments: ["", "/etc/passwd", "../x", "a/../b", "a/./b", "a//b", "a/", ".", "..", "a\\b", "a\u{0}b"])
    func rejectsEscapes(_ text: String) {
        #expect(RelativePath(text) == nil)
    }
}

@Suite struct RetryPolicyTests {
    @Test func backoffDoublesWithinJitterBoundsAndCaps() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: 1, maxDelay: 8)
        #expect(policy.delay(afterAttempt: 1, jitter: 0) == 0.5)
        #expect(policy.delay(afterAttempt: 1, jitter: 1) == 1)
        #expect(policy.delay(afterAttempt: 3, jitter: 0) == 2)
        #expect(policy.delay(afterAttempt: 3, jitter: 1) == 4)
        #expect(policy.delay(afterAttempt: 9, jitter: 1) == 8)
        #expect(policy.delay(afterAttempt: 200, jitter: 0.5) == 6)
    }

    @Test func countsAttempts() {
        let policy = RetryPolicy(maxAttempts: 3)
        #expect(policy.allowsAttempt(after: 1))
        #expect(policy.allowsAttempt(after: 2))
        #expect(!policy.allowsAttempt(after: 3))
    }
}

@Suite struct CommandWordsTests {
    @Test func splitsLikeAShell() throws {
        #expect(try CommandWords.split("python3 -u 'my writer.py' --flag \"a b\" c\\ d") ==
            ["python3", "-u", "my writer.py", "--flag", "a b", "c d"])
        #expect(try CommandWords.split("  ") == [])
        #expect(try CommandWords.split("''") == [""])
    }

    @Test func refusesUnterminatedQuotes() {
        #expect(throws: CommandWords.Unterminated.self) { try CommandWords.split("python3 'x") }
    }
}

@Suite struct WriterContractTests {
    @Test func mapsExitsToOutcomes() {
        #expect(WriterContract.outcome(exitStatus: 0, signal: nil) == .complete)
        #expect(WriterContract.outcome(exitStatus: 2, signal: nil) == .badInput)
        #expect(WriterContract.outcome(exitStatus: 1, signal: nil) == .failed("writer exited with status 1"))
        #expect(WriterContract.outcome(exitStatus: nil, signal: 9) == .failed("writer killed by signal 9"))
    }

    @Test func parsesTheRejectionLine() {
        let parsed = WriterContract.parseRejection(stderr: "starting\nerror: /spool/b.ndjson:7: missing field \"id\"\n")
        #expect(parsed == .init(file: "/spool/b.ndjson", line: 7, reason: "missing field \"id\""))
        #expect(WriterContract.parseRejection(stderr: "Traceback...\nValueError: bad\n").reason == "ValueError: bad")
        #expect(WriterContract.format(parsed) == "error: /spool/b.ndjson:7: missing field \"id\"")
    }
}

@Suite struct ManifestTests {
    func manifest(path: String, key: String? = nil) -> Manifest {
        let sha = String(repeating: "a", count: 64)
        return Manifest(
            deltaID: DeltaID(unixMilliseconds: 0, random: 1), host: "h", createdAt: "1970-01-01T00:00:00.000Z",
            sources: [.init(name: "b.ndjson", records: 2, bytes: 10, sha256: sha)],
            writer: .init(command: ["writer"], exitStatus: 0, durationMs: 1), compression: .init(level: 3),
            files: [.init(path: path, kind: .other, rawSize: 1, rawSHA256: sha,
                          objectKey: key ?? (RelativePath(path).map(ObjectLayout.objectKey(for:)) ?? "files/x.zst"),
                          compressedSize: 1, compressedSHA256: sha, sqlite: nil)])
    }

    @Test func soundManifestHasNoProblems() {
        #expect(manifest(path: "index/a.bin").structuralProblems().isEmpty)
    }

    @Test func pathEscapesAndForeignKeysAreProblems() {
        #expect(!manifest(path: "../evil").structuralProblems().isEmpty)
        #expect(!manifest(path: "/etc/passwd").structuralProblems().isEmpty)
        #expect(!manifest(path: "a.bin", key: "../../other/delta/files/a.bin.zst").structuralProblems().isEmpty)
    }

    @Test func layoutJoinsKeys() {
        let id = DeltaID(unixMilliseconds: 0, random: 1)
        #expect(ObjectLayout.deltaLocation(prefix: "/deltas/", host: "ingest-1", id: id) == "deltas/ingest-1/\(id)")
        #expect(ObjectLayout.deltaLocation(prefix: "", host: "ingest-1", id: id) == "ingest-1/\(id)")
        #expect(ObjectLayout.isValidHost("ingest-1.eu_west"))
        #expect(!ObjectLayout.isValidHost("a/b"))
        #expect(!ObjectLayout.isValidHost(".."))
    }
}

@Suite struct RestartIntensityTests {
    @Test func tripsOnlyWhenFailuresCrowdTheWindow() {
        var breaker = RestartIntensity(maxFailures: 3, windowMs: 1000, pauseMs: 5000)
        // Failures at these times; only the last one is the fourth inside one second.
        let tripped = [0, 100, 200, 1500, 1600, 1700, 1800].map { breaker.recordFailure(atMs: Int64($0)) }
        #expect(tripped == [false, false, false, false, false, false, true])
        #expect(breaker.waitMs(atMs: 1800) == 5000)
        #expect(breaker.waitMs(atMs: 6000) == 800)
        #expect(breaker.waitMs(atMs: 9000) == 0)
    }

    @Test func successEndsTheLoop() {
        var breaker = RestartIntensity(maxFailures: 1, windowMs: 1000, pauseMs: 100)
        let first = breaker.recordFailure(atMs: 0)
        breaker.recordSuccess()
        let second = breaker.recordFailure(atMs: 10)
        let third = breaker.recordFailure(atMs: 20)
        #expect([first, second, third] == [false, false, true])
    }
}

@Suite struct IntakeLimitsTests {
    @Test func pausesOnLowDiskOrFullWorkArea() {
        let limits = IntakeLimits(maxWorkBytes: 1000, minFreeBytes: 500)
        #expect(limits.pauseReason(workBytes: 999, freeBytes: 500) == nil)
        #expect(limits.pauseReason(workBytes: 1000, freeBytes: 10_000) == "work area holds 1000 bytes, the limit is 1000")
        #expect(limits.pauseReason(workBytes: 0, freeBytes: 499) == "free disk 499 bytes is below the floor of 500")
    }
}

/// The validator against Swift's own UTF-8 decoding: every sequence of one and two bytes, every
/// three-byte sequence that starts a multi-byte form, and seeded random lines mixing ASCII runs
/// (the eight-at-a-time path) with every kind of lead byte, at every alignment.
@Suite struct UTF8ValidationTests {
    static func reference(_ bytes: [UInt8]) -> Bool { String(validating: bytes, as: UTF8.self) != nil }

    @Test func agreesWithSwiftOnEveryShortSequence() {
        var mismatches: [[UInt8]] = []
        for a in 0...255 {
            for b in 0...255 {
                let two = [UInt8(a), UInt8(b)]
                if UTF8Validation.isValid(two) != Self.reference(two) { mismatches.append(two) }
                guard a >= 0xE0 && a <= 0xF4 else { continue }
                for c in stride(from: 0, through: 255, by: 1) where c >= 0x70 && c <= 0xC5 {
                    let three = [UInt8(a), UInt8(b), UInt8(c)]
                    if UTF8Validation.isValid(three) != Self.reference(three) { mismatches.append(three) }
                }
            }
            if UTF8Validation.isValid([UInt8(a)]) != Self.reference([UInt8(a)]) { mismatches.append([UInt8(a)]) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func agreesWithSwiftOnRandomLinesAtEveryAlignment() {
        var random = SplitMix64(seed: 8)
        let pieces: [[UInt8]] = [Array("abcdefghijklmnop".utf8), Array("é".utf8), Array("€".utf8), Array("😀".utf8),
                                 [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xFF], [0x00]]
        var mismatches = 0
        for _ in 0..<20_000 {
            var line: [UInt8] = []
            for _ in 0..<Int(random.next() % 8) { line += pieces[Int(random.next() % UInt64(pieces.count))] }
            let offset = Int(random.next() % 8)
            let padded = Array(repeating: UInt8(ascii: "x"), count: offset) + line
            if UTF8Validation.isValid(padded[offset...]) != Self.reference(line) { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
}
