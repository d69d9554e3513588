#if canImport(Glibc)
import Glibc
#endif

/// What the fuzz targets share: the libFuzzer driver in a fuzzing build, and the replay of
/// inputs from files in a normal one.
///
/// A fuzz target is one function from bytes to nothing that traps when an invariant fails;
/// a thrown error is a refused input, never a finding.
public enum FuzzHarness {
    /// Runs `body` over each file named in `arguments` (each file of a directory, in name
    /// order). Returns the exit status: 0 when every input ran, 64 on usage, 66 when a file
    /// cannot be read. A failing invariant traps, so the process dies on the input at fault.
    public static func replay(_ arguments: [String], name: String, _ body: ([UInt8]) -> Void) -> Int32 {
        guard !arguments.isEmpty else {
            printError("usage: \(name) FILE|DIR...  (replays each input through the fuzz target)")
            return 64
        }
        var count = 0
        for argument in arguments {
            let files: [String]
            if isDirectory(argument) {
                guard let names = directoryEntries(argument) else {
                    printError("\(name): cannot list \(argument)")
                    return 66
                }
                files = names.sorted().map { argument + "/" + $0 }.filter { !isDirectory($0) }
            } else {
                files = [argument]
            }
            for file in files {
                guard let bytes = readFile(file) else {
                    printError("\(name): cannot read \(file)")
                    return 66
                }
                // Named before it runs, so a trap leaves the culprit as the last line.
                printError("\(name): \(file) (\(bytes.count) bytes)")
                body(bytes)
                count += 1
            }
        }
        printError("\(name): \(count) inputs, no crash")
        return 0
    }

    #if DELTASEAL_FUZZING
    // Only in a fuzzing build: elsewhere libclang_rt.fuzzer is not linked.
    /// Hands the process to libFuzzer with `callback` as the target; returns its exit status.
    public static func runLibFuzzer(
        argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv, callback)
    }
    #endif

    private static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    private static func directoryEntries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." && !name.hasPrefix(".") { names.append(name) }
        }
        return names
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            bytes += chunk[..<n]
            if n < chunk.count { return ferror(file) == 0 ? bytes : nil }
        }
    }

    private static func printError(_ line: String) {
        // write(2), not fputs: `stderr` is a global var, which strict concurrency refuses.
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

#if DELTASEAL_FUZZING
// libFuzzer's documented entry for programs that keep their own `main` (FuzzerDriver.cpp); it is
// in libclang_rt.fuzzer, which `-sanitize=fuzzer` links. Declared here rather than in a C target
// because only fuzzing builds reference it, and its arguments are plain pointers and integers,
// for which the Swift and C calling conventions agree.
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt
#endif
