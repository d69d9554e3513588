import DeltaSealWriter

/// The fuzz target of the NDJSON record parser: any bytes, as one line and as lines.
///
/// A refused line (`RecordParser.Invalid`) is fine; a crash, a trap or a sanitizer report is a
/// bug, and so is an accepted record that breaks an invariant below.
enum RecordParserFuzz {
    static func run(_ bytes: [UInt8]) {
        check(bytes[...])
        // The writer splits a batch on newlines; many lines per input reach deeper states.
        if bytes.contains(0x0A) {
            for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) { check(line) }
        }
    }

    private static func check(_ line: ArraySlice<UInt8>) {
        let parser = RecordParser()
        let record: Record
        do {
            record = try parser.parse(line)
        } catch is RecordParser.Invalid {
            return
        } catch {
            preconditionFailure("RecordParser threw \(type(of: error)), not RecordParser.Invalid: \(error)")
        }
        precondition(!record.collection.isEmpty, "accepted an empty collection")
        precondition(!record.id.isEmpty, "accepted an empty id")
        precondition(!record.embedding.isEmpty, "accepted an empty embedding")
        precondition(record.embedding.allSatisfy(\.isFinite), "accepted a non-finite embedding value")
        // Checked with the standard library, not the parser's own validator.
        for (field, text) in [("collection", record.collection), ("id", record.id), ("document", record.document ?? [])] {
            precondition(String(validating: text, as: UTF8.self) != nil, "\(field) is not valid UTF-8")
        }
        if let metadata = record.metadataJSON { checkCanonical(metadata) }
        precondition((try? parser.parse(line)) == record, "parsing the same line twice gave different records")
    }

    /// The canonical metadata text is a fixed point: wrapped in a record, it parses back to itself.
    private static func checkCanonical(_ metadata: [UInt8]) {
        precondition(String(validating: metadata, as: UTF8.self) != nil, "metadataJSON is not valid UTF-8")
        precondition(metadata.first == UInt8(ascii: "{") && metadata.last == UInt8(ascii: "}"), "metadataJSON is not an object")
        let wrapped = Array(#"{"collection":"c","id":"i","embedding":[1],"metadata":"#.utf8) + metadata + [UInt8(ascii: "}")]
        let again: Record
        do {
            again = try RecordParser().parse(wrapped[...])
        } catch {
            preconditionFailure("canonical metadata \(String(decoding: metadata, as: UTF8.self)) does not parse: \(error)")
        }
        precondition(again.metadataJSON == metadata, "canonical metadata is not a fixed point: \(String(decoding: metadata, as: UTF8.self))")
    }
}
