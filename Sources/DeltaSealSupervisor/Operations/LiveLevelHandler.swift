import DeltaSealCore
import DeltaSealSystem
import Logging
import Synchronization

/// Wraps a handler so its level follows a `LogLevelBox`.
public struct LiveLevelHandler: LogHandler {
    var inner: any LogHandler
    let box: LogLevelBox

    public init(_ inner: any LogHandler, box: LogLevelBox) {
        self.inner = inner
        self.box = box
    }

    public var logLevel: Logger.Level {
        get { box.level }
        set { box.level = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public func log(event: LogEvent) { inner.log(event: event) }
}
