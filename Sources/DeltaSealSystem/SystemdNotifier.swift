#if canImport(Glibc)
import Glibc
#endif

/// systemd's notification protocol (`sd_notify`): datagrams such as `READY=1`, `STATUS=…`,
/// `STOPPING=1`, `WATCHDOG=1` to the unix socket named by `$NOTIFY_SOCKET` (a path, or an
/// abstract name starting with `@`). Without that variable every call does nothing.
public struct SystemdNotifier: Sendable {
    private let socketPath: String?
    /// The watchdog interval systemd asked for (`WATCHDOG_USEC`), if any.
    public let watchdogMicroseconds: UInt64?

    /// From the environment, as systemd sets it for a `Type=notify` service.
    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let pid = environment["WATCHDOG_PID"].flatMap(Int32.init)
        watchdogMicroseconds = (pid == nil || pid == getpid()) ? environment["WATCHDOG_USEC"].flatMap(UInt64.init) : nil
    }

    /// Whether systemd listens.
    public var isActive: Bool { socketPath != nil }

    /// Sends `state` (newline-separated `KEY=VALUE` lines); failures are ignored, as sd_notify's are.
    public func notify(_ state: String) {
        guard let socketPath else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // the abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (n, byte) in path.enumerated() { raw[n] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(state.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
    }
}
