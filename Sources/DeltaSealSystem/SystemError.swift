#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: which one, on what, and the errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The call, e.g. `open`.
    public let operation: String
    /// The path or object it acted on.
    public let subject: String
    /// The errno value.
    public let errno: Int32

    public init(_ operation: String, _ subject: String, errno: Int32) {
        self.operation = operation
        self.subject = subject
        self.errno = errno
    }

    /// Whether trying again may help: interrupted or exhausted resources, not bad paths or permissions.
    public var isRetryable: Bool {
        [EAGAIN, EINTR, EMFILE, ENFILE, ENOMEM, ENOSPC, EIO, EBUSY, ETIMEDOUT].contains(errno)
    }

    public var description: String {
        "\(operation) \(subject): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs a system call, retrying on EINTR, throwing ``SystemError`` on -1.
@discardableResult
public func syscallRetrying<T: FixedWidthInteger>(_ operation: String, _ subject: String, _ body: () -> T) throws -> T {
    while true {
        let result = body()
        if result == -1 {
            let code = Glibc.errno
            if code == EINTR { continue }
            throw SystemError(operation, subject, errno: code)
        }
        return result
    }
}
