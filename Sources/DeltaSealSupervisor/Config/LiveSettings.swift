import DeltaSealCore
import DeltaSealSystem
import Logging
import Synchronization

/// The settings a running supervisor takes from a reloaded configuration (SIGHUP) without a
/// restart; everything else in `SupervisorConfig` is fixed for the life of the process.
public final class LiveSettings: Sendable {
    private let current: Mutex<SupervisorConfig>

    /// The keys a reload applies; a change to any other key needs a restart.
    public static let reloadableKeys: Set<String> = [
        "log.level", "retry.max_attempts", "retry.base_delay", "retry.max_delay", "intake.max_work_bytes",
        "intake.min_free_bytes", "writer.timeout", "writer.kill_grace", "verifier.timeout", "verifier.mode",
    ]

    public init(_ config: SupervisorConfig) { current = Mutex(config) }

    var retry: RetryPolicy { current.withLock { $0.retry } }
    var intake: IntakeLimits { current.withLock { $0.intake } }
    var writerTimeout: Duration { current.withLock { $0.writerTimeout } }
    var killGrace: Duration { current.withLock { $0.killGrace } }
    var verifierTimeout: Duration { current.withLock { $0.verifierTimeout } }
    var quickVerify: Bool { current.withLock { $0.quickVerify } }
    /// The level every logger built by `LogLevel.handler` follows.
    public let logLevel = LogLevelBox()

    /// What a reload did.
    public struct Reload: Sendable, Equatable {
        public var applied: [String]
        public var needRestart: [String]
    }

    /// Applies the reloadable settings of `new`; reports the keys it applied (a reloadable key
    /// whose value changed) and the changed keys that need a restart.
    public func reload(_ new: SupervisorConfig) -> Reload {
        current.withLock { current in
            var next = current
            next.retry = new.retry
            next.intake = new.intake
            next.writerTimeout = new.writerTimeout
            next.killGrace = new.killGrace
            next.verifierTimeout = new.verifierTimeout
            next.quickVerify = new.quickVerify
            // Kept in `current` too, not only in the box: the next reload compares against what
            // is in force, and a level changed back must count as applied.
            next.logLevel = new.logLevel
            let keys = ConfigSchema.settings
            let applied = keys.filter { Self.reloadableKeys.contains($0.key) && $0.show(current) != $0.show(next) }.map(\.key)
            let needRestart = keys.filter { !Self.reloadableKeys.contains($0.key) && $0.show(current) != $0.show(new) }.map(\.key)
            current = next
            logLevel.level = Logger.Level(rawValue: new.logLevel) ?? .info
            return Reload(applied: applied, needRestart: needRestart)
        }
    }
}
