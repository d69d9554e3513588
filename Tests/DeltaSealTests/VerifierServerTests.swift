import CDeltaSealLinux
import DeltaSealCore
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// `verifier.launch: fork-server` (the default): one `verifier --fork-server` forks a child per
/// delta; verifier processes take over whenever it cannot serve. Run by the real supervisor with
/// the real verifier, and the server also spoken to directly, as a careless client would.
@Suite(.timeLimit(.minutes(5))) struct VerifierServerTests {
    /// The pids of the servers that said they were ready, from the server's log.
    func serverPIDs(_ harness: PipelineHarness) -> [Int32] {
        let log = (try? Files.readAll(harness.spool.verifierServer + "/server.log")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return log.components(separatedBy: "ready (pid ").dropFirst().compactMap { Int32($0.prefix { $0.isNumber }) }
    }

    @Test func oneServerVerifiesEveryDeltaInAChildOfItsOwn() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        #expect(harness.config.verifierLaunch == "fork-server")
        for n in 0..<4 {
            try TestSupport.dropBatch(TestSupport.batch(records: 3, prefix: "b\(n)-"), named: "b\(n).ndjson", spool: harness.config.spool)
        }
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 4 && summary.failed == 0, "\(summary)")
        let verified = recorder.messages.filter { $0.hasPrefix("info verified ") }
        #expect(verified.count == 4 && verified.allSatisfy { $0.contains("verifier=fork-server") }, "\(verified)")
        // The server's log is written when its output ends, once it has exited.
        try await waitUntil { !serverPIDs(harness).isEmpty }
        let servers = serverPIDs(harness)
        #expect(servers.count == 1, "\(servers)")
        // Stopped with the supervisor.
        if let server = servers.first { try await waitUntil { TestSupport.processIsGone(server) } }
        for id in try harness.shippedDeltas() { await #expect(try harness.verify(id).status == 0) }
    }

    /// A verifier that does not know `--fork-server` (an older one at `verifier.path`): asked
    /// once, then verifier processes verify every delta of the pause, and nothing fails.
    @Test func aVerifierThatCannotServeLeavesEveryDeltaToVerifierProcesses() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        let calls = harness.root + "/calls"
        harness.config.verifierPath = try TestSupport.script("""
            echo "$*" >> \(calls)
            if [ "$1" = --fork-server ]; then echo 'no such option: --fork-server' >&2; exit 64; fi
            exec \(harness.config.verifierPath) "$@"
            """, at: harness.root + "/older-verifier")
        // One verification at a time: the second delta is not already asking when the first learns.
        harness.config.maxVerifications = 1
        for n in 0..<3 {
            try TestSupport.dropBatch(TestSupport.batch(records: 2, prefix: "b\(n)-"), named: "b\(n).ndjson", spool: harness.config.spool)
        }
        let recorder = LogRecorder()
        let summary = try await harness.runOnce(logger: recorder.logger)
        #expect(summary.shipped == 3 && summary.failed == 0, "\(summary)")
        let lines = try String(decoding: Files.readAll(calls), as: UTF8.self).split(separator: "\n")
        #expect(lines.filter { $0 == "--fork-server" }.count == 1, "\(lines)")
        #expect(lines.filter { $0 != "--fork-server" }.count == 3, "\(lines)")
        let warning = recorder.messages.first { $0.contains("verifier fork-server unavailable") } ?? ""
        #expect(warning.contains("no such option: --fork-server") && warning.contains("for_seconds=60"), "\(recorder.messages)")
        let verified = recorder.messages.filter { $0.hasPrefix("info verified ") }
        #expect(verified.count == 3 && verified.allSatisfy { $0.contains("verifier=process") }, "\(verified)")
    }

    /// The server spoken to directly: a child verifies a real delta into the request's
    /// descriptors; requests that are not JSON, name no known op or bring the
    /// wrong descriptors are answered with an error and the server goes on; when the socket
    /// ends the server exits and kills the child still waiting for its go.
    @Test func theServerRefusesWhatItCannotServeAndTakesItsChildrenWithIt() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.verifierLaunch = "process"
        try TestSupport.dropBatch(TestSupport.batch(records: 5), named: "b.ndjson", spool: harness.config.spool)
        #expect(try await harness.runOnce().shipped == 1)
        let delta = harness.deltaURL(try #require(try harness.shippedDeltas().first))

        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(pair[0], SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let server = try ChildProcess.spawn(arguments: [TestSupport.verifier, "--fork-server"], environment: ["PATH": "/usr/bin:/bin"],
                                            workingDirectory: harness.root, outputPath: harness.root + "/server.log", input: pair[1])
        close(pair[1])
        defer { close(pair[0]) }
        func send(_ text: String, fds: [Int32] = []) {
            let bytes = Array(text.utf8)
            #expect(dsl_send_with_fds(pair[0], bytes, UInt(bytes.count), fds, Int32(fds.count)) == bytes.count)
        }
        func receive() throws -> [String: Any] {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = recv(pair[0], &buffer, buffer.count, 0)
            try #require(count > 0, "no reply: \(String(cString: strerror(errno)))")
            return try #require(try JSONSerialization.jsonObject(with: Data(buffer.prefix(count))) as? [String: Any])
        }
        func request(_ id: String, url: String) -> String {
            let object: [String: Any] = ["op": "verify", "id": id, "argv": [url, "--json", "--full"], "cwd": harness.root,
                                         "env": ["PATH": "/usr/bin:/bin", "HOME": harness.root]]
            return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        /// stdout, stderr and a go pipe for one child; the go's write end stays here.
        func descriptors(_ name: String) throws -> (fds: [Int32], go: Int32) {
            var go: [Int32] = [-1, -1]
            #expect(pipe(&go) == 0)
            let out = open(harness.root + "/\(name).out", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            let err = open(harness.root + "/\(name).err", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            return ([out, err, go[0]], go[1])
        }

        let ready = try receive()
        #expect(ready["ready"] as? Bool == true && ready["protocol"] as? Int == 1, "\(ready)")

        // A real verification by a child.
        let first = try descriptors("first")
        send(request("one", url: delta), fds: first.fds)
        first.fds.forEach { close($0) }
        let forked = try receive()
        let child = try #require((forked["pid"] as? Int).map(Int32.init), "\(forked)")
        #expect(forked["id"] as? String == "one")
        var letter = UInt8(ascii: "g")
        #expect(write(first.go, &letter, 1) == 1)
        close(first.go)
        let ended = try receive()
        #expect(ended["id"] as? String == "one" && ended["exit"] as? Int == 0, "\(ended); stderr: \((try? Files.readAll(harness.root + "/first.err")).map { String(decoding: $0, as: UTF8.self) } ?? "")")
        // Reported unreaped, so its pid is still its own; reaped when told.
        #expect(kill(child, 0) == 0)
        send("{\"op\":\"reap\",\"pid\":\(child)}")
        let report = try String(decoding: Files.readAll(harness.root + "/first.out"), as: UTF8.self)
        #expect(report.contains("\"status\" : \"valid\""), "\(report)")

        // What it cannot serve: each answered, none ends the server.
        send("not json")
        #expect(try receive()["error"] as? String == "a request is not a JSON object")
        send("{\"op\":\"format\",\"id\":\"two\"}")
        let unknown = try receive()
        #expect(unknown["id"] as? String == "two" && (unknown["error"] as? String)?.contains("unknown op 'format'") == true, "\(unknown)")
        let one = open("/dev/null", O_WRONLY)
        send(request("three", url: delta), fds: [one])
        close(one)
        #expect((try receive()["error"] as? String)?.contains("takes 3 descriptors") == true)
        send("{\"op\":\"reap\",\"pid\":1}")
        send("{\"op\":\"verify\",\"id\":\"four\"}", fds: [])
        #expect((try receive()["error"] as? String)?.contains("needs argv") == true)

        // A child that never gets its go, then the socket ends: the server exits and kills it.
        let waiting = try descriptors("waiting")
        send(request("five", url: delta), fds: waiting.fds)
        waiting.fds.forEach { close($0) }
        let waitingChild = try #require((try receive()["pid"] as? Int).map(Int32.init))
        #expect(kill(waitingChild, 0) == 0)
        shutdown(pair[0], Int32(SHUT_RDWR))
        let end = await server.wait(timeout: .seconds(30), grace: .seconds(1))
        #expect(end.exitStatus == 0 && !end.timedOut, "\(end)")
        try await waitUntil { TestSupport.processIsGone(waitingChild) }
        close(waiting.go)
        #expect(try Files.readAll(harness.root + "/waiting.out").isEmpty)
    }
}
