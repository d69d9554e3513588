import CCurl
import DeltaSealStore
import DeltaSealSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request as DeltaSeal sends it.
struct HTTPRequest {
    enum Body {
        case none
        case bytes([UInt8])
        /// `length` bytes of `file` from `offset`, streamed (never read whole).
        case file(PosixFile, offset: Int64, length: Int64)
    }

    var method: String
    var url: String
    var headers: [(String, String)]
    var body: Body = .none
}

/// The status, headers and (for errors and small answers) body of a response.
struct HTTPResponse {
    var status: Int
    /// Lowercased names.
    var headers: [String: String]
    var body: [UInt8]
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    /// The credentials the request was signed with (S3 requests), for messages.
    var signedWith: S3Credentials?
    /// Whether the answer came after more than one attempt.
    var retried = false
}

/// A transport failure: no HTTP status (connection refused, reset, timeout, TLS).
struct TransportError: Error, CustomStringConvertible {
    let code: CURLcode
    let message: String
    /// What had arrived before the failure: the status (0 if none), headers, and how many body
    /// bytes went to the sink.
    var status = 0
    var headers: [String: String] = [:]
    var delivered: Int64 = 0
    var isRetryable: Bool {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_OPERATION_TIMEDOUT,
             CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM,
             CURLE_SEND_FAIL_REWIND, CURLE_AGAIN:
            return true
        default:
            return false
        }
    }
    var description: String { "\(message) (curl \(code.rawValue))" }
}

/// Timeouts for every request of a store.
struct TransferLimits: Sendable {
    var connectTimeoutSeconds: Int = 10
    /// A transfer slower than 1 byte/s for this long is abandoned (a stalled server).
    var stallTimeoutSeconds: Int = 30
    /// A CA bundle to trust instead of the system's.
    var caBundle: String?
    /// The whole request may take at most this long (credential endpoints); `nil`: no limit.
    var totalTimeoutSeconds: Int?
}

/// One libcurl easy handle. It keeps its connections open between requests, so a store reuses
/// connections by reusing handles. Not thread-safe: one request at a time.
final class CurlHandle {
    private let handle: UnsafeMutableRawPointer

    /// Loads libcurl (on first use: see CCurl's shim.h) and initializes it, once; nil when that
    /// worked, else what the loader said.
    private static let loadFailure: String? = {
        var message = [CChar](repeating: 0, count: 512)
        guard dsc_load(&message, message.count) == 0 else {
            return String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let code = dsc_global_init(Int(CURL_GLOBAL_DEFAULT))
        return code == CURLE_OK ? nil : "curl_global_init failed (code \(code.rawValue))"
    }()

    /// Throws a ``StoreError`` (not retryable: the host lacks libcurl4) when libcurl cannot be loaded.
    init() throws {
        if let failure = Self.loadFailure {
            throw StoreError(.local, key: nil, "libcurl cannot be loaded, so no S3 request can be made: \(failure) (install libcurl4)",
                             retryable: false)
        }
        guard let handle = dsc_easy_init() else {
            throw StoreError(.local, key: nil, "curl_easy_init failed (out of memory?)", retryable: true)
        }
        self.handle = handle
    }

    deinit { dsc_easy_cleanup(handle) }

    /// Sends `request`. A body with a status `sinkAccepts` (2xx by default) goes to `sink` when one
    /// is given; any other body is collected (up to 1 MiB) into the response. Errors thrown by `sink` are rethrown as they are.
    /// The sink is used only during the call. Once `cancellation` is set, libcurl's progress
    /// callback (called at least once a second) stops the transfer and the call throws
    /// `CancellationError`.
    func perform(_ request: HTTPRequest, limits: TransferLimits,
                 sink: ((UnsafeRawBufferPointer) throws -> Void)?,
                 sinkAccepts: @escaping (Int, [String: String]) -> Bool = { status, _ in (200..<300).contains(status) },
                 cancellation: Cancellation = .never) throws -> HTTPResponse {
        dsc_easy_reset(handle)
        let context = TransferContext(handle: handle, body: request.body, sink: sink, sinkAccepts: sinkAccepts,
                                      cancellation: cancellation)
        let unmanaged = Unmanaged.passRetained(context)
        defer { unmanaged.release() }
        let pointer = unmanaged.toOpaque()

        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in request.headers {
            list = dsc_slist_append(list, "\(name): \(value)")
        }
        defer { dsc_slist_free_all(list) }

        dsc_setopt_string(handle, CURLOPT_URL, request.url)
        dsc_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        dsc_setopt_long(handle, CURLOPT_CONNECTTIMEOUT, limits.connectTimeoutSeconds)
        dsc_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
        dsc_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, limits.stallTimeoutSeconds)
        dsc_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        if let bundle = limits.caBundle { dsc_setopt_string(handle, CURLOPT_CAINFO, bundle) }
        if let total = limits.totalTimeoutSeconds { dsc_setopt_long(handle, CURLOPT_TIMEOUT, total) }
        dsc_setopt_list(handle, CURLOPT_HTTPHEADER, list)
        dsc_setopt_callback(handle, CURLOPT_WRITEFUNCTION, writeCallback)
        dsc_setopt_pointer(handle, CURLOPT_WRITEDATA, pointer)
        dsc_setopt_callback(handle, CURLOPT_HEADERFUNCTION, headerCallback)
        dsc_setopt_pointer(handle, CURLOPT_HEADERDATA, pointer)
        dsc_setopt_progress(handle, progressCallback, pointer)

        switch request.method {
        case "HEAD": dsc_setopt_long(handle, CURLOPT_NOBODY, 1)
        case "GET": dsc_setopt_long(handle, CURLOPT_HTTPGET, 1)
        default:
            dsc_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method)
        }
        if context.bodyLength > 0 || request.method == "PUT" || request.method == "POST" {
            dsc_setopt_long(handle, CURLOPT_UPLOAD, 1)
            dsc_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(context.bodyLength))
            dsc_setopt_callback(handle, CURLOPT_READFUNCTION, readCallback)
            dsc_setopt_pointer(handle, CURLOPT_READDATA, pointer)
            dsc_setopt_seek(handle, seekCallback)
            dsc_setopt_pointer(handle, CURLOPT_SEEKDATA, pointer)
        }

        let code = dsc_easy_perform(handle)
        if code == CURLE_ABORTED_BY_CALLBACK, cancellation.isCancelled { throw CancellationError() }
        if let error = context.sinkError { throw error }
        if let error = context.readError { throw error }
        guard code == CURLE_OK else {
            throw TransportError(code: code, message: String(cString: dsc_easy_strerror(code)),
                                 status: context.status, headers: context.headers, delivered: context.delivered)
        }
        var status = 0
        dsc_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: context.headers, body: context.collected)
    }
}

