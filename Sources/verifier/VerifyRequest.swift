import DeltaSealDelta
import DeltaSealS3
import DeltaSealStore
import DeltaSealStoreOpener
import DeltaSealSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One check or restore as plain values: `CheckOptions` makes one from what ArgumentParser
/// read, ``SupervisorCall`` from the supervisor's call.
struct VerifyRequest {
    var fullCheck = true
    var budget = SQLiteBudget()
    var s3 = S3Options()
    /// The credentials to sign with, nil: the environment's chain. Asked once the URL is read.
    var credentials: () throws -> S3Credentials? = { nil }
    /// Makes the check command; nil: none.
    var deltaCheck: () throws -> DeltaCheck? = { nil }

    func verify(url: String, restoreInto: String?, onFile: (@Sendable (Int, Int, String) -> Void)? = nil) async -> VerificationReport {
        do {
            let location = try StoreURL(parsing: url, paths: LocalPath(workingDirectory: FileManager.default.currentDirectoryPath,
                                                                       home: ProcessInfo.processInfo.environment["HOME"],
                                                                       allowRelative: isatty(0) == 1))
            let store = try StoreOpener.open(location, s3: s3, environment: ProcessInfo.processInfo.environment,
                                             credentials: try credentials())
            CleanupOnSignal.install()
            var verifier = DeltaVerifier(fullCheck: fullCheck)
            verifier.budget = budget
            verifier.onFile = onFile
            do {
                verifier.check = try deltaCheck()
            } catch {
                // A setting of this host, not the delta's fault: no retry helps until it is fixed.
                return .couldNotCheck(url, reason: "check command: \(error) (fix the setting; retrying does not help)")
            }
            return await verifier.verify(store, restoreInto: restoreInto)
        } catch {
            return .couldNotCheck(url, reason: "\(error)")
        }
    }

    /// Prints `report` (JSON or the summary line); returns the exit status its verdict means.
    static func print(_ report: VerificationReport, json: Bool) throws -> Int32 {
        if json {
            Swift.print(String(decoding: try StableJSON.encode(report), as: UTF8.self), terminator: "")
        } else {
            Swift.print(report.summary)
        }
        return report.status.exitStatus
    }
}
