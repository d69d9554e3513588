import ArgumentParser
import DeltaSealStore
import Foundation

/// `verifier list STORE-URL [--host H] [--since T]`: shipped deltas, read from their manifests.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the shipped deltas of a store (those with a manifest), oldest first.",
        discussion: "Uses LIST and one GET per manifest. Exit 0, or 2 if the store cannot be read (a filesystem store that does not exist included)."
    )

    @Argument(help: "The store: file:///STORE, an absolute path, or s3://BUCKET/PREFIX.")
    var store: String

    @Option(help: "Only this host's deltas.")
    var host: String?

    @Option(help: "Only deltas created at or after this: RFC 3339 (2026-11-25T00:00:00Z), a delta id, or an age (24h, 30m, 7d).")
    var since: String?

    @Flag(help: "Print JSON lines, one manifest summary per line.")
    var json = false

    @OptionGroup var s3: S3Arguments

    func validate() throws {
        if let since { _ = try SinceTime(since) }
    }

    func run() async throws {
        let entries: [ShippedDeltas.Entry]
        do {
            entries = try await ShippedDeltas(store, s3: s3).entries(host: host, since: since.map { try SinceTime($0) })
        } catch {
            FileHandle.standardError.write(Data("error: cannot list \(store): \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            for entry in entries { print(String(decoding: try encoder.encode(entry), as: UTF8.self)) }
            return
        }
        print("DELTA ID                        HOST             CREATED                   FILES  RECORDS  RAW BYTES  COMPRESSED")
        for e in entries {
            print("\(e.deltaID)  \(e.host.padding(toLength: 15, withPad: " ", startingAt: 0))  \(e.createdAt)  "
                  + "\(String(e.files).leftPad(5))  \(String(e.records).leftPad(7))  \(String(e.rawBytes).leftPad(9))  \(String(e.compressedBytes).leftPad(10))")
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
