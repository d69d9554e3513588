// swift-tools-version:6.0
import PackageDescription

// The commit `--version` reports, from SwiftPM's own look at the checkout: works for a plain
// `swift build` of a fresh clone, no generated file in git. Only the small C target below and
// the executables that print it depend on it, so a new commit rebuilds little. SwiftPM evaluates
// this file again only when it changes, so the value can lag behind later commits: bin/ writes
// the commit it built beside the executables, which wins (BuildCommit).
let gitCommit: String = {
    guard let git = Context.gitInformation else { return "unknown" }
    return String(git.currentCommit.prefix(12)) + (git.hasUncommittedChanges ? "-dirty" : "")
}()

// The writer and the verifier run once per delta: with the Swift runtime linked in
// (`-static-stdlib`) the writer loads 7 shared libraries instead of about 20 and starts in about
// two thirds of the time (docs/benchmarks.md, start-up). The verifier also links Foundation in
// (the libraries below); the writer's modules import none, so it takes none of it. The
// supervisor is long-lived and stays dynamic.
let shortLivedLinking: [LinkerSetting] = [.unsafeFlags(
    ["-static-stdlib"] + ["--start-group", "-lFoundation", "-lFoundationEssentials", "-lFoundationInternationalization",
     "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections", "-lBlocksRuntime", "-ldispatch",
     "-lswiftDispatch", "-lswiftSynchronization", "-lstdc++", "--end-group"].flatMap { ["-Xlinker", $0] },
    .when(platforms: [.linux]))]

let package = Package(
    name: "DeltaSeal",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "supervisor", targets: ["supervisor"]),
        .executable(name: "writer", targets: ["writer"]),
        .executable(name: "verifier", targets: ["verifier"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        // C libraries: one target each (a system-library target; libcurl's is a loader), imported by exactly one Swift target.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // libcurl's headers (libcurl4-openssl-dev) and a loader: libcurl itself is opened with
        // dlopen by the first S3 request, so executables that never make one do not load it.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("dl")]),

        // Pure core: values, formats and policies; no I/O, no C.
        .target(name: "DeltaSealCore"),

        // One Swift target per C library.
        .target(name: "DeltaSealSQLite", dependencies: ["CSQLite"]),
        .target(name: "DeltaSealZstd", dependencies: ["CZstd"]),

        // Linux processes, descriptors and files.
        .target(name: "CDeltaSealLinux"),
        .target(name: "DeltaSealSystem", dependencies: ["DeltaSealCore", "CDeltaSealLinux"]),

        // The git commit, for --version of the executables.
        .target(name: "CDeltaSealBuildInfo", cSettings: [.define("DELTASEAL_GIT_COMMIT", to: "\"\(gitCommit)\"")]),

        // The object-store seam and the filesystem store.
        .target(
            name: "DeltaSealStore",
            dependencies: ["DeltaSealCore", "DeltaSealSystem", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // The S3 store over libcurl.
        .target(
            name: "DeltaSealS3",
            dependencies: ["CCurl", "DeltaSealCore", "DeltaSealStore", "DeltaSealSystem", .product(name: "Crypto", package: "swift-crypto")]
        ),

        // The opener that picks a store for a URL: the one target that knows every store.
        .target(name: "DeltaSealStoreOpener", dependencies: ["DeltaSealStore", "DeltaSealS3"]),

        // Packing a sealed delta and verifying a shipped one.
        .target(
            name: "DeltaSealDelta",
            dependencies: [
                "DeltaSealCore", "DeltaSealSystem", "DeltaSealStore", "DeltaSealSQLite", "DeltaSealZstd",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // The built-in writer: NDJSON batches into one SQLite file.
        .target(name: "DeltaSealWriter", dependencies: ["DeltaSealCore", "DeltaSealSQLite", "DeltaSealSystem"]),

        // The daemon: spool, writer processes, seal, pack, upload, verify, retry.
        .target(
            name: "DeltaSealSupervisor",
            dependencies: [
                "DeltaSealCore", "DeltaSealSystem", "DeltaSealStore", "DeltaSealS3", "DeltaSealStoreOpener", "DeltaSealDelta",
                "DeltaSealSQLite", .product(name: "Logging", package: "swift-log"), .product(name: "Yams", package: "Yams"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),

        // The flags the commands share (the S3 group).
        .target(name: "DeltaSealCommandLine", dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Thin commands.
        .executableTarget(
            name: "supervisor",
            dependencies: [
                "DeltaSealSupervisor", "DeltaSealS3", "DeltaSealStoreOpener", "DeltaSealCommandLine", "CDeltaSealBuildInfo", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "writer",
            dependencies: ["DeltaSealWriter", "DeltaSealCore", "DeltaSealSystem", "CDeltaSealBuildInfo", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            linkerSettings: shortLivedLinking
        ),
        .executableTarget(
            name: "verifier",
            dependencies: ["CDeltaSealLinux", "DeltaSealCore", "DeltaSealDelta", "DeltaSealStore", "DeltaSealS3", "DeltaSealStoreOpener", "DeltaSealCommandLine", "DeltaSealSystem", "CDeltaSealBuildInfo", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            linkerSettings: shortLivedLinking
        ),

        // bin/bench: pack and verify against the zstd and sha256sum tools, in one run.
        .executableTarget(
            name: "deltaseal-bench",
            dependencies: ["DeltaSealCore", "DeltaSealDelta", "DeltaSealStore", "DeltaSealSystem", "DeltaSealWriter"]
        ),

        // bin/fuzz: libFuzzer targets when built with -DDELTASEAL_FUZZING -sanitize=fuzzer,
        // replay tools over files otherwise (the seed corpus is replayed by FuzzCorpusTests).
        .target(name: "DeltaSealFuzzHarness"),
        .executableTarget(name: "fuzz-record-parser", dependencies: ["DeltaSealFuzzHarness", "DeltaSealWriter"]),
        .executableTarget(name: "fuzz-manifest", dependencies: ["DeltaSealFuzzHarness", "DeltaSealCore", "DeltaSealDelta"]),

        .testTarget(name: "DeltaSealCoreTests", dependencies: ["DeltaSealCore"]),
        // The S3 store's values (signing, XML, retry policy, credentials files): no server needed.
        .testTarget(name: "DeltaSealS3Tests", dependencies: ["DeltaSealS3", "DeltaSealStore"]),
        .testTarget(
            name: "DeltaSealTests",
            dependencies: [
                "DeltaSealCore", "DeltaSealSystem", "DeltaSealStore", "DeltaSealDelta", "DeltaSealSQLite",
                "DeltaSealZstd", "DeltaSealWriter", "DeltaSealSupervisor", "DeltaSealS3", "DeltaSealStoreOpener", "DeltaSealCommandLine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
