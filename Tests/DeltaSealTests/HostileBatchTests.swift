import DeltaSealCore
import DeltaSealSQLite
import DeltaSealSystem
import DeltaSealWriter
import Foundation
import Testing

/// NDJSON at every edge of JSON, through the built-in writer process: what is valid is stored
/// byte for byte (and survives shipping and restore), what is not is refused naming file and line.
@Suite struct HostileBatchTests {
    static let embedding = "\"embedding\":[0.5,0.25]"

    /// Records whose text is hard to keep exact; each `(id, expected document bytes)`.
    static let exactLines: [(line: String, id: [UInt8], document: [UInt8]?, metadata: [UInt8]?)] = [
        ("{\"collection\":\"c\",\"id\":\"nul\",\(embedding),\"document\":\"total 12.50\\u0000 card ending 4242\"}",
         Array("nul".utf8), Array("total 12.50".utf8) + [0] + Array(" card ending 4242".utf8), nil),
        ("{\"collection\":\"c\",\"id\":\"a\\u0000b\",\(embedding)}", [0x61, 0, 0x62], nil, nil),
        ("{\"collection\":\"c\",\"id\":\"a\\u0000c\",\(embedding)}", [0x61, 0, 0x63], nil, nil),
        // Canonically equivalent, different bytes: two ids, as SQLite (and a compactor) sees them.
        ("{\"collection\":\"c\",\"id\":\"\\u00e9\",\(embedding)}", [0xC3, 0xA9], nil, nil),
        ("{\"collection\":\"c\",\"id\":\"e\\u0301\",\(embedding)}", [0x65, 0xCC, 0x81], nil, nil),
        ("{\"collection\":\"c\",\"id\":\"emoji\",\(embedding),\"document\":\"\\ud83d\\ude00 and 😀 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"}",
         Array("emoji".utf8), Array("😀 and 😀 \"q\" \\ / ".utf8) + [8, 12, 10, 13, 9], nil),
        ("{\"collection\":\"c\",\"id\":\"numbers\",\(embedding),\"metadata\":{\"z\":123456789012345678901234567890,\"a\":-1.5e-300,\"m\":\"x\\u0001y\"}}",
         Array("numbers".utf8), nil, Array("{\"a\":-1.5e-300,\"m\":\"x\\u0001y\",\"z\":123456789012345678901234567890}".utf8)),
    ]

    func writeBatch(_ bytes: [UInt8], in dir: String) throws -> String {
        let input = dir + "/batch.ndjson"
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        return input
    }

    func assertExact(_ path: String) throws {
        let db = try Database(path: path, mode: .readOnly)
        let statement = try db.prepare("SELECT id, document, metadata FROM records ORDER BY id")
        var stored: [[UInt8]: ([UInt8]?, [UInt8]?)] = [:]
        while try statement.step() { stored[statement.bytes(0)!] = (statement.bytes(1), statement.bytes(2)) }
        #expect(stored.count == Self.exactLines.count)
        for expected in Self.exactLines {
            let row = try #require(stored[expected.id], "id \(expected.id) missing")
            #expect(row.0 == expected.document, "document of \(expected.id)")
            #expect(row.1 == expected.metadata, "metadata of \(expected.id)")
        }
    }

    @Test func everyStringIsStoredExactlyAndSurvivesShippingAndRestore() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        // A byte-order mark on the first line and CRLF line ends: what Windows tools write.
        let text = [0xEF, 0xBB, 0xBF] + Array(Self.exactLines.map(\.line).joined(separator: "\r\n").utf8) + [13, 10]
        let dir = harness.root + "/direct"
        try Files.makeDirectories(dir)
        let input = try writeBatch(text, in: dir)
        let result = try await TestSupport.run([TestSupport.writer, "--input", input, "--out", dir + "/out"])
        #expect(result.status == 0, "\(result.stderr)")
        try assertExact(dir + "/out/delta.sqlite3")

        try TestSupport.dropBatch(String(decoding: text, as: UTF8.self), named: "exact.ndjson", spool: harness.config.spool)
        let summary = try await harness.runOnce()
        #expect(summary.shipped == 1, "\(summary)")
        let id = try #require(try harness.shippedDeltas().first)
        let restored = harness.root + "/restored"
        let restore = try await TestSupport.run([TestSupport.verifier, "restore", harness.deltaURL(id), "--out", restored])
        #expect(restore.status == 0, "\(restore.stdout)")
        try assertExact(restored + "/delta.sqlite3")
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        var line: Int
        var reason: String
        var testDescription: String { name }
        init(_ name: String, _ text: String, line: Int = 1, _ reason: String) {
            self.init(name, Array(text.utf8), line: line, reason)
        }
        init(_ name: String, _ bytes: [UInt8], line: Int = 1, _ reason: String) {
            self.name = name; self.bytes = bytes; self.line = line; self.reason = reason
        }
    }

    static let good = "{\"collection\":\"c\",\"id\":\"ok\",\(embedding)}\n"

    static let badCases: [Bad] = [
        .init("lone high surrogate", "{\"collection\":\"c\",\"id\":\"\\ud800\",\(embedding)}", "string holds a lone UTF-16 surrogate \\uD800"),
        .init("lone low surrogate", "{\"collection\":\"c\",\"id\":\"x\",\(embedding),\"document\":\"a\\udc00b\"}", "string holds a lone UTF-16 surrogate \\uDC00"),
        .init("high surrogate then a letter", "{\"collection\":\"c\",\"id\":\"\\ud83dx\",\(embedding)}", "string holds a lone UTF-16 surrogate \\uD83D"),
        .init("raw control character", "{\"collection\":\"c\",\"id\":\"a\u{1}b\",\(embedding)}", "malformed JSON: unescaped control character 0x1 in a string"),
        .init("duplicate field", "{\"collection\":\"c\",\"id\":\"a\",\"id\":\"b\",\(embedding)}", "duplicate field \"id\""),
        .init("duplicate metadata key", "{\"collection\":\"c\",\"id\":\"a\",\(embedding),\"metadata\":{\"k\":1,\"k\":2}}",
              "metadata has duplicate key \"k\""),
        .init("deep nesting", "{\"collection\":\"c\",\"id\":\"a\",\(embedding),\"x\":" + String(repeating: "[", count: 100_000)
              + String(repeating: "]", count: 100_000) + "}", "malformed JSON: nested deeper than 64 levels"),
        .init("huge number in the embedding", "{\"collection\":\"c\",\"id\":\"a\",\"embedding\":[1e400]}", "embedding[0] = 1e400 does not fit a float32"),
        .init("NaN", "{\"collection\":\"c\",\"id\":\"a\",\"embedding\":[NaN]}", "malformed JSON"),
        .init("leading zero", "{\"collection\":\"c\",\"id\":\"a\",\"embedding\":[01]}", "malformed JSON: a number with a leading zero"),
        .init("trailing text", "{\"collection\":\"c\",\"id\":\"a\",\(embedding)} extra", "malformed JSON: unexpected 'e' after the value"),
        .init("byte-order mark inside", Array(good.utf8) + [0xEF, 0xBB, 0xBF] + Array(good.utf8), line: 2, "malformed JSON"),
        .init("invalid escape", "{\"collection\":\"c\",\"id\":\"a\\x\",\(embedding)}", "malformed JSON: invalid escape \\'x'"),
        .init("overlong UTF-8", [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x7D], "line is not valid UTF-8"),
        .init("UTF-8 surrogate", Array("{\"id\":\"".utf8) + [0xED, 0xA0, 0x80] + Array("\"}".utf8), "line is not valid UTF-8"),
        .init("unknown field", "{\"collection\":\"c\",\"id\":\"a\",\(embedding),\"extra\":1}", "unknown field \"extra\""),
    ]

    @Test(arguments: badCases)
    func refusesHostileJSONNamingFileAndLine(_ bad: Bad) async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let input = try writeBatch(bad.bytes + [10], in: dir)
        let result = try await TestSupport.run([TestSupport.writer, "--input", input, "--out", dir + "/out"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("error: \(input):\(bad.line): \(bad.reason)"), "stderr: \(result.stderr)")
        #expect(TestSupport.files(under: dir + "/out") == [])
        #expect(try Files.readAll(input) == bad.bytes + [10])
        // Messages never carry raw control characters, whatever the input held.
        #expect(!result.stderr.dropLast().contains { $0.asciiValue.map { $0 < 0x20 && $0 != 10 } ?? false })
    }

    @Test func parserIsTotalOnArbitraryBytes() {
        // No input may crash the parser: random bytes, random JSON-ish tokens.
        var random = SplitMix64(seed: 9)
        let tokens = ["{", "}", "[", "]", ",", ":", "\"", "\\", "u", "d800", "0", "-", "e", "1", "true", "null", " ", "\"id\"", "\"embedding\""]
        let parser = RecordParser()
        for round in 0..<20_000 {
            var line: [UInt8] = []
            let length = Int(random.next() % 64)
            for _ in 0..<length {
                if round % 2 == 0 {
                    line.append(UInt8(truncatingIfNeeded: random.next()))
                } else {
                    line += Array(tokens[Int(random.next() % UInt64(tokens.count))].utf8)
                }
            }
            _ = try? parser.parse(line[...])
        }
    }
}
