import Crypto
import DeltaSealCore
import DeltaSealStore
import DeltaSealSystem
import Foundation
import Synchronization

/// The S3 store: objects under `s3://bucket/prefix`, over libcurl, signed with SigV4.
///
/// Every PUT carries `x-amz-checksum-sha256`, so the server refuses bytes that changed on the way;
/// bodies stream from files; large objects go up in parallel parts, and a failed multipart upload
/// is aborted. Connections are kept open and reused by the store's pool of curl handles.
///
/// Each request is tried up to `options.maxAttempts` times on throttling, 5xx, connection
/// failures and truncated bodies (``RequestRetry``); a GET that broke off resumes where it stopped.
/// Every request is signed with the provider's current credentials, and an `ExpiredToken` answer
/// makes the provider fetch new ones before the request is tried once more.
public final class S3Store: ObjectStore, @unchecked Sendable {
    // Safe: every stored property is a constant; the one shared mutable thing, the pool of curl
    // handles, is behind its lock, and a handle is used by one request at a time.
    public let location: StoreURL
    let options: S3Options
    /// Where the signing credentials come from.
    public let credentials: any CredentialProvider
    let region: String
    private let endpoint: Endpoint
    private let limits: TransferLimits
    private let pool = HandlePool()
    /// Told of every request sent, every status and every retry.
    private let observer: (any RequestObserver)?

    /// Opens a store at `location` (scheme `s3`) with fixed `credentials`.
    public convenience init(location: StoreURL, options: S3Options, credentials: S3Credentials, environment: [String: String],
                            observer: (any RequestObserver)? = nil) throws {
        try self.init(location: location, options: options, provider: StaticCredentials(credentials), environment: environment,
                      observer: observer)
    }

    /// Opens a store at `location` (scheme `s3`) that signs with what `provider` gives and tells
    /// `observer` of each request.
    public init(location: StoreURL, options: S3Options, provider: any CredentialProvider, environment: [String: String],
                observer: (any RequestObserver)? = nil) throws {
        precondition(location.scheme == .s3)
        self.location = location
        self.options = options
        self.observer = observer
        let region = options.region ?? "us-east-1"
        self.region = region
        credentials = provider
        endpoint = try Endpoint(options.endpoint ?? "https://s3.\(region).amazonaws.com", bucket: location.root,
                                addressing: options.addressing, isAWS: options.endpoint == nil)
        limits = TransferLimits(connectTimeoutSeconds: options.connectTimeoutSeconds,
                                stallTimeoutSeconds: options.stallTimeoutWholeSeconds, caBundle: environment["AWS_CA_BUNDLE"])
    }

    private init(copying other: S3Store, observer: (any RequestObserver)?) {
        self.observer = observer
        location = other.location
        options = other.options
        credentials = other.credentials
        region = other.region
        endpoint = other.endpoint
        limits = other.limits
    }

    /// A store with its own connections, reporting to `observer` (one per delta).
    public func session(observer: (any RequestObserver)?) -> any ObjectStore { S3Store(copying: self, observer: observer) }

    // MARK: - ObjectStore: each request runs on the blocking executor; a cancelled task's
    // transfer is stopped by libcurl's progress callback and the call throws `CancellationError`.

    public func put(key: String, file path: String, sha256: String) async throws {
        let (file, size) = try await Blocking.run { [self] in
            let file = try local(key) { try PosixFile.openForReading(path) }
            return (file, try local(key) { try file.size() })
        }
        if size >= options.multipartThreshold {
            try await putMultipart(key: key, file: file, size: size, sha256: sha256)
            return
        }
        try await Blocking.runCancellable { [self] cancellation in
            let checksum = try base64Digest(hex: sha256, key: key)
            let response = try send("PUT", key: key, headers: [("x-amz-checksum-sha256", checksum)],
                                    body: .file(file, offset: 0, length: size), payloadHash: sha256, cancellation: cancellation)
            try expectSuccess(response, key: key)
        }
    }

    public func put(key: String, bytes: [UInt8], ifAbsent: Bool) async throws {
        let response = try await Blocking.runCancellable { [self] cancellation in
            let digest = SHA256.hash(data: bytes)
            var headers = [("x-amz-checksum-sha256", Data(digest).base64EncodedString())]
            if ifAbsent { headers.append(("If-None-Match", "*")) }
            return try send("PUT", key: key, headers: headers, body: .bytes(bytes), payloadHash: Hex.encode(digest),
                            cancellation: cancellation)
        }
        if response.status == 412 {
            // After a retry the object may be this very PUT's, whose answer was lost on the way.
            if response.retried, ifAbsent, (try? await getBytes(key: key, limit: bytes.count)) == bytes { return }
            throw StoreError(.alreadyExists, key: key, "object exists (If-None-Match: *)")
        }
        try expectSuccess(response, key: key)
    }

