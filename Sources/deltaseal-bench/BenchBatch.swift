import DeltaSealCore
import Foundation

/// The bench's NDJSON records (docs/formats.md): four collections, 384-dimension embeddings with
/// six decimals, a document, and with `metadata` the flat object the tests' records carry.
enum BenchBatch {
    /// `count` records, one per line, drawn from `random`.
    /// `collection`: the collections' name prefix (chromadb wants names of 3 characters or more).
    static func lines(_ count: Int, random: inout SplitMix64, metadata: Bool = false, collection: String = "c") -> String {
        var lines = ""
        for n in 0..<count {
            let embedding = (0..<384).map { _ in String(format: "%.6f", random.nextUnit() * 2 - 1) }.joined(separator: ",")
            let extra = metadata ? ",\"metadata\":{\"n\":\(n),\"ok\":true,\"tag\":\"x\"}" : ""
            lines += "{\"collection\":\"\(collection)\(n % 4)\",\"id\":\"r\(n)\",\"embedding\":[\(embedding)],\"document\":\"document number \(n) with some text\"\(extra)}\n"
        }
        return lines
    }

    /// The first `count` lines of `text`.
    static func prefix(_ text: String, lines count: Int) -> String {
        text.split(separator: "\n", maxSplits: count, omittingEmptySubsequences: false).prefix(count).map { $0 + "\n" }.joined()
    }
}
