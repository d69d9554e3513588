import ArgumentParser
import DeltaSealCommandLine
import DeltaSealS3
import Testing

/// The supervisor hands its S3 settings to the verifier it runs as command-line flags
/// (`S3Options.arguments`): each must be one of the shared group's, with its value intact.
@Suite struct S3FlagsTests {
    enum Help: S3FlagsHelp {
        static let endpoint: ArgumentHelp = "e"
        static let region: ArgumentHelp = "r"
        static let addressing: ArgumentHelp = "a"
        static let stallTimeout: ArgumentHelp = "s"
        static let maxAttempts: ArgumentHelp = "m"
    }

    @Test func everySettingTheSupervisorHandsOverIsASharedFlag() throws {
        var options = S3Options()
        options.endpoint = "http://127.0.0.1:9000"
        options.region = "eu-west-1"
        options.addressing = .path
        options.stallTimeoutSeconds = 2.5
        options.maxAttempts = 5
        let flags = try S3Flags<Help>.parse(options.arguments)
        #expect(flags.endpoint == "http://127.0.0.1:9000")
        #expect(flags.region == "eu-west-1")
        #expect(flags.addressing == "path")
        #expect(flags.stallTimeout.flatMap(Double.init) == 2.5)
        #expect(flags.maxAttempts == "5")
    }

    @Test func noFlagsForDefaults() throws {
        #expect(S3Options().arguments.isEmpty)
        let flags = try S3Flags<Help>.parse([])
        #expect(flags.endpoint == nil && flags.addressing == nil && flags.stallTimeout == nil && flags.maxAttempts == nil)
    }

    @Test func givenNamesEachFlagAsDeclared() throws {
        for flag in try S3Flags<Help>.parse([]).given.map(\.flag) {
            let parsed = try S3Flags<Help>.parse([flag, "7"])
            #expect(parsed.given.filter { $0.value != nil }.map(\.flag) == [flag])
        }
    }
}
