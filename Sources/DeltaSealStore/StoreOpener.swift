/// Opens the store a URL names.
public enum StoreOpener {
    /// The store at `location`; S3 needs the S3 module and fails here with a clear error until then.
    public static func open(_ location: StoreURL) throws -> any ObjectStore {
        switch location.scheme {
        case .file: return FileStore(location: location)
        case .s3: throw StoreError(.invalidRequest, key: nil, "s3:// stores are not supported by this build", retryable: false)
        }
    }
}
