import DeltaSealCore
import DeltaSealSQLite
import DeltaSealSystem
import DeltaSealWriter
import Foundation
import Testing

/// The built-in writer, run as the supervisor runs it: a separate process.
@Suite struct WriterTests {
    @Test func writesEveryRecordInOneFile() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        try TestSupport.write(TestSupport.batch(records: 5) + TestSupport.record("other-1", collection: "other", dimension: 2) + "\n",
                              to: dir + "/a.ndjson")
        try TestSupport.write(TestSupport.batch(records: 3, prefix: "s"), to: dir + "/b.ndjson")
        let result = try await TestSupport.run([TestSupport.writer, "--input", dir + "/a.ndjson", dir + "/b.ndjson", "--out", dir + "/out"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(TestSupport.files(under: dir + "/out") == ["delta.sqlite3"])
        let db = try Database(path: dir + "/out/delta.sqlite3", mode: .readOnly)
        #expect(try db.scalarInt("SELECT count(*) FROM records") == 9)
        #expect(try db.rows("SELECT name, dimension FROM collections ORDER BY name") == [["docs", "4"], ["other", "2"]])
        // Embeddings are little-endian float32: 4 dimensions, 16 bytes; the first value is 0.5.
        #expect(try db.scalarInt("SELECT length(embedding) FROM records WHERE id = 'r0'") == 16)
        #expect(try db.rows("SELECT hex(substr(embedding, 1, 4)) FROM records WHERE id = 'r0'") == [["0000003F"]])
        #expect(try db.rows("SELECT metadata FROM records WHERE id = 'r0'") == [["{\"n\":1,\"ok\":true,\"tag\":\"x\"}"]])
        #expect(try db.rows("PRAGMA journal_mode") == [["delete"]])
    }

    /// Lines of every length around the reader's 256 KiB buffer: ones that straddle reads, ones
    /// longer than the buffer, CRLF endings, and a last line without a newline. Every record
    /// arrives whole, with its document as written.
    @Test func linesAcrossAndBeyondTheReadBufferArriveWhole() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        var random = SplitMix64(seed: 21)
        var text = ""
        var documents: [String: Int] = [:]
        for n in 0..<60 {
            let length = [10, 1000, 100_000, 262_100, 262_144, 300_000, 700_000][Int(random.next() % 7)] + Int(random.next() % 50)
            let id = "long-\(n)"
            documents[id] = length
            text += "{\"collection\":\"docs\",\"id\":\"\(id)\",\"embedding\":[1,2,3,4],\"document\":\"\(String(repeating: "d", count: length))\"}"
            text += n == 59 ? "" : (n % 3 == 0 ? "\r\n" : "\n")
        }
        try TestSupport.write(text, to: dir + "/long.ndjson")
        let result = try await TestSupport.run([TestSupport.writer, "--input", dir + "/long.ndjson", "--out", dir + "/out"])
        #expect(result.status == 0, "\(result.stderr)")
        let db = try Database(path: dir + "/out/delta.sqlite3", mode: .readOnly)
        let rows = try db.rows("SELECT id, length(document), document GLOB '*[^d]*' FROM records")
        #expect(rows.count == 60)
        for row in rows { #expect(row[1] == "\(documents[row[0] ?? ""] ?? -1)" && row[2] == "0", "\(row)") }
    }

    struct BadCase: CustomTestStringConvertible, Sendable {
        var name: String
        var lines: [String]
        var raw: [UInt8]?
        var line: Int?
        var reason: String
        var testDescription: String { name }
    }

    static let badCases: [BadCase] = [
        .init(name: "malformed JSON", lines: [TestSupport.record("a"), "{\"collection\": \"docs\", \"id\": "], line: 2, reason: "malformed JSON"),
        .init(name: "missing field", lines: [TestSupport.record("a"), "{\"collection\":\"docs\",\"embedding\":[1,2,3,4]}"], line: 2,
              reason: "missing field \"id\""),
        .init(name: "mistyped field", lines: ["{\"collection\":\"docs\",\"id\":7,\"embedding\":[1,2,3,4]}"], line: 1,
              reason: "field \"id\" must be a string, not number"),
        .init(name: "boolean in embedding", lines: ["{\"collection\":\"docs\",\"id\":\"a\",\"embedding\":[1,true]}"], line: 1,
              reason: "embedding[1] must be a number, not boolean"),
        .init(name: "nested metadata", lines: ["{\"collection\":\"docs\",\"id\":\"a\",\"embedding\":[1],\"metadata\":{\"x\":{\"y\":1}}}"],
              line: 1, reason: "metadata \"x\" must be a string, number or boolean, not object"),
        .init(name: "dimension mismatch", lines: [TestSupport.record("a"), TestSupport.record("b", dimension: 3)], line: 2,
              reason: "embedding has dimension 3, collection \"docs\" has 4"),
        .init(name: "duplicate id", lines: [TestSupport.record("a"), TestSupport.record("b"), TestSupport.record("a")], line: 3,
              reason: "duplicate id \"a\" in collection \"docs\""),
        .init(name: "invalid UTF-8", lines: [], raw: Array((TestSupport.record("a") + "\n").utf8) + [0x7B, 0xC3, 0x28, 0x7D, 0x0A],
              line: 2, reason: "line is not valid UTF-8"),
        .init(name: "line too long", lines: [TestSupport.record("a"), TestSupport.record("b", document: String(repeating: "x", count: 5000))],
              line: 2, reason: "line is longer than 1024 bytes"),
        .init(name: "empty batch", lines: ["", "   "], line: nil, reason: "batch has no records"),
        .init(name: "not an object", lines: ["[1,2,3]"], line: 1, reason: "record must be a JSON object"),
    ]

    @Test(arguments: badCases)
    func rejectsBadInputNamingFileAndLine(_ bad: BadCase) async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let input = dir + "/batch.ndjson"
        let bytes = bad.raw ?? Array((bad.lines.joined(separator: "\n") + "\n").utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let result = try await TestSupport.run([TestSupport.writer, "--input", input, "--out", dir + "/out", "--max-line-bytes", "1024"])
        #expect(result.status == 2)
        let location = bad.line.map { "\(input):\($0)" } ?? input
        #expect(result.stderr.contains("error: \(location): \(bad.reason)"), "stderr: \(result.stderr)")
        // No partial output: the database and its journal are gone.
        #expect(TestSupport.files(under: dir + "/out") == [])
        // The input is untouched.
        #expect(try Files.readAll(input) == bytes)
    }

    @Test func missingInputFileIsBadInput() async throws {
        let dir = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(dir) }
        let result = try await TestSupport.run([TestSupport.writer, "--input", dir + "/nope.ndjson", "--out", dir + "/out"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("nope.ndjson"))
    }
}

/// The fast decimal path gives `strtod`'s very double (bit for bit) wherever it answers, and it
/// answers for the short forms embeddings are written in.
@Suite struct FastDecimalTests {
    static func strtodValue(_ text: String) -> Double { text.withCString { strtod($0, nil) } }

