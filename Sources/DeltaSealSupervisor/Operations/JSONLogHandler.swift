import DeltaSealCore
import DeltaSealSystem
import Foundation
import Logging
import Synchronization

/// One JSON object per line on stderr: `ts`, `level`, `msg`, `label`, then the metadata (the
/// delta id as `delta` on every line about a delta). What Vector, Loki or journald pick up.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    /// One line at a time on stderr, whole.
    private static let lock = Mutex(())

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { fields[key] = "\(value)" }
        fields["ts"] = CivilTime.rfc3339(unixMilliseconds: WallClock.nowMilliseconds())
        fields["level"] = event.level.rawValue
        fields["msg"] = "\(event.message)"
        fields["label"] = label
        let line = Self.encode(fields) + "\n"
        Self.lock.withLock { _ in FileHandle.standardError.write(Data(line.utf8)) }
    }

    /// A flat JSON object with `ts`, `level`, `msg` first and the rest sorted.
    static func encode(_ fields: [String: String]) -> String {
        let first = ["ts", "level", "msg"]
        let keys = first.filter { fields[$0] != nil } + fields.keys.filter { !first.contains($0) }.sorted()
        return "{" + keys.map { "\(quote($0)):\(quote(fields[$0]!))" }.joined(separator: ",") + "}"
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
