/// An upload begun and never finished (an S3 multipart upload): invisible to `list`, it still holds
/// storage until it is aborted. Garbage collection finds and aborts stale ones through
/// ``ObjectStore/listPendingUploads(prefix:)``, whatever the store.
public struct PendingUpload: Sendable, Equatable {
    /// The key the upload would have created.
    public var key: String
    /// The store's name for the upload (S3's `UploadId`).
    public var id: String
    /// Unix milliseconds of when it began, where the store tells.
    public var initiatedMs: Int64?

    public init(key: String, id: String, initiatedMs: Int64?) {
        self.key = key
        self.id = id
        self.initiatedMs = initiatedMs
    }
}
