import DeltaSealCore
import DeltaSealDelta
import DeltaSealS3
import DeltaSealStore
import DeltaSealStoreOpener
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The shipped deltas of a store (those with a manifest), read the way `list`, `check` over a
/// range and `restore --latest` all need them: LIST, then one GET per manifest.
struct ShippedDeltas {
    /// One shipped delta, as its manifest describes it.
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

    /// The store's location.
    let location: StoreURL
    let store: any ObjectStore

    /// Opens the store `text` names; a filesystem store that does not exist is an error here,
    /// not an empty listing.
    init(_ text: String, s3: S3Arguments) throws {
        location = try StoreURL(parsing: text, paths: LocalPath(workingDirectory: FileManager.default.currentDirectoryPath,
                                                                 home: ProcessInfo.processInfo.environment["HOME"],
                                                                 allowRelative: isatty(0) == 1))
        if location.scheme == .file {
            var info = stat()
            guard stat(location.root, &info) == 0 else {
                throw StoreError(.notFound, key: nil, "\(location.root): \(String(cString: strerror(errno)))")
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else { throw StoreError(.invalidRequest, key: nil, "\(location.root) is not a directory") }
            guard access(location.root, R_OK | X_OK) == 0 else {
                throw StoreError(.local, key: nil, "\(location.root): \(String(cString: strerror(errno)))")
            }
        }
        store = try StoreOpener.open(location, s3: s3.options(), environment: ProcessInfo.processInfo.environment,
                                     credentials: try s3.credentials())
    }

    /// The deltas of `host` (all hosts: nil) created at or after `since`, oldest first.
    func entries(host: String?, since: SinceTime?) async throws -> [Entry] {
        let manifests = try await store.list(prefix: host.map { $0 + "/" } ?? "")
            .filter { $0.key.hasSuffix("/" + ObjectLayout.manifestKey) && $0.key.split(separator: "/").count == 3 }
        var entries: [Entry] = []
        for object in manifests {
            let manifest = try StableJSON.decode(Manifest.self, from: await store.getBytes(key: object.key))
            if let since, normalized(manifest.createdAt) < since.createdAt { continue }
            let deltaLocation = String(object.key.dropLast(ObjectLayout.manifestKey.count + 1))
            entries.append(Entry(deltaID: manifest.deltaID.rawValue, host: manifest.host, createdAt: manifest.createdAt,
                                 files: manifest.files.count, records: manifest.recordCount, rawBytes: manifest.rawBytes,
                                 compressedBytes: manifest.compressedBytes, url: location.appending(deltaLocation).description))
        }
        return entries.sorted { ($0.deltaID, $0.host) < ($1.deltaID, $1.host) }
    }

    /// Manifests carry milliseconds (`...:09.123Z`); a bare `...:09Z` compares as its start.
    private func normalized(_ text: String) -> String {
        text.hasSuffix("Z") && !text.contains(".") ? String(text.dropLast()) + ".000Z" : text
    }
}