    public func get(key: String, into sink: @escaping (UnsafeRawBufferPointer) throws -> Void) async throws {
        try await Blocking.stream(into: sink) { [self] cancellation, sink in
            let response = try send("GET", key: key, sink: sink, cancellation: cancellation)
            try expectSuccess(response, key: key)
        }
    }

    public func head(key: String) async throws -> ObjectInfo? {
        try await Blocking.runCancellable { [self] cancellation in
            let response = try send("HEAD", key: key, cancellation: cancellation)
            if response.status == 404 { return nil }
            try expectSuccess(response, key: key)
            let size = Int64(response.headers["content-length"] ?? "") ?? 0
            let modified = response.headers["last-modified"].flatMap(HTTPDate.parse)
            return ObjectInfo(key: key, size: size, modifiedMs: modified)
        }
    }

    public func delete(keys: [String]) async throws {
        try await Blocking.runCancellable { [self] cancellation in try remove(keys: keys, cancellation) }
    }

    public func list(prefix: String) async throws -> [ObjectInfo] {
        try await Blocking.runCancellable { [self] cancellation in try objects(prefix: prefix, cancellation) }
    }

    /// Multipart uploads in progress under `prefix` (relative), for garbage collection.
    public func listPendingUploads(prefix: String) async throws -> [PendingUpload] {
        try await Blocking.runCancellable { [self] cancellation in
            let base = location.prefix.isEmpty ? "" : location.prefix + "/"
            let response = try send("GET", key: nil, query: [("uploads", ""), ("prefix", base + prefix)], verb: "LIST",
                                    cancellation: cancellation)
            try expectSuccess(response, key: prefix)
            return XMLText.blocks("Upload", in: response.bodyText).compactMap { block in
                guard let key = XMLText.value(of: "Key", in: block), key.hasPrefix(base),
                      let id = XMLText.value(of: "UploadId", in: block) else { return nil }
                return PendingUpload(key: String(key.dropFirst(base.count)), id: id,
                                     initiatedMs: XMLText.value(of: "Initiated", in: block).flatMap(ISODate.parse))
            }
        }
    }

    /// Aborts one multipart upload.
    public func abortPendingUpload(_ upload: PendingUpload) async throws {
        try await Blocking.runCancellable { [self] cancellation in
            let response = try send("DELETE", key: upload.key, query: [("uploadId", upload.id)], cancellation: cancellation)
            if response.status == 404 { return }
            try expectSuccess(response, key: upload.key)
        }
    }

    // MARK: - The blocking requests

    private func remove(keys: [String], _ cancellation: Cancellation) throws {
        if keys.count == 1 {
            let response = try send("DELETE", key: keys[0], cancellation: cancellation)
            if response.status == 404 { return }
            try expectSuccess(response, key: keys[0])
            return
        }
        for chunk in stride(from: 0, to: keys.count, by: 1000).map({ Array(keys[$0..<min($0 + 1000, keys.count)]) }) {
            let xml = "<Delete><Quiet>true</Quiet>" + chunk.map { "<Object><Key>\(XMLText.escape(fullKey($0)))</Key></Object>" }.joined() + "</Delete>"
            let body = Array(xml.utf8)
            let md5 = Data(Insecure.MD5.hash(data: body)).base64EncodedString()
            let response = try send("POST", key: nil, query: [("delete", "")], headers: [("Content-MD5", md5)],
                                    body: .bytes(body), payloadHash: Hex.encode(SHA256.hash(data: body)), cancellation: cancellation)
            try expectSuccess(response, key: chunk.first)
            let errors = XMLText.blocks("Error", in: response.bodyText)
            if let first = errors.first {
                let code = XMLText.value(of: "Code", in: first) ?? "?"
                throw classify(status: code == "AccessDenied" ? 403 : 500, code: code,
                               message: "\(errors.count) of \(chunk.count) deletes failed, first: \(XMLText.value(of: "Key", in: first) ?? "?"): \(code)",
                               key: chunk.first, credentials: response.signedWith)
            }
        }
    }

