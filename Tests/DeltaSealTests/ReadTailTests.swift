import DeltaSealSystem
import Foundation
import Testing

/// `Files.readTail` returns a file's last bytes, reading only them: all of a short file, none of
/// an empty one, and an error for a path that is not there.
@Suite struct ReadTailTests {
    @Test func theLastBytesOfALongFileAllOfAShortOneNoneOfAnEmptyOne() throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let long = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Files.writeAtomically(long, to: root + "/long", mode: 0o600)
        #expect(try Files.readTail(root + "/long", bytes: 1000) == Array(long.suffix(1000)))
        #expect(try Files.readTail(root + "/long", bytes: long.count) == long)
        try Files.writeAtomically(Array("short".utf8), to: root + "/short", mode: 0o600)
        #expect(try Files.readTail(root + "/short", bytes: 1000) == Array("short".utf8))
        try Files.writeAtomically([], to: root + "/empty", mode: 0o600)
        #expect(try Files.readTail(root + "/empty", bytes: 1000) == [])
        #expect(throws: SystemError.self) { try Files.readTail(root + "/missing", bytes: 10) }
    }
}
