import DeltaSealCore
#if canImport(Glibc)
import Glibc
#endif

/// The verifier's entry point. The supervisor's call (``SupervisorCall``) is read here and run at
/// once; anything else (`--help`, `--version`, a subcommand, a range, a check command, a mistake)
/// goes to ArgumentParser, which says what it would have. ArgumentParser builds its command model
/// by reflection: measured with `perf`, about 60% of the verifier's own CPU on a tiny delta.
/// `verifier --fork-server` is the supervisor's warm verifier (``VerifierForkServer``): it returns
/// here only in a forked child, with that child's arguments.
@main
enum VerifierMain {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // Before the first suspension: the server must stay one thread (it forks).
        if arguments == ["--fork-server"] { arguments = VerifierForkServer.serve() }
        guard let call = SupervisorCall(arguments[...]) else { return await VerifierCommand.main(arguments) }
        let report = await call.request.verify(url: call.url, restoreInto: nil)
        do {
            exit(try VerifyRequest.print(report, json: call.json))
        } catch {
            VerifierCommand.exit(withError: error)
        }
    }
}

/// `verifier URL --json --quick|--full [S3 flags] [--credentials-file FILE]` for one delta, read
/// exactly as ArgumentParser reads it, or nil for anything else: an option given twice,
/// `--option=value`, a value that starts with `-`, a value ArgumentParser or ``S3Arguments``
/// would refuse, `--quick` with `--full`, a URL that is not one delta, any other word.
struct SupervisorCall {
    var url: String
    var json = false
    var request = VerifyRequest()

    init?(_ arguments: ArraySlice<String>) {
        guard let first = arguments.first, !first.hasPrefix("-"),
              DeltaID(first.split(separator: "/").last.map(String.init) ?? "") != nil else { return nil }
        url = first
        var seen: Set<String> = []
        var quick = false, full = false
        var s3: [String: String] = [:]
        var i = arguments.index(after: arguments.startIndex)
        while i < arguments.endIndex {
            let option = arguments[i]
            i += 1
            guard seen.insert(option).inserted else { return nil }
            switch option {
            case "--json": json = true
            case "--quick": quick = true
            case "--full": full = true
            case "--endpoint", "--region", "--addressing", "--stall-timeout", "--s3-max-attempts", "--credentials-file":
                guard i < arguments.endIndex, !arguments[i].hasPrefix("-") else { return nil }
                s3[option] = arguments[i]
                i += 1
            default:
                return nil
            }
        }
        // By the parsed command's own rules: what they refuse goes to ArgumentParser, to be refused there.
        guard !(quick && full),
              let options = try? S3Arguments.options(endpoint: s3["--endpoint"], region: s3["--region"], addressing: s3["--addressing"],
                                                     stallTimeout: s3["--stall-timeout"], maxAttempts: s3["--s3-max-attempts"])
        else { return nil }
        request.fullCheck = !quick
        request.s3 = options
        if let file = s3["--credentials-file"] { request.credentials = { try S3Arguments.takeCredentialsFile(file) } }
    }
}