    private func objects(prefix: String, _ cancellation: Cancellation) throws -> [ObjectInfo] {
        var out: [ObjectInfo] = []
        var token: String?
        let base = location.prefix.isEmpty ? "" : location.prefix + "/"
        repeat {
            var query = [("list-type", "2"), ("prefix", base + prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try send("GET", key: nil, query: query, verb: "LIST", cancellation: cancellation)
            try expectSuccess(response, key: prefix)
            let text = response.bodyText
            for block in XMLText.blocks("Contents", in: text) {
                guard let key = XMLText.value(of: "Key", in: block), key.hasPrefix(base) else { continue }
                out.append(ObjectInfo(key: String(key.dropFirst(base.count)), size: Int64(XMLText.value(of: "Size", in: block) ?? "") ?? 0,
                                      modifiedMs: XMLText.value(of: "LastModified", in: block).flatMap(ISODate.parse)))
            }
            token = XMLText.value(of: "IsTruncated", in: text) == "true" ? XMLText.value(of: "NextContinuationToken", in: text) : nil
        } while token != nil
        return out
    }

    // MARK: - Multipart

    private struct Part {
        var number: Int
        var offset: Int64
        var length: Int64
        /// SHA-256 of the part: hex (signs the request) and base64 (the server checks it).
        var sha256 = ""
        var checksum = ""
        var etag = ""
    }

    /// Splits the file into parts and hashes each in one sequential pass, which also checks the
    /// whole file against `sha256` before a request is made.
    private func plan(file: PosixFile, size: Int64, sha256: String, key: String, _ cancellation: Cancellation) throws -> [Part] {
        var parts: [Part] = []
        var whole = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while offset < size {
            try cancellation.check()
            var part = Part(number: parts.count + 1, offset: offset, length: min(options.partSize, size - offset))
            var hasher = SHA256()
            var done: Int64 = 0
            while done < part.length {
                let want = Int(min(Int64(buffer.count), part.length - done))
                let n = pread(file.fd, buffer.baseAddress, want, off_t(part.offset + done))
                guard n > 0 else {
                    throw StoreError(.local, key: key, SystemError("pread", file.path, errno: n == 0 ? EIO : errno).description)
                }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<n])
                hasher.update(bufferPointer: chunk)
                whole.update(bufferPointer: chunk)
                done += Int64(n)
            }
            let digest = hasher.finalize()
            part.sha256 = Hex.encode(digest)
            part.checksum = Data(digest).base64EncodedString()
            parts.append(part)
            offset += part.length
        }
        let actual = Hex.encode(whole.finalize())
        guard actual == sha256 else {
            throw StoreError(.checksumMismatch, key: key, "the file hashes to \(actual), expected \(sha256)")
        }
        return parts
    }

    /// Hashes the parts, creates the upload, sends the parts (up to `partConcurrency` at once, each
    /// a job of its own on its own connection) and completes it. A failure or a cancellation
    /// aborts the upload, so it holds no storage.
    private func putMultipart(key: String, file: PosixFile, size: Int64, sha256: String) async throws {
        let planned = try await Blocking.runCancellable { [self] cancellation in
            try plan(file: file, size: size, sha256: sha256, key: key, cancellation)
        }
        let uploadID = try await Blocking.runCancellable { [self] cancellation in
            let created = try send("POST", key: key, query: [("uploads", "")], headers: [("x-amz-checksum-algorithm", "SHA256")],
                                   body: .bytes([]), payloadHash: SigV4.emptyPayloadHash, cancellation: cancellation)
            try expectSuccess(created, key: key)
            guard let uploadID = XMLText.value(of: "UploadId", in: created.bodyText) else {
                throw StoreError(.invalidRequest, key: key, "CreateMultipartUpload answered without an UploadId")
            }
            return uploadID
        }
        do {
            let parts = try await uploadParts(planned, key: key, uploadID: uploadID, file: file)
            try await Blocking.runCancellable { [self] cancellation in
                let xml = "<CompleteMultipartUpload>" + parts.map {
                    "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(XMLText.escape($0.etag))</ETag><ChecksumSHA256>\($0.checksum)</ChecksumSHA256></Part>"
                }.joined() + "</CompleteMultipartUpload>"
                let body = Array(xml.utf8)
                let completed = try send("POST", key: key, query: [("uploadId", uploadID)], body: .bytes(body),
                                         payloadHash: Hex.encode(SHA256.hash(data: body)), cancellation: cancellation)
                try expectSuccess(completed, key: key)
                // S3 may answer 200 and put the error in the body.
                if let code = XMLText.value(of: "Code", in: completed.bodyText), completed.bodyText.contains("<Error>") {
                    throw classify(status: 500, code: code, message: XMLText.value(of: "Message", in: completed.bodyText) ?? code, key: key,
                                   credentials: completed.signedWith)
                }
            }
        } catch {
            // Also in a cancelled task: one request, so the upload holds no storage.
            await Blocking.runQuietly { [self] in
                _ = try? send("DELETE", key: key, query: [("uploadId", uploadID)], cancellation: .never)
            }
            throw error
        }
    }

