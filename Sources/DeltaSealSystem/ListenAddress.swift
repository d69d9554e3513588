#if canImport(Glibc)
import Glibc
#endif

/// A `HOST:PORT` to listen on, resolved and proven bindable: the host may be a name
/// (`localhost:9464`), which is resolved to the numeric address the server binds.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The numeric IPv4 address.
    public var host: String
    public var port: Int
    public var description: String { "\(host):\(port)" }

    /// Why an address cannot be used; `temporary` when it is in use (another process holds it).
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var temporary: Bool
        public var description: String { message }
    }

    /// Parses and resolves `text` (`HOST:PORT`, IPv4 or a name that resolves to IPv4).
    public init(resolving text: String) throws {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw Problem(message: "\(text) is not HOST:PORT (e.g. 127.0.0.1:9464)", temporary: false)
        }
        let name = String(text[..<colon])
        guard !name.isEmpty else { throw Problem(message: "\(text) names no host (e.g. 127.0.0.1:\(port))", temporary: false) }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw Problem(message: "\(text): host \(name) does not resolve to an IPv4 address (\(String(cString: gai_strerror(status))))",
                          temporary: false)
        }
        defer { freeaddrinfo(list) }
        var numeric = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        first.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
            var raw = address.pointee.sin_addr
            _ = inet_ntop(AF_INET, &raw, &numeric, socklen_t(numeric.count))
        }
        host = String(decoding: numeric.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.port = port
    }

    /// Binds the address and closes the socket at once: what the server will do, proven now.
    public func checkBindable() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Problem(message: "socket: \(String(cString: strerror(errno)))", temporary: true) }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            let code = errno
            throw Problem(message: "cannot listen on \(self): \(String(cString: strerror(code)))", temporary: code == EADDRINUSE)
        }
    }
}
