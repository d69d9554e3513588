import ArgumentParser
import DeltaSealCore
import DeltaSealPack
import DeltaSealS3
import DeltaSealStore
import Foundation

/// `verifier list STORE-URL [--host H] [--since T]`: shipped deltas, read from their manifests.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the shipped deltas of a store (those with a manifest), oldest first.",
        discussion: "Uses LIST and one GET per manifest. Exit 0, or 2 if the store cannot be read."
    )

    @Argument(help: "The store: file:///STORE or s3://BUCKET/PREFIX.")
    var store: String

    @Option(help: "Only this host's deltas.")
    var host: String?

    @Option(help: "Only deltas created at or after this time (RFC 3339, e.g. 2026-11-25T00:00:00Z).")
    var since: String?

    @Flag(help: "Print JSON lines, one manifest summary per line.")
    var json = false

    @OptionGroup var s3: S3Arguments

    struct Entry: Codable {
        var deltaID: String
        var host: String
        var createdAt: String
        var files: Int
        var records: Int
        var rawBytes: Int64
        var compressedBytes: Int64
        var url: String
        enum CodingKeys: String, CodingKey {
            case deltaID = "delta_id", host, createdAt = "created_at", files, records
            case rawBytes = "raw_bytes", compressedBytes = "compressed_bytes", url
        }
    }

    func run() throws {
        let entries: [Entry]
        do {
            let location = try StoreURL(parsing: store, workingDirectory: FileManager.default.currentDirectoryPath)
            let objects = try StoreOpener.open(location, s3: s3.options(), environment: ProcessInfo.processInfo.environment)
            let manifests = try objects.list(prefix: host.map { $0 + "/" } ?? "")
                .filter { $0.key.hasSuffix("/" + ObjectLayout.manifestKey) && $0.key.split(separator: "/").count == 3 }
            entries = try manifests.compactMap { object -> Entry? in
                let manifest = try StableJSON.decode(Manifest.self, from: objects.getBytes(key: object.key))
                if let since, manifest.createdAt < normalized(since) { return nil }
                let deltaLocation = String(object.key.dropLast(ObjectLayout.manifestKey.count + 1))
                return Entry(deltaID: manifest.deltaID.rawValue, host: manifest.host, createdAt: manifest.createdAt,
                             files: manifest.files.count, records: manifest.recordCount, rawBytes: manifest.rawBytes,
                             compressedBytes: manifest.compressedBytes, url: location.appending(deltaLocation).description)
            }.sorted { $0.deltaID < $1.deltaID }
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

    /// Manifests carry milliseconds (`...:09.123Z`); a bare `...:09Z` compares as its start.
    private func normalized(_ text: String) -> String {
        text.hasSuffix("Z") && !text.contains(".") ? String(text.dropLast()) + ".000Z" : text
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