/// State shared with libcurl's callbacks for one transfer.
private final class TransferContext {
    let handle: UnsafeMutableRawPointer
    let body: HTTPRequest.Body
    let sink: ((UnsafeRawBufferPointer) throws -> Void)?
    let sinkAccepts: (Int, [String: String]) -> Bool
    let cancellation: Cancellation
    var position: Int64 = 0
    var delivered: Int64 = 0
    var headers: [String: String] = [:]
    var collected: [UInt8] = []
    var sinkError: (any Error)?
    var readError: (any Error)?

    init(handle: UnsafeMutableRawPointer, body: HTTPRequest.Body, sink: ((UnsafeRawBufferPointer) throws -> Void)?,
         sinkAccepts: @escaping (Int, [String: String]) -> Bool, cancellation: Cancellation) {
        self.handle = handle
        self.cancellation = cancellation
        self.body = body
        self.sink = sink
        self.sinkAccepts = sinkAccepts
    }

    var bodyLength: Int64 {
        switch body {
        case .none: return 0
        case .bytes(let bytes): return Int64(bytes.count)
        case .file(_, _, let length): return length
        }
    }

    var status: Int {
        var status = 0
        dsc_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return status
    }
}

private let writeCallback: dsc_data_callback = { buffer, size, count, pointer in
    let context = Unmanaged<TransferContext>.fromOpaque(pointer!).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: buffer, count: size * count)
    if let sink = context.sink, context.sinkAccepts(context.status, context.headers) {
        do { try sink(bytes) } catch {
            context.sinkError = error
            return 0
        }
        context.delivered += Int64(bytes.count)
    } else if context.collected.count < 1 << 20 {
        context.collected.append(contentsOf: bytes)
    }
    return size * count
}

private let progressCallback: dsc_progress_callback = { pointer, _, _, _, _ in
    let context = Unmanaged<TransferContext>.fromOpaque(pointer!).takeUnretainedValue()
    return context.cancellation.isCancelled ? 1 : 0
}

private let headerCallback: dsc_data_callback = { buffer, size, count, pointer in
    let context = Unmanaged<TransferContext>.fromOpaque(pointer!).takeUnretainedValue()
    let line = String(decoding: UnsafeRawBufferPointer(start: buffer, count: size * count), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        context.headers = [:]  // a new response (after 100 Continue or a redirect)
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].lowercased()
        let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
        context.headers[name] = value
    }
    return size * count
}

private let readCallback: dsc_data_callback = { buffer, size, count, pointer in
    let context = Unmanaged<TransferContext>.fromOpaque(pointer!).takeUnretainedValue()
    let wanted = Int64(size * count)
    let remaining = context.bodyLength - context.position
    let n = Int(min(wanted, remaining))
    guard n > 0 else { return 0 }
    switch context.body {
    case .none: return 0
    case .bytes(let bytes):
        bytes.withUnsafeBytes { source in
            UnsafeMutableRawPointer(buffer!).copyMemory(from: source.baseAddress! + Int(context.position), byteCount: n)
        }
    case .file(let file, let offset, _):
        let got = pread(file.fd, buffer, n, off_t(offset + context.position))
        if got <= 0 {
            context.readError = SystemError("pread", file.path, errno: got == 0 ? EIO : errno)
            return dsc_read_abort()
        }
        context.position += Int64(got)
        return got
    }
    context.position += Int64(n)
    return n
}

private let seekCallback: dsc_seek_callback = { pointer, offset, origin in
    let context = Unmanaged<TransferContext>.fromOpaque(pointer!).takeUnretainedValue()
    guard origin == SEEK_SET, offset >= 0, Int64(offset) <= context.bodyLength else { return 1 /* CURL_SEEKFUNC_FAIL */ }
    context.position = Int64(offset)
    return 0
}
