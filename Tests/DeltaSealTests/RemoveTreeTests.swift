import DeltaSealSystem
import Foundation
import Testing

/// `Files.removeTree` removes a whole tree descriptor-relative: every kind of entry goes, no link
/// is followed out of the tree, and what is already gone is not an error.
@Suite struct RemoveTreeTests {
    @Test func aTreeGoesWithEveryKindOfEntryAndNothingALinkPointsAtOutsideIt() throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let outside = root + "/outside"
        try Files.makeDirectories(outside + "/kept")
        try Files.writeAtomically(Array("precious".utf8), to: outside + "/kept/file", mode: 0o600)

        let tree = root + "/tree"
        try Files.makeDirectories(tree + "/a/b/c")
        try Files.writeAtomically(Array("x".utf8), to: tree + "/a/b/c/deep", mode: 0o600)
        try Files.writeAtomically(Array("sealed".utf8), to: tree + "/a/readonly", mode: 0o400)
        #expect(symlink(outside, tree + "/a/link-to-dir") == 0)
        #expect(symlink(outside + "/kept/file", tree + "/link-to-file") == 0)
        #expect(mkfifo(tree + "/a/fifo", 0o600) == 0)
        // A directory that is read-only itself, as a sealed delta's may be.
        try Files.makeDirectories(tree + "/frozen")
        try Files.writeAtomically(Array("y".utf8), to: tree + "/frozen/inside", mode: 0o400)
        #expect(chmod(tree + "/frozen", 0o500) == 0)

        try Files.removeTree(tree)
        #expect(!Files.exists(tree))
        #expect(try Files.readAll(outside + "/kept/file") == Array("precious".utf8))
    }

    @Test func aLinkGivenAsTheTreeIsRemovedAndNotWhatItPointsAt() throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        try Files.makeDirectories(root + "/target/inner")
        #expect(symlink(root + "/target", root + "/link") == 0)
        try Files.removeTree(root + "/link")
        var info = stat()
        #expect(lstat(root + "/link", &info) != 0 && errno == ENOENT)
        #expect(Files.isDirectory(root + "/target/inner"))
    }

    @Test func aFileOrAPathThatIsGoneIsNotAnError() throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        try Files.writeAtomically(Array("z".utf8), to: root + "/file", mode: 0o600)
        try Files.removeTree(root + "/file")
        #expect(!Files.exists(root + "/file"))
        try Files.removeTree(root + "/never-was")
        try Files.removeTree(root + "/never-was/below")
    }
}
