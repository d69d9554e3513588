import DeltaSealCore
import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// The filesystem store: objects are files under a root directory (local disk or NFS).
///
/// Every object appears whole: it is written under a temporary name in its final directory,
/// checked against its checksum, fsynced and renamed, and the directory is fsynced.
public struct FileStore: ObjectStore {
    public let location: StoreURL
    private var root: String { location.root }
    private let observer: (any RequestObserver)?

    /// A store rooted at `location` (scheme `file`) that tells `observer` of each operation. The
    /// root is created on first write.
    public init(location: StoreURL, observer: (any RequestObserver)? = nil) {
        precondition(location.scheme == .file)
        self.location = location
        self.observer = observer
    }

    public func session(observer: (any RequestObserver)?) -> any ObjectStore { FileStore(location: location, observer: observer) }

    /// Reports an operation as the S3 verb it stands for, so both stores count alike; a file
    /// operation has no status to tell.
    private func count(_ verb: String) {
        observer?.requestSent(verb)
        observer?.requestAnswered(verb, status: "unknown")
    }

    /// Temporary files carry this marker; `list` hides them.
    static let temporaryMarker = ".tmp-"

    private func path(for key: String) throws -> String {
        guard let relative = RelativePath(key), !relative.components.contains(where: { $0.hasPrefix(".") && $0.contains(Self.temporaryMarker) }) else {
            throw StoreError(.invalidRequest, key: key, "not a valid object key")
        }
        return root + "/" + relative.rawValue
    }

    private func temporaryPath(for path: String) -> String {
        let directory = PathName.directory(of: path)
        let name = PathName.lastComponent(of: path)
        return "\(directory)/.\(name)\(Self.temporaryMarker)\(getpid())-\(UInt32.random(in: 0 ... .max))"
    }

    private func mapLocal<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as PosixFile.NotRegularFile {
            throw StoreError(.invalidObject, key: key, "the store holds a \(error.kind) here, not an object")
        } catch let error as SystemError {
            switch error.errno {
            case ENOENT: throw StoreError(.notFound, key: key, error.description)
            case ENAMETOOLONG: throw StoreError(.invalidRequest, key: key, error.description)
            case EACCES, EPERM, EROFS: throw StoreError(.accessDenied, key: key, error.description)
            default: throw StoreError(error.isRetryable ? .transient : .local, key: key, error.description, retryable: error.isRetryable)
            }
        }
    }

    // MARK: - ObjectStore: each call is one job on the blocking executor.

    public func put(key: String, file path: String, sha256: String) async throws {
        try await Blocking.runCancellable { cancellation in try putFile(key: key, source: path, sha256: sha256, cancellation) }
    }

    public func put(key: String, bytes: [UInt8], ifAbsent: Bool) async throws {
        try await Blocking.runCancellable { cancellation in
            try cancellation.check()
            try putBytes(key: key, bytes: bytes, ifAbsent: ifAbsent)
        }
    }

    public func get(key: String, into sink: @escaping (UnsafeRawBufferPointer) throws -> Void) async throws {
        try await Blocking.stream(into: sink) { cancellation, sink in try read(key: key, into: sink, cancellation) }
    }

    public func head(key: String) async throws -> ObjectInfo? {
        try await Blocking.run {
            count("HEAD")
            return try info(key: key)
        }
    }

    public func delete(keys: [String]) async throws {
        try await Blocking.run { try remove(keys: keys) }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await Blocking.runCancellable { cancellation in try objects(prefix: prefix, cancellation) }
    }

    // MARK: - The blocking work

    private func putFile(key: String, source: String, sha256: String, _ cancellation: Cancellation) throws {
        count("PUT")
        let destination = try path(for: key)
        try mapLocal(key) {
            try Files.makeDirectories(PathName.directory(of: destination))
            let temporary = temporaryPath(for: destination)
            do {
                let input = try PosixFile.openForReading(source)
                let output = try PosixFile.create(temporary, mode: 0o644, exclusive: true)
                var hash = SHA256Stream()
                try input.forEachChunk { chunk in
                    try cancellation.check()
                    hash.update(chunk)
                    try output.write(chunk)
                }
                guard hash.hex() == sha256 else {
                    throw StoreError(.checksumMismatch, key: key, "received bytes hash to \(hash.hex()), expected \(sha256)")
                }
                try output.sync()
                try output.close()
                try Files.rename(temporary, destination)
            } catch {
                unlink(temporary)
                throw error
            }
            try Files.syncDirectory(PathName.directory(of: destination))
        }
    }

    private func putBytes(key: String, bytes: [UInt8], ifAbsent: Bool) throws {
        count("PUT")
        let destination = try path(for: key)
        try mapLocal(key) {
            let directory = PathName.directory(of: destination)
            try Files.makeDirectories(directory)
            let temporary = temporaryPath(for: destination)
            do {
                let output = try PosixFile.create(temporary, mode: 0o644, exclusive: true)
                try output.write(bytes)
                try output.sync()
                try output.close()
                if ifAbsent {
                    // link() fails with EEXIST instead of replacing: create-if-absent, atomically.
                    if link(temporary, destination) == -1 {
                        let code = errno
                        if code == EEXIST { throw StoreError(.alreadyExists, key: key, "object exists") }
                        throw SystemError("link", destination, errno: code)
                    }
                    unlink(temporary)
                } else {
                    try Files.rename(temporary, destination)
                }
            } catch {
                unlink(temporary)
                throw error
            }
            try Files.syncDirectory(directory)
        }
    }

    private func read(key: String, into sink: (UnsafeRawBufferPointer) throws -> Void, _ cancellation: Cancellation) throws {
        count("GET")
        let relative = try path(for: key).dropFirst(root.count + 1)
        // Never follow a link out of the store, never block on a FIFO, only regular files.
        let file = try mapLocal(key) { try PosixFile.openRegular(beneath: root, relative: String(relative)) }
        try mapLocal(key) {
            try file.forEachChunk { chunk in
                try cancellation.check()
                try sink(chunk)
            }
        }
    }

    private func info(key: String) throws -> ObjectInfo? {
        let source = try path(for: key)
        var st = stat()
        if stat(source, &st) == -1 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw StoreError(.local, key: key, SystemError("stat", source, errno: errno).description)
        }
        return ObjectInfo(key: key, size: Int64(st.st_size), modifiedMs: Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000)
    }

    private func remove(keys: [String]) throws {
        count("DELETE")
        var directories = Set<String>()
        for key in keys {
            let target = try path(for: key)
            if unlink(target) == -1 && errno != ENOENT && errno != ENOTDIR {
                throw StoreError(.local, key: key, SystemError("unlink", target, errno: errno).description)
            }
            directories.insert(PathName.directory(of: target))
        }
        // Remove directories left empty, up to the root, so deleted deltas leave nothing behind.
        for directory in directories.sorted(by: { $0.count > $1.count }) {
            var current = directory
            while current.count > root.count, current.hasPrefix(root + "/"), rmdir(current) == 0 {
                current = PathName.directory(of: current)
            }
        }
    }

    private func objects(prefix: String, _ cancellation: Cancellation) throws -> [ObjectInfo] {
        count("LIST")
        guard Files.isDirectory(root) else { return [] }
        let walked = try mapLocal(prefix) { try Files.walk(root) }
        try cancellation.check()
        return try walked.files
            .filter { $0.hasPrefix(prefix) && !$0.split(separator: "/").contains(where: { $0.hasPrefix(".") && $0.contains(Self.temporaryMarker) }) }
            .compactMap { try info(key: $0) }
    }
}

