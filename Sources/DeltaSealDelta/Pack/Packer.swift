import DeltaSealCore
import DeltaSealStore
import DeltaSealSystem
import DeltaSealZstd

/// Turns the files of a sealed delta into compressed objects and manifest entries, one streaming
/// pass per file: SHA-256 of the raw bytes, zstd (frame checksum on), SHA-256 of the compressed bytes.
public struct Packer: Sendable {
    /// zstd level.
    public var level: Int
    /// Worker threads for files at least `ZstdCompressor.threadedThreshold` bytes long, while
    /// `budget` has a threaded compressor free (else the file is compressed on this thread).
    public var workers: Int
    public var budget: CompressionBudget

    public init(level: Int = 3, workers: Int = 2, budget: CompressionBudget = .process) {
        self.level = level
        self.workers = workers
        self.budget = budget
    }

    /// The worker threads a file of `size` bytes is compressed with: `workers` when it is at
    /// least `ZstdCompressor.threadedThreshold` long and `budget` has a threaded slot free (taken:
    /// give it back with `budget.release()`), else 0 (on the calling thread).
    public func takeWorkers(forSize size: Int64) -> Int {
        workers > 0 && size >= ZstdCompressor.threadedThreshold && budget.tryTakeThreaded() ? workers : 0
    }

    /// A file to pack, with what the seal learnt about it.
    public struct Input: Sendable {
        public var path: RelativePath
        public var sqlite: Manifest.SQLiteInfo?
        public init(path: RelativePath, sqlite: Manifest.SQLiteInfo?) { self.path = path; self.sqlite = sqlite }
    }

    /// Packs `inputs` from `sourceRoot` into `outputRoot/files/<path>.zst` (fsynced) and returns
    /// their manifest entries.
    public func pack(_ inputs: [Input], from sourceRoot: String, into outputRoot: String) throws -> [Manifest.FileEntry] {
        try inputs.map { input in
            let key = ObjectLayout.objectKey(for: input.path)
            let source = sourceRoot + "/" + input.path.rawValue
            let destination = outputRoot + "/" + key
            try Files.makeDirectories(PathName.directory(of: destination), mode: 0o700)
            let reader = try PosixFile.openForReading(source)
            let size = try reader.size()
            let output = try PosixFile.create(destination, mode: 0o600)
            let threads = takeWorkers(forSize: size)
            defer { if threads > 0 { budget.release() } }
            let compressor = try ZstdCompressor(level: level, workers: threads, pledgedSize: size)
            var rawHash = SHA256Stream()
            var compressedHash = SHA256Stream()
            let sink: (UnsafeRawBufferPointer) throws -> Void = { chunk in
                compressedHash.update(chunk)
                try output.write(chunk)
            }
            try reader.forEachChunk { chunk in
                rawHash.update(chunk)
                try compressor.compress(chunk, into: sink)
            }
            try compressor.finish(into: sink)
            try output.sync()
            try output.close()
            guard rawHash.count == size else {
                throw SystemError("read", source, errno: 5 /* EIO: the sealed file changed size while packing */)
            }
            return Manifest.FileEntry(
                path: input.path.rawValue, kind: input.sqlite == nil ? .other : .sqlite,
                rawSize: rawHash.count, rawSHA256: rawHash.hex(), objectKey: key,
                compressedSize: compressedHash.count, compressedSHA256: compressedHash.hex(), sqlite: input.sqlite)
        }
    }
}
