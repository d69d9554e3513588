import CDeltaSealLinux
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The last `limit` bytes a child printed: a pipe the child writes to, drained by a thread of its
/// own into a ring of `limit` bytes, and written to `path` (replacing it) when the pipe ends. The
/// file then holds the tail however much the child printed, and memory stays at `limit` plus one
/// read buffer.
public final class BoundedLog: Sendable {
    /// Where the tail is written.
    public let path: String
    /// The most bytes kept and written.
    public let limit: Int
    /// The end the child writes to; the spawner closes it in the parent once the child has it.
    public let writeEnd: Int32

    private let readEnd: Int32
    // Wakes the reader when the child is gone, so it stops waiting for an end of file a grandchild
    // holding the pipe open would never send.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let state = Mutex(State())

    private struct State {
        var started = false
        var finished = false
        var lingerNanoseconds: UInt64 = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var failure: SystemError?
        var heldOpen = false
    }

    private static let chunkSize = 16 << 10

    /// Makes the pipe; ``start()`` begins draining it.
    public init(path: String, limit: Int) throws {
        precondition(limit > 0, "a bounded log keeps at least one byte")
        self.path = path
        self.limit = limit
        var output: [Int32] = [-1, -1]
        try syscallRetrying("pipe2", path) { dsl_pipe2(&output, O_CLOEXEC) }
        var wake: [Int32] = [-1, -1]
        do {
            try syscallRetrying("pipe2", path) { dsl_pipe2(&wake, O_CLOEXEC | O_NONBLOCK) }
        } catch {
            close(output[0]); close(output[1])
            throw error
        }
        (readEnd, writeEnd, wakeRead, wakeWrite) = (output[0], output[1], wake[0], wake[1])
    }

    deinit {
        // Once started, the reader closed everything itself (it holds this object until then).
        if !state.withLock({ $0.started }) { [readEnd, writeEnd, wakeRead, wakeWrite].forEach { close($0) } }
    }

    /// Closes the parent's copy of the write end and starts the reader thread.
    public func start() {
        close(writeEnd)
        state.withLock { $0.started = true }
        NamedThread.start("ds-child-log", stackSize: 256 << 10) { self.drain() }
    }

    /// Why writing the tail failed, if it did.
    public var writeFailure: SystemError? { state.withLock { $0.failure } }

    /// After ``finish(linger:)``: the pipe had not ended `linger` after the child was gone, so
    /// another process, one the child started, still held its write end.
    public var wasHeldOpen: Bool { state.withLock { $0.heldOpen } }

    /// Tells the reader the child is gone: it reads on until the pipe ends or `linger` has passed
    /// (a grandchild may hold the pipe open), writes the tail, and then this returns.
    public func finish(linger: Duration) async {
        let (seconds, attoseconds) = linger.components
        let nanoseconds = UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
        state.withLock { state in
            guard state.started, !state.finished else { return }
            state.lingerNanoseconds = nanoseconds
            // Under the lock: the reader closes wakeWrite under it too, so this never hits a reused number.
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.finished || !state.started { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    private func drain() {
        var ring = [UInt8](repeating: 0, count: limit)
        var oldest = 0
        var count = 0
        var chunk = [UInt8](repeating: 0, count: Self.chunkSize)
        var deadline: UInt64?
        var ended = false
        reading: while true {
            if let deadline, WallClock.monotonicNanoseconds() >= deadline { break }
            var fds = [pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let timeout: Int32 = deadline.map { Int32(clamping: ($0 - min($0, WallClock.monotonicNanoseconds())) / 1_000_000 + 1) } ?? -1
            let ready = poll(&fds, deadline == nil ? 2 : 1, timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if deadline == nil, fds[1].revents != 0 {
                var byte: UInt8 = 0
                _ = read(wakeRead, &byte, 1)
                deadline = WallClock.monotonicNanoseconds() + state.withLock { $0.lingerNanoseconds }
            }
            guard fds[0].revents != 0 else { continue }
            let got = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if got == 0 { ended = true; break }
            if got < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break reading
            }
            append(chunk, got, to: &ring, oldest: &oldest, count: &count)
        }
        let failure = writeTail(ring, oldest: oldest, count: count)
        close(readEnd)
        close(wakeRead)
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            close(wakeWrite)
            state.finished = true
            state.failure = failure
            state.heldOpen = !ended && deadline != nil
            defer { state.waiters = [] }
            return state.waiters
        }
        waiting.forEach { $0.resume() }
    }

    private func append(_ chunk: [UInt8], _ length: Int, to ring: inout [UInt8], oldest: inout Int, count: inout Int) {
        // Only the last `limit` bytes of the chunk can survive.
        let kept = min(length, limit)
        var from = length - kept
        var position = (oldest + count) % limit
        ring.withUnsafeMutableBytes { ringBytes in
            chunk.withUnsafeBytes { chunkBytes in
                var remaining = kept
                while remaining > 0 {
                    let run = min(remaining, limit - position)
                    ringBytes.baseAddress!.advanced(by: position).copyMemory(from: chunkBytes.baseAddress!.advanced(by: from), byteCount: run)
                    position = (position + run) % limit
                    from += run
                    remaining -= run
                }
            }
        }
        let overflow = max(0, count + kept - limit)
        oldest = (oldest + overflow) % limit
        count = min(limit, count + kept)
    }

    private func writeTail(_ ring: [UInt8], oldest: Int, count: Int) -> SystemError? {
        do {
            let file = try PosixFile.create(path, mode: 0o600)
            let firstRun = min(count, limit - oldest)
            try ring.withUnsafeBytes { bytes in
                try file.write(UnsafeRawBufferPointer(rebasing: bytes[oldest..<(oldest + firstRun)]))
                try file.write(UnsafeRawBufferPointer(rebasing: bytes[0..<(count - firstRun)]))
            }
            try file.close()
            return nil
        } catch let error as SystemError {
            return error
        } catch {
            return SystemError("write", path, errno: EIO)
        }
    }
}
