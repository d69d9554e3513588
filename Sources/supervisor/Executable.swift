import ArgumentParser
import DeltaSealSupervisor
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where this executable is, so its siblings `writer` and `verifier` can be found.
enum Executable {
    static var directory: String {
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (path as NSString).deletingLastPathComponent
    }
}
