import DeltaSealFuzzHarness
#if canImport(Glibc)
import Glibc
#endif

#if DELTASEAL_FUZZING
// Built with `-sanitize=fuzzer`: libFuzzer calls this for every input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    ManifestFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

// SwiftPM on Linux links an executable with `main` bound to `<module>_main` (so tests can link
// executables); defining that symbol ourselves hands `main` to libFuzzer's driver.
@_cdecl("fuzz_manifest_main")
func fuzzingMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    FuzzHarness.runLibFuzzer(argc: argc, argv: argv, fuzz)
}
#else
/// `fuzz-manifest FILE|DIR...`: replays inputs through the fuzz target without libFuzzer
/// (the seed corpus, or a crash file), exiting 0 when none crashes.
@main
enum FuzzManifestReplay {
    static func main() {
        exit(FuzzHarness.replay(Array(CommandLine.arguments.dropFirst()), name: "fuzz-manifest", ManifestFuzz.run))
    }
}
#endif
