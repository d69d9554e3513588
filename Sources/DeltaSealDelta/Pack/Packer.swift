import DeltaSealCore
import DeltaSealStore
import DeltaSealSystem
import DeltaSealZstd

/// Turns the files of a sealed delta into compressed objects and manifest entries, one streaming
/// pass per file: SHA-256 of the raw bytes, zstd (frame checksum on), SHA-256 of the compressed bytes.
public struct Packer: Sendable {
    /// zstd level.
    public var level: Int
    /// Worker threads for files at least `ZstdCompressor.threadedThreshold` bytes long (smaller
    /// ones are compressed on the calling thread).
    public var workers: Int

    public init(level: Int = 3, workers: Int = 2) {
        self.level = level
        self.workers = workers
    }

    /// A file to pack, with what the seal learnt about it.
    public struct Input: Sendable {
        public var path: RelativePath
        public var sqlite: Manifest.SQLiteInfo?
        /// Its size when it was sealed (the pack fails if it reads another).
        public var size: Int64
        public init(path: RelativePath, sqlite: Manifest.SQLiteInfo?, size: Int64) {
            self.path = path
            self.sqlite = sqlite
            self.size = size
        }
    }

    /// How a file is compressed, and the memory that takes.
    public struct Plan: Sendable, Equatable {
        /// zstd worker threads; 0: on the calling thread.
        public var workers: Int
        /// What the compressor and the pack's buffers allocate, at most (a ``CompressionBudget`` share).
        public var memory: Int
    }

    /// The plan for a file of `size` bytes.
    public func plan(forSize size: Int64) -> Plan {
        let threads = workers > 0 && size >= ZstdCompressor.threadedThreshold ? workers : 0
        let buffers = Self.chunkSize(forSize: size) + ZstdCompressor.outputBufferSize
        return Plan(workers: threads, memory: ZstdCompressor.memoryEstimate(level: level, workers: threads, size: size) + buffers)
    }

    /// The read buffer for a file of `size` bytes: 1 MiB, less for a smaller file.
    static func chunkSize(forSize size: Int64) -> Int { Int(min(max(size, 4096), 1 << 20)) }

    /// Packs `inputs` one after another, each taking its plan's share of `budget` first (waiting
    /// for it without holding a thread) and compressing on the blocking executor.
    public func pack(_ inputs: [Input], from sourceRoot: String, into outputRoot: String,
                     budget: CompressionBudget) async throws -> [Manifest.FileEntry] {
        var entries: [Manifest.FileEntry] = []
        for input in inputs {
            let plan = plan(forSize: input.size)
            let taken = try await budget.take(plan.memory)
            defer { budget.release(taken) }
            entries.append(try await Blocking.run { [self] in
                try pack(input, workers: plan.workers, from: sourceRoot, into: outputRoot)
            })
        }
        return entries
    }

    /// Packs `inputs` from `sourceRoot` into `outputRoot/files/<path>.zst` (fsynced) on this
    /// thread, as planned, with no budget, and returns their manifest entries.
    public func pack(_ inputs: [Input], from sourceRoot: String, into outputRoot: String) throws -> [Manifest.FileEntry] {
        try inputs.map { try pack($0, workers: plan(forSize: $0.size).workers, from: sourceRoot, into: outputRoot) }
    }

    /// Packs one file with `workers` zstd threads.
    func pack(_ input: Input, workers threads: Int, from sourceRoot: String, into outputRoot: String) throws -> Manifest.FileEntry {
        let key = ObjectLayout.objectKey(for: input.path)
        let source = sourceRoot + "/" + input.path.rawValue
        let destination = outputRoot + "/" + key
        try Files.makeDirectories(PathName.directory(of: destination), mode: 0o700)
        let reader = try PosixFile.openForReading(source)
        let size = try reader.size()
        guard size == input.size else {
            // Compressed as planned or not at all: the budget's share was sized by the seal's size.
            throw SystemError("pack (sealed at \(input.size) bytes, now \(size))", source, errno: 5 /* EIO */)
        }
        let output = try PosixFile.create(destination, mode: 0o600)
        let compressor = try ZstdCompressor(level: level, workers: threads, pledgedSize: size)
        var rawHash = SHA256Stream()
        var compressedHash = SHA256Stream()
        let sink: (UnsafeRawBufferPointer) throws -> Void = { chunk in
            compressedHash.update(chunk)
            try output.write(chunk)
        }
        try reader.forEachChunk(chunkSize: Self.chunkSize(forSize: size)) { chunk in
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
