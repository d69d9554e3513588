#if canImport(Glibc)
import Glibc
#endif

/// A `HOST:PORT` to listen on, resolved and proven bindable: the host may be a name
/// (`localhost:9464`), an IPv4 address, an IPv6 address in brackets (`[::1]:9464`), or nothing
/// (`:9464`: every interface, IPv4 and IPv6).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The numeric address the server binds: IPv4 (`127.0.0.1`) or IPv6 (`::1`, no brackets);
    /// `::` for every interface (`0.0.0.0` on a host without IPv6).
    public var host: String
    public var port: Int
    /// Whether `host` is an IPv6 address.
    public var isIPv6: Bool { host.contains(":") }
    public var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Why an address cannot be used; `temporary` when it is in use (another process holds it).
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var temporary: Bool
        public var description: String { message }
    }

    /// The parts of `text` before any resolution: the host as written (brackets removed; empty
    /// for every interface), whether it was in brackets, and the port. Throws on bad syntax.
    public static func split(_ text: String) throws -> (host: String, bracketed: Bool, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw Problem(message: "\(text) is not HOST:PORT (e.g. 127.0.0.1:9464, [::1]:9464, or :9464 for every interface)", temporary: false)
        }
        let name = text[..<colon]
        if name.hasPrefix("["), name.hasSuffix("]"), name.count > 2 { return (String(name.dropFirst().dropLast()), true, port) }
        // Without brackets the port cannot be told from an IPv6 address's last group.
        guard !name.contains(":"), !name.contains("["), !name.contains("]") else {
            throw Problem(message: "\(text): an IPv6 address goes in brackets (e.g. [::1]:\(port))", temporary: false)
        }
        return (String(name), false, port)
    }

    /// Parses and resolves `text`: `HOST:PORT`, `[IPV6]:PORT` or `:PORT`. A name resolves to its
    /// IPv4 address if it has one (`localhost` is 127.0.0.1 whatever the resolver prefers), else
    /// to its IPv6 address.
    public init(resolving text: String) throws {
        let (name, bracketed, port) = try Self.split(text)
        self.port = port
        if bracketed {
            guard let numeric = Self.resolve(name, family: AF_INET6, flags: AI_NUMERICHOST) else {
                throw Problem(message: "\(text): \(name) is not an IPv6 address", temporary: false)
            }
            host = numeric
        } else if name.isEmpty {
            host = Self.everyInterface
        } else {
            var status: Int32 = 0
            guard let numeric = Self.resolve(name, family: AF_INET, flags: 0, status: &status)
                    ?? Self.resolve(name, family: AF_INET6, flags: 0) else {
                throw Problem(message: "\(text): host \(name) does not resolve (\(String(cString: gai_strerror(status))))", temporary: false)
            }
            host = numeric
        }
    }

    /// Binds the address and closes the socket at once: what the server will do, proven now.
    public func checkBindable() throws {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else {
            throw Problem(message: "cannot listen on \(self): not a numeric address", temporary: false)
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Problem(message: "socket: \(String(cString: strerror(errno)))", temporary: true) }
        defer { close(fd) }
        // As the server does (SwiftNIO with SO_REUSEADDR, IPV6_V6ONLY left to the system: off
        // by default on Linux, so `::` takes IPv4 too).
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        if bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            let code = errno
            throw Problem(message: "cannot listen on \(self): \(String(cString: strerror(code)))", temporary: code == EADDRINUSE)
        }
    }

    /// `::` where the kernel has IPv6 (dual-stack: it takes IPv4 connections too), else `0.0.0.0`.
    static var everyInterface: String {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return "0.0.0.0" }
        close(fd)
        return "::"
    }

    /// The numeric form of the first address `name` resolves to in `family`, or nil.
    private static func resolve(_ name: String, family: Int32, flags: Int32) -> String? {
        var status: Int32 = 0
        return resolve(name, family: family, flags: flags, status: &status)
    }

    private static func resolve(_ name: String, family: Int32, flags: Int32, status: inout Int32) -> String? {
        var hints = addrinfo()
        hints.ai_family = family
        hints.ai_flags = flags
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        var numeric = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &numeric, socklen_t(numeric.count), nil, 0, NI_NUMERICHOST) == 0 else {
            return nil
        }
        return String(decoding: numeric.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