    /// Uploads parts, at most `partConcurrency` at a time; the first failure cancels the rest.
    private func uploadParts(_ planned: [Part], key: String, uploadID: String, file: PosixFile) async throws -> [Part] {
        let workers = max(1, min(options.partConcurrency, planned.count))
        return try await withThrowingTaskGroup(of: Part.self) { group in
            var parts = planned
            var next = 0
            while next < planned.count {
                if next >= workers, let done = try await group.next() { parts[done.number - 1] = done }
                let part = planned[next]
                next += 1
                group.addTask { [self] in
                    try await Blocking.runCancellable { [self] cancellation in try uploadPart(part, key: key, uploadID: uploadID, file: file, cancellation) }
                }
            }
            while let done = try await group.next() { parts[done.number - 1] = done }
            return parts
        }
    }

    private func uploadPart(_ part: Part, key: String, uploadID: String, file: PosixFile, _ cancellation: Cancellation) throws -> Part {
        let response = try send("PUT", key: key, query: [("partNumber", "\(part.number)"), ("uploadId", uploadID)],
                                headers: [("x-amz-checksum-sha256", part.checksum)],
                                body: .file(file, offset: part.offset, length: part.length), payloadHash: part.sha256,
                                cancellation: cancellation)
        try expectSuccess(response, key: key)
        guard let etag = response.headers["etag"] else {
            throw StoreError(.invalidRequest, key: key, "UploadPart \(part.number) answered without an ETag")
        }
        var uploaded = part
        uploaded.etag = etag
        return uploaded
    }

    // MARK: - Requests

    private func fullKey(_ key: String) -> String {
        location.prefix.isEmpty ? key : location.prefix + "/" + key
    }

