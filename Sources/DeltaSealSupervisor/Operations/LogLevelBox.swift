import DeltaSealCore
import DeltaSealSystem
import Logging
import Synchronization

/// A log level shared by handlers, so a reload changes it for every logger at once.
public final class LogLevelBox: Sendable {
    private let value = Mutex<Logger.Level>(.info)
    public init() {}
    public var level: Logger.Level {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
