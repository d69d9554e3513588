import ArgumentParser
import DeltaSealS3
import DeltaSealStore
import DeltaSealSupervisor
import Foundation

/// `supervisor config check`: validate and print the effective configuration.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Inspect the configuration.",
        subcommands: [Check.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate the configuration (file, DELTASEAL_* variables, flags) and print the effective settings.",
            discussion: "Exit 0 when it is usable; 78 with the key and where it came from (file:line, variable or flag) when not. Secrets are never printed."
        )

        @OptionGroup var options: StartOptions

        func run() throws {
            let config = try options.loadOrExit()
            var problems = config.problems()
            print(ConfigLoader.describe(config))
            do {
                let sandbox = try WriterSandbox.make(config)
                print("# writer sandbox: \(sandbox.summary)")
                for warning in sandbox.identity.warnings { print("# warning: \(warning)") }
                if config.writerLandlock && sandbox.landlockABI == nil {
                    print("# warning: this kernel has no Landlock; writers are confined by their user, no_new_privs and the seal's checks only")
                }
            } catch {
                problems.append("\(error)")
            }
            if config.store.scheme == .s3 {
                // The chain's first configured source, asked once: its answer says it works.
                do {
                    let provider = try CredentialChain.provider(environment: ProcessInfo.processInfo.environment,
                                                                readFile: StoreOpener.readFile)
                    do {
                        print("# s3 credentials: \(try provider.credentials())")
                    } catch {
                        print("# s3 credentials: from \(provider.source), which failed: \(error)")
                    }
                } catch {
                    print("# s3 credentials: \(error)")
                }
            }
            if !problems.isEmpty {
                FileHandle.standardError.write(Data(problems.map { "error: \($0)\n" }.joined().utf8))
                throw ExitCode(78)
            }
        }
    }
}
