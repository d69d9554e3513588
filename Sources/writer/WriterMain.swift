#if canImport(Glibc)
import Glibc
#endif

/// The writer's entry point. The supervisor's call (`--input FILE... --out DIR`, perhaps
/// `--max-line-bytes N`) is read here and written at once; anything else (`--help`, `--version`,
/// a mistake, a form this does not take) goes to ArgumentParser, which says what it would have.
/// ArgumentParser builds its command model by reflection: a millisecond or two of a writer that
/// writes 1,000 records in about ten.
@main
enum WriterMain {
    static func main() {
        guard let plain = PlainArguments(CommandLine.arguments.dropFirst()) else { return WriterCommand.main() }
        exit(WriterCommand.write(inputs: plain.inputs, out: plain.out, maxLineBytes: plain.maxLineBytes))
    }
}

/// The arguments in the one shape the supervisor passes, read exactly as ArgumentParser reads
/// them, or nil for anything else: an option given twice, `--option=value`, a value that starts
/// with `-`, a missing or invalid one, an unknown word.
struct PlainArguments {
    var inputs: [String] = []
    var out = ""
    var maxLineBytes = 16 << 20

    init?(_ arguments: ArraySlice<String>) {
        var seen: Set<String> = []
        var out: String?
        var i = arguments.startIndex
        while i < arguments.endIndex {
            let option = arguments[i]
            i += 1
            guard seen.insert(option).inserted else { return nil }
            switch option {
            case "--input":
                while i < arguments.endIndex, !arguments[i].hasPrefix("-") { inputs.append(arguments[i]); i += 1 }
                guard !inputs.isEmpty else { return nil }
            case "--out":
                guard i < arguments.endIndex, !arguments[i].hasPrefix("-") else { return nil }
                out = arguments[i]
                i += 1
            case "--max-line-bytes":
                guard i < arguments.endIndex, let value = Int(arguments[i]), value >= 1 else { return nil }
                maxLineBytes = value
                i += 1
            default:
                return nil
            }
        }
        guard !inputs.isEmpty, let out else { return nil }
        self.out = out
    }
}
