import DeltaSealS3
import DeltaSealStore

// A target of its own, the one place that knows every store: each store's target knows only the
// seam, and a new store joins here without the others depending on it.

/// Opens the store a URL names, with credentials from the standard AWS sources (``CredentialChain``) for `s3://`.
public enum StoreOpener {
    /// The store at `location`.
    /// `credentials`, when given, replace the standard sources; `observer` is told of every request.
    public static func open(_ location: StoreURL, s3 options: S3Options = S3Options(), environment: [String: String],
                            credentials given: S3Credentials? = nil, observer: (any RequestObserver)? = nil) throws -> any ObjectStore {
        switch location.scheme {
        case .file:
            return FileStore(location: location, observer: observer)
        case .s3:
            let provider: any CredentialProvider
            do {
                provider = try given.map { StaticCredentials($0) } ?? CredentialChain.provider(environment: environment, readFile: AWSConfigFile.read)
            } catch let error as S3Credentials.NotFound {
                throw StoreError(.unauthorized, key: nil, error.description)
            }
            var resolved = options
            if resolved.region == nil { resolved.region = S3Credentials.region(environment: environment, readFile: AWSConfigFile.read) }
            if resolved.endpoint == nil {
                resolved.endpoint = [environment["AWS_ENDPOINT_URL_S3"], environment["AWS_ENDPOINT_URL"]]
                    .compactMap { $0 }.first { !$0.isEmpty }
            }
            return try S3Store(location: location, options: resolved, provider: provider, environment: environment, observer: observer)
        }
    }
}