    /// Sends one request, trying it again as ``RequestRetry`` allows. A GET into `sink` that broke
    /// off after some bytes resumes with `Range` and `If-Match` (the ETag of the answer that
    /// delivered them), so `sink` sees every byte once, in order, of one version of the object.
    /// Bodies from files are read again from the file for each attempt.
    private func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
                      body: HTTPRequest.Body = .none, payloadHash: String = SigV4.emptyPayloadHash, verb: String? = nil,
                      sink: ((UnsafeRawBufferPointer) throws -> Void)? = nil, cancellation: Cancellation) throws -> HTTPResponse {
        if let key, RelativePath(key) == nil {
            throw StoreError(.invalidRequest, key: key, "not a valid object key")
        }
        let target = endpoint.target(key: key.map(fullKey))
        // Sub-resources (`?uploads`, `?delete`) go without `=`; signing treats them as `name=`.
        let queryText = query.map {
            SigV4.encode($0.0, keepSlash: false) + ($0.1.isEmpty ? "" : "=" + SigV4.encode($0.1, keepSlash: false))
        }.joined(separator: "&")
        let url = target.base + target.path + (queryText.isEmpty ? "" : "?" + queryText)
        let name = verb ?? method
        let retry = RequestRetry(maxAttempts: max(1, options.maxAttempts))
        var attempt = 0
        var refreshedCredentials = false
        var delivered: Int64 = 0
        var etag: String?
        while true {
            try cancellation.check()
            attempt += 1
            var requestHeaders = headers
            let resumeAt = delivered
            if resumeAt > 0, let etag { requestHeaders += [("Range", "bytes=\(resumeAt)-"), ("If-Match", etag)] }
            let signing = try credentials.credentials()
            let signer = SigV4(credentials: signing, region: region)
            let all = requestHeaders + [("Host", target.host)]
                + signer.sign(method: method, path: target.path, query: query, headers: requestHeaders + [("host", target.host)],
                              payloadHash: payloadHash, amzDate: SigV4.amzDate(unixMilliseconds: WallClock.nowMilliseconds()))
            let request = HTTPRequest(method: method, url: url, headers: all, body: body)
            observer?.requestSent(name)
            let handle = try pool.take()
            do {
                // A resumed GET takes only the rest of the same object.
                let accepts: (Int, [String: String]) -> Bool = resumeAt == 0
                    ? { status, _ in (200..<300).contains(status) }
                    : { status, headers in status == 206 && (headers["content-range"] ?? "").hasPrefix("bytes \(resumeAt)-") }
                var response = try handle.perform(request, limits: limits, sink: sink, sinkAccepts: accepts, cancellation: cancellation)
                pool.give(handle)
                observer?.requestAnswered(name, status: "\(response.status)")
                response.signedWith = signing
                response.retried = attempt > 1 || refreshedCredentials
                if resumeAt > 0 {
                    if response.status == 412 {
                        throw StoreError(.invalidObject, key: key, "the object changed while it was read (If-Match \(etag ?? "") failed after \(resumeAt) bytes); reading it again from the start may help",
                                         retryable: true)
                    }
                    if (200..<300).contains(response.status) && !accepts(response.status, response.headers) {
                        throw StoreError(.invalidRequest, key: key, "the server did not resume the read at byte \(resumeAt) (HTTP \(response.status), Content-Range \(DisplayText.sanitize(response.headers["content-range"] ?? "none", limit: 80)))",
                                         retryable: true)
                    }
                }
                if (200..<300).contains(response.status) { return response }
                let code = XMLText.value(of: "Code", in: response.bodyText) ?? ""
                if RequestRetry.isExpiredToken(code), !refreshedCredentials {
                    refreshedCredentials = true
                    credentials.invalidate(signing)
                    observer?.requestRetried(reason: "expired_token")
                    attempt -= 1
                    continue
                }
                if let reason = RequestRetry.reason(status: response.status, code: code), attempt < retry.maxAttempts {
                    observer?.requestRetried(reason: reason.rawValue)
                    try cancellation.sleep(seconds: retry.delay(afterAttempt: attempt))
                    continue
                }
                return response
            } catch let error as CancellationError {
                // Stopped mid-transfer: the connection is dropped with its handle.
                observer?.requestAnswered(name, status: "cancelled")
                throw error
            } catch let error as TransportError {
                // The connection is in an unknown state: the handle is not reused.
                observer?.requestAnswered(name, status: "error")
                if sink != nil && error.delivered > 0 {
                    if resumeAt == 0 { etag = error.headers["etag"] }
                    delivered += error.delivered
                }
                let resumable = delivered == 0 || etag != nil
                if let reason = RequestRetry.reason(error), attempt < retry.maxAttempts, resumable {
                    observer?.requestRetried(reason: reason.rawValue)
                    try cancellation.sleep(seconds: retry.delay(afterAttempt: attempt))
                    continue
                }
                let tries = attempt > 1 ? " (after \(attempt) attempts)" : ""
                throw StoreError(error.isRetryable ? .transient : .invalidRequest, key: key,
                                 "\(method) \(endpoint.display): \(error.description)\(tries)", retryable: error.isRetryable)
            }
        }
    }

    private func expectSuccess(_ response: HTTPResponse, key: String?) throws {
        guard !(200..<300).contains(response.status) else { return }
        let text = response.bodyText
        let code = XMLText.value(of: "Code", in: text) ?? ""
        let message = XMLText.value(of: "Message", in: text) ?? ""
        throw classify(status: response.status, code: code, message: message, key: key, credentials: response.signedWith)
    }

    /// Maps an S3 answer to a store error that says whether a retry can help.
    func classify(status: Int, code: String, message: String, key: String?, credentials signing: S3Credentials? = nil) -> StoreError {
        let who = signing.map { "\($0)" } ?? "credentials from \(credentials.source)"
        // Code and message are the server's words: sanitized and bounded before they go anywhere.
        let detail = "HTTP \(status)" + (code.isEmpty ? "" : " \(DisplayText.sanitize(code, limit: 64))")
            + (message.isEmpty ? "" : ": \(DisplayText.sanitize(message))")
        switch (status, code) {
        case (_, "NoSuchBucket"):
            return StoreError(.noSuchBucket, key: key, "bucket \(location.root) does not exist (\(detail))")
        case (404, _), (_, "NoSuchKey"), (_, "NoSuchUpload"):
            return StoreError(.notFound, key: key, detail)
        case (_, "ExpiredToken"), (_, "InvalidToken"), (_, "ExpiredTokenException"), (_, "TokenRefreshRequired"):
            // Refreshed and tried once already; the source may hand out good ones later.
            return StoreError(.unauthorized, key: key,
                              "the server refused the session token as expired or invalid even after a refresh (\(who)): \(detail)",
                              retryable: true)
        case (_, "InvalidAccessKeyId"), (_, "SignatureDoesNotMatch"), (401, _):
            return StoreError(.unauthorized, key: key, "the server refused the credentials (\(who)): \(detail)")
        case (403, _):
            return StoreError(.accessDenied, key: key,
                              "access denied for \(signing?.accessKeyID ?? "the credentials") from \(signing?.source ?? credentials.source): \(detail)")
        case (412, _):
            return StoreError(.alreadyExists, key: key, detail)
        case (_, "BadDigest"), (_, "XAmzContentSHA256Mismatch"), (_, "InvalidDigest"):
            return StoreError(.checksumMismatch, key: key, "the server received different bytes: \(detail)")
        case (429, _), (500..<600, _), (_, "SlowDown"), (_, "RequestTimeout"), (_, "InternalError"), (_, "ServiceUnavailable"):
            return StoreError(.transient, key: key, detail)
        default:
            return StoreError(.invalidRequest, key: key, detail)
        }
    }

    private func base64Digest(hex: String, key: String) throws -> String {
        guard Hex.isSHA256(hex) else { throw StoreError(.invalidRequest, key: key, "not a sha256: \(hex)") }
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            func value(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
            bytes.append(value(high) << 4 | value(low))
        }
        return Data(bytes).base64EncodedString()
    }

    private func local<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as SystemError {
            throw StoreError(.local, key: key, error.description, retryable: error.isRetryable)
        }
    }
}

