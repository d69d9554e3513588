import Foundation
import DeltaSealStore
import DeltaSealSystem
import Yams

/// Builds the effective configuration: defaults, then the YAML file, then `DELTASEAL_*`
/// environment variables, then command-line flags. Every error names the key and where it came
/// from (file and line, variable, or flag), and nothing runs on a configuration that has one.
public struct ConfigLoader {
    /// A setting that cannot be used, and where it was found.
    public struct ConfigError: Error, CustomStringConvertible, Equatable {
        /// `FILE:LINE`, `environment DELTASEAL_X` or `flag --x`.
        public let source: String
        public let key: String
        public let message: String
        public var description: String { "\(source): \(key): \(message)" }
    }

    public let workingDirectory: String
    public let executableDirectory: String
    /// How the store and spool paths are resolved (relative paths only at a terminal).
    public let paths: LocalPath

    /// - Parameters:
    ///   - interactive: whether a person typed the command (stdin is a terminal); a relative
    ///     store or spool path is refused otherwise.
    ///   - home: `HOME`, for `~`.
    public init(workingDirectory: String, executableDirectory: String, home: String? = nil, interactive: Bool = true) {
        self.workingDirectory = workingDirectory
        self.executableDirectory = executableDirectory
        paths = LocalPath(workingDirectory: workingDirectory, home: home, allowRelative: interactive)
    }

    /// The file read when neither `--config` nor `DELTASEAL_CONFIG` names one (bin/install puts
    /// an example beside it).
    public static let defaultFile = "/etc/deltaseal/deltaseal.yaml"

    /// The effective configuration.
    /// - Parameters:
    ///   - file: the YAML file, if any (`--config`, else `DELTASEAL_CONFIG` (empty: none), else
    ///     ``defaultFile`` if it exists).
    ///   - environment: the process environment.
    ///   - flags: overrides from the command line, as (key, value, flag name).
    ///   - expandEnvironment: whether `${VAR}` and `$VAR` in the file's values are expanded;
    ///     nil: unless `DELTASEAL_NO_EXPAND_ENV=1`.
    public func load(file: String?, environment: [String: String], flags: [(key: String, value: String, flag: String)],
                     expandEnvironment: Bool? = nil) throws -> SupervisorConfig {
        var config = SupervisorConfig(workingDirectory: workingDirectory, executableDirectory: executableDirectory)
        let named = file ?? environment["DELTASEAL_CONFIG"].map { $0.isEmpty ? nil : $0 }
            ?? (Files.exists(Self.defaultFile) ? Self.defaultFile : nil)
        if let path = named {
            // The file itself, unlike the store, is named by the person or unit that runs the
            // command, so a relative name is taken relative to where it runs.
            let absolute = path.hasPrefix("/") ? path : workingDirectory + "/" + path
            let expand = expandEnvironment ?? (environment["DELTASEAL_NO_EXPAND_ENV"] != "1")
            for entry in try Self.entries(ofFile: absolute, environment: expand ? environment : nil) {
                try apply(entry.key, entry.value, source: "\(absolute):\(entry.line)", to: &config)
            }
        }
        for setting in ConfigSchema.settings {
            if let value = environment[setting.environmentName] {
                try apply(setting.key, value, source: "environment \(setting.environmentName)", to: &config)
            }
        }
        for flag in flags {
            try apply(flag.key, flag.value, source: "flag \(flag.flag)", to: &config)
        }
        return config
    }

    private func apply(_ key: String, _ value: String, source: String, to config: inout SupervisorConfig) throws {
        guard let setting = ConfigSchema.setting(key) else {
            let known = ConfigSchema.settings.map(\.key)
            let hint = known.first { $0.hasSuffix("." + (key.split(separator: ".").last.map(String.init) ?? key)) }
            throw ConfigError(source: source, key: key, message: "unknown key" + (hint.map { " (did you mean \($0)?)" } ?? ""))
        }
        do {
            try setting.parse(&config, value, paths)
        } catch let bad as ConfigSchema.BadValue {
            throw ConfigError(source: source, key: key, message: bad.message)
        }
    }

    /// A scalar of the file with its dotted key and line.
    struct Entry: Equatable {
        var key: String
        var value: String
        var line: Int
    }

    /// Flattens a YAML file into dotted keys. Sequences become comma-separated values.
    static func entries(ofFile path: String, environment: [String: String]? = nil) throws -> [Entry] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(source: path, key: "-", message: "cannot read the file: \(error.localizedDescription)")
        }
        return try entries(ofYAML: text, source: path, environment: environment)
    }

    /// With `environment`, `${VAR}` and `$VAR` in values are expanded from it (EnvironmentExpansion).
    static func entries(ofYAML text: String, source: String, environment: [String: String]? = nil) throws -> [Entry] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigError(source: source, key: "-", message: "not valid YAML: \(error)")
        }
        guard let root else { return [] }
        guard case .mapping(let mapping) = root else {
            throw ConfigError(source: "\(source):\(root.mark?.line ?? 1)", key: "-", message: "the file must be a mapping of settings")
        }
        var out: [Entry] = []
        func expand(_ text: String, key: String, line: Int) throws -> String {
            guard let environment else { return text }
            do {
                return try EnvironmentExpansion.expand(text, environment: environment)
            } catch let problem as EnvironmentExpansion.Problem {
                throw ConfigError(source: "\(source):\(line)", key: key, message: problem.message)
            }
        }
        func walk(_ mapping: Node.Mapping, prefix: String) throws {
            for (keyNode, value) in mapping {
                let line = keyNode.mark?.line ?? 0
                guard let name = keyNode.string else {
                    throw ConfigError(source: "\(source):\(line)", key: prefix, message: "keys must be strings")
                }
                let key = prefix.isEmpty ? name : prefix + "." + name
                switch value {
                case .mapping(let inner): try walk(inner, prefix: key)
                case .scalar(let scalar):
                    let text = value.null != nil ? "" : scalar.string
                    out.append(Entry(key: key, value: try expand(text, key: key, line: line), line: line))
                case .sequence(let items):
                    let strings = try items.map { try expand($0.string ?? "", key: key, line: $0.mark?.line ?? line) }
                    out.append(Entry(key: key, value: strings.joined(separator: ","), line: line))
                case .alias:
                    throw ConfigError(source: "\(source):\(line)", key: key, message: "aliases are not supported")
                }
            }
        }
        try walk(mapping, prefix: "")
        return out
    }

    /// The effective configuration as `key: value` lines, every setting, with where S3
    /// credentials come from (never the secret itself).
    public static func describe(_ config: SupervisorConfig) -> String {
        ConfigSchema.settings.map { setting in
            let value = setting.show(config)
            return "\(setting.key): \(value.isEmpty ? "\"\"" : value)"
        }.joined(separator: "\n")
    }
}