    @Test func agreesWithStrtodBitForBitAndCoversShortForms() {
        var random = SplitMix64(seed: 13)
        var literals = ["0", "-0", "0.0", "-0.0", "1", "-1", "1e22", "1e23", "1e-22", "1e-23", "9007199254740992",
                        "9007199254740993", "0.1", "0.2", "0.3", "123456789012345678", "1234567890123456789012",
                        "0.000001", "1E+5", "2.5e-3", "-7.0E2", "1e400", "1e-400", "0.00000000000000000000000001"]
        for _ in 0..<50_000 {
            let magnitude = pow(10.0, Double(Int(random.next() % 40)) - 20)
            let value = (random.nextUnit() * 2 - 1) * magnitude
            let decimals = Int(random.next() % 18)
            switch random.next() % 3 {
            case 0: literals.append(String(format: "%.\(decimals)f", value))
            case 1: literals.append(String(format: "%.\(decimals)e", value))
            default: literals.append("\(Int64(bitPattern: random.next()) % 1_000_000_000)")
            }
        }
        var fast = 0
        var mismatches: [String] = []
        for literal in literals {
            guard let got = FastDecimal.double(Array(literal.utf8)) else { continue }
            fast += 1
            if got.bitPattern != Self.strtodValue(literal).bitPattern { mismatches.append(literal) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
        #expect(fast > literals.count / 3, "the fast path answered \(fast) of \(literals.count)")
        // What it must leave to strtod.
        for literal in ["9007199254740993", "1e23", "1e-23", "1234567890123456789012", "0.12345678901234567891"] {
            #expect(FastDecimal.double(Array(literal.utf8)) == nil, "\(literal)")
        }
        #expect(FastDecimal.double(Array("%.6f".utf8)) == nil)
        #expect(FastDecimal.double(Array("0.123456".utf8)) == 0.123456)
    }
}
