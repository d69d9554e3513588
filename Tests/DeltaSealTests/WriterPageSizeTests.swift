import DeltaSealSQLite
import DeltaSealSystem
import DeltaSealWriter
import Foundation
import Testing

/// The built-in writer sizes its pages for its rows: a row that does not fit on a B-tree page
/// spills into overflow pages, each mostly empty, and the delta grows to several times its data.
@Suite struct WriterPageSizeTests {
    func write(dimension: Int, records: Int) throws -> (pageSize: Int, bytes: Int64, root: String) {
        let root = try TestSupport.temporaryDirectory()
        let embedding = (0..<dimension).map { "0.\(($0 * 7919) % 1000)" }.joined(separator: ",")
        let lines = (0..<records).map { "{\"collection\":\"c\",\"id\":\"r\($0)\",\"embedding\":[\(embedding)],\"document\":\"document \($0)\"}\n" }
        try TestSupport.write(lines.joined(), to: root + "/b.ndjson")
        _ = try DeltaWriter().write(inputs: [root + "/b.ndjson"], outputDirectory: root + "/out")
        let path = root + "/out/delta.sqlite3"
        let db = try Database(path: path, mode: .readOnly)
        let pageSize = try db.scalarInt("PRAGMA page_size")
        try db.close()
        return (Int(pageSize), try Files.size(path), root)
    }

    @Test func smallRowsKeepSQLitesDefaultPages() throws {
        let written = try write(dimension: 4, records: 50)
        defer { try? Files.removeTree(written.root) }
        #expect(written.pageSize == 4096)
    }

    @Test func a384DimensionDeltaIsNotMostlyOverflowPages() throws {
        let records = 300
        let written = try write(dimension: 384, records: records)
        defer { try? Files.removeTree(written.root) }
        #expect(written.pageSize >= 8192)
        // The embeddings are 1.5 KiB a row. On 4 KiB pages each row overflowed: about 4 KiB a row.
        let embeddings = Int64(records * 384 * 4)
        #expect(written.bytes < embeddings * 3 / 2, "\(written.bytes) bytes for \(embeddings) bytes of embeddings")
    }
}
