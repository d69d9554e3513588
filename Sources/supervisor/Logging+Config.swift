import DeltaSealSupervisor
import Logging

/// The logger the configuration asks for; with `level`, its level follows that box (SIGHUP).
func makeLogger(_ config: SupervisorConfig, label: String, level: LogLevelBox = LogLevelBox()) -> Logger {
    level.level = Logger.Level(rawValue: config.logLevel) ?? .info
    return Logger(label: label) { label in
        let inner: any LogHandler = config.logFormat == "text" ? StreamLogHandler.standardError(label: label) : JSONLogHandler(label: label)
        return LiveLevelHandler(inner, box: level)
    }
}
