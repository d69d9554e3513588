import DeltaSealSystem
import Foundation

extension Bench {
    /// What starting a short-lived executable costs: `writer --version` and `verifier --version`
    /// as built (the Swift runtime and Foundation linked in, `-static-stdlib`; Package.swift)
    /// against `/bin/true`, the floor of a spawn and reap, 200 of each per round, taking turns.
    /// Returns the writer's milliseconds per process.
    static func startUp(rounds: Int, scratch: String, executables: String, environment: [String: String]) throws -> Double {
        let count = 200
        let log = scratch + "/version.log"
        let contestants = [
            ("/bin/true (the floor)", ["/bin/true"]),
            ("writer --version", [executables + "/writer", "--version"]),
            ("verifier --version", [executables + "/verifier", "--version"]),
        ]
        let times = try medians(rounds, prepare: { _ in try Files.removeTree(log) }, contestants.map { _, command in
            { for _ in 0..<count { try run(command, environment: environment, in: scratch, log: log) } }
        })
        let perProcess = times.map { $0 * 1000 / Double(count) }
        print("")
        print("start-up (\(count) spawns per round)                      ms per process   ratio to /bin/true")
        for (i, contestant) in contestants.enumerated() {
            print(pad(contestant.0, 52) + String(format: "%14.2f   %18.2f", perProcess[i], perProcess[i] / perProcess[0]))
        }
        return perProcess[1]
    }
}
