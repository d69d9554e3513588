import DeltaSealCore
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Logging

/// `supervisor demo`: sample batches into a fresh spool, shipped end to end into a store.
public enum Demo {
    /// What the demo generates.
    public struct Shape: Sendable {
        public var batches = 8
        public var recordsPerBatch = 500
        public var dimension = 64
        public init() {}
    }

    /// Writes `shape.batches` NDJSON batches into `incoming/` (each under a temporary name, then renamed).
    public static func generateBatches(into spool: Spool, shape: Shape, seed: UInt64 = 42) throws {
        try spool.prepare()
        var random = SplitMix64(seed: seed)
        let collections = ["articles", "support-tickets"]
        for batch in 0..<shape.batches {
            var text = ""
            for index in 0..<shape.recordsPerBatch {
                let collection = collections[index % collections.count]
                let embedding = (0..<shape.dimension).map { _ in String(format: "%.5f", random.nextUnit() * 2 - 1) }
                text += "{\"collection\":\"\(collection)\",\"id\":\"b\(batch)-r\(index)\","
                text += "\"embedding\":[\(embedding.joined(separator: ","))],"
                text += "\"document\":\"sample document \(index) of batch \(batch)\","
                text += "\"metadata\":{\"batch\":\(batch),\"source\":\"demo\",\"even\":\(index % 2 == 0)}}\n"
            }
            let name = String(format: "demo-%04d.ndjson", batch)
            let temporary = spool.incoming + "/." + name + ".tmp"
            try Files.writeAtomically(Array(text.utf8), to: temporary)
            try Files.rename(temporary, spool.incoming + "/" + name)
        }
    }
}
