import DeltaSealSupervisor
import DeltaSealSystem
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// `/metrics` (Prometheus), `/healthz` and `/readyz` over HTTP/1.1: a Hummingbird application,
/// run as a service of the daemon's group. SwiftNIO serves every connection on its own, so an
/// idle or slow client never delays a health probe.
struct EndpointService: Service {
    /// Resolved by the preflight, which refused one that is malformed or does not resolve.
    let address: ListenAddress
    let registry: PrometheusCollectorRegistry
    let health: SupervisorHealth
    /// How long the health timer may go without running before `/healthz` fails.
    let maxSilenceMs: Int64
    /// The daemon's logger, for this service's own start and failure.
    let logger: Logger
    /// Hummingbird's: it logs its start, and each connection's trouble, at info and below, and
    /// the daemon's log is about deltas. Its own level (the daemon's is shared by every copy of
    /// `logger`, so setting a copy's level would change the daemon's).
    let serverLogger: Logger

    /// The server stopped without being asked to: the group must not take it for a service
    /// that finished its work (that would end a drain in progress).
    struct Stopped: Error, CustomStringConvertible {
        var description: String { "the HTTP server stopped by itself" }
    }

    func run() async throws {
        let application = Application(
            responder: CallbackResponder<BasicRequestContext> { request, _ in respond(to: request) },
            // A client that connects and then says nothing would hold a descriptor for good.
            server: .http1(configuration: .init(idleTimeout: .seconds(30))),
            configuration: .init(address: .hostname(address.host, port: address.port)),
            onServerRunning: { [address, logger] channel in
                var bound = address
                bound.port = channel.localAddress?.port ?? address.port
                logger.info("serving /metrics, /healthz and /readyz", metadata: ["address": "\(bound)"])
            },
            logger: serverLogger)
        do {
            try await application.run()
        } catch let error where !Task.isCancelled {
            // In use by another process, typically: shipping data matters more than being
            // scraped, so the group ignores this failure.
            logger.error("cannot serve metrics; running without them", metadata: ["address": "\(address)", "error": "\(error)"])
            throw error
        }
        if !Task.isShuttingDownGracefully && !Task.isCancelled {
            logger.error("metrics endpoints stopped; running without them", metadata: ["address": "\(address)"])
            throw Stopped()
        }
    }

    /// Today's answers, whatever the framework: GET or HEAD; plain-text bodies ending in a newline.
    private func respond(to request: Request) -> Response {
        guard request.method == .get || request.method == .head else { return text(.methodNotAllowed, "only GET\n") }
        let response: Response
        switch request.uri.path {
        case "/metrics":
            let body = ByteBuffer(bytes: SupervisorMetrics.withHelp(registry.emitToBuffer()))
            response = Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: .init(byteBuffer: body))
        case "/healthz":
            if let problem = health.unhealthy(maxSilenceMs: maxSilenceMs) {
                response = text(.serviceUnavailable, "\(problem)\n")
            } else {
                response = text(.ok, "ok\n")
            }
        case "/readyz":
            if let reason = health.notReady {
                response = text(.serviceUnavailable, "\(reason)\n")
            } else {
                response = text(.ok, "ready\n")
            }
        default:
            response = text(.notFound, "try /metrics, /healthz or /readyz\n")
        }
        return request.method == .head ? response.createHeadResponse() : response
    }

    private func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