/// The server's address and how a key becomes a URL.
struct Endpoint: Sendable {
    let scheme: String
    let hostPort: String
    let bucket: String
    let virtual: Bool

    init(_ text: String, bucket: String, addressing: S3Options.Addressing, isAWS: Bool) throws {
        guard let separator = text.range(of: "://") else {
            throw StoreError(.invalidRequest, key: nil, "endpoint \(text) needs a scheme (https://host[:port])")
        }
        scheme = String(text[..<separator.lowerBound]).lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw StoreError(.invalidRequest, key: nil, "endpoint \(text): scheme must be http or https")
        }
        let rest = text[separator.upperBound...]
        let hostPart = rest.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        guard !hostPart.isEmpty else { throw StoreError(.invalidRequest, key: nil, "endpoint \(text) names no host") }
        // Default ports are left out: the Host header must be what the server reconstructs.
        if hostPart.hasSuffix(":443") && scheme == "https" { hostPort = String(hostPart.dropLast(4)) }
        else if hostPart.hasSuffix(":80") && scheme == "http" { hostPort = String(hostPart.dropLast(3)) }
        else { hostPort = hostPart }
        self.bucket = bucket
        switch addressing {
        case .path: virtual = false
        case .virtual: virtual = true
        case .auto: virtual = isAWS && !bucket.contains(".")
        }
    }

    /// Base URL, host header and encoded path for a key (or the bucket itself).
    func target(key: String?) -> (base: String, host: String, path: String) {
        let encodedKey = key.map { SigV4.encode($0, keepSlash: true) } ?? ""
        if virtual {
            let host = bucket + "." + hostPort
            return (scheme + "://" + host, host, "/" + encodedKey)
        }
        return (scheme + "://" + hostPort, hostPort, "/" + SigV4.encode(bucket, keepSlash: false) + (key == nil ? "" : "/" + encodedKey))
    }

    var display: String { scheme + "://" + hostPort }
}

/// Reusable curl handles: each keeps its connections alive between requests.
final class HandlePool: @unchecked Sendable {
    // Safe: `idle` is touched only under `lock`; a handle taken out belongs to one thread until
    // it is given back. (A `Mutex` cannot hand out the non-Sendable handles it holds.)
    private let lock = PThreadMutex()
    private var idle: [CurlHandle] = []

    func take() throws -> CurlHandle { try lock.withLock { idle.popLast() } ?? CurlHandle() }
    func give(_ handle: CurlHandle) { lock.withLock { if idle.count < 16 { idle.append(handle) } } }
}


/// `2026-11-25T14:05:09.000Z` (S3 listings) to Unix milliseconds.
enum ISODate {
    static func parse(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64(date.timeIntervalSince1970 * 1000) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1000) }
    }
}

/// `Wed, 25 Nov 2026 14:05:09 GMT` (HTTP headers) to Unix milliseconds.
enum HTTPDate {
    static func parse(_ text: String) -> Int64? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1000) }
    }
}
