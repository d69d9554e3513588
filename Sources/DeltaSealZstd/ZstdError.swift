import CZstd

/// A zstd failure: the library's message, or a limit this code enforces.
public struct ZstdError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "zstd: \(message)" }

    static func check(_ code: Int) throws -> Int {
        if ZSTD_isError(code) != 0 { throw ZstdError(String(cString: ZSTD_getErrorName(code))) }
        return code
    }
}
