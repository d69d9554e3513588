import DeltaSealCore
import DeltaSealDelta
import DeltaSealSupervisor
import DeltaSealSystem
import Foundation
import Testing

/// What an on-call engineer reads from a real daemon: `/healthz`, `/readyz`, `/metrics`, `status`
/// and systemd's notifications, each checked against what the daemon is really doing.
@Suite(.serialized) struct HealthAndMetricsTests {
    func daemon(_ harness: PipelineHarness, port: Int, address: String? = nil, writer: String? = nil,
                environment extra: [String: String] = [:]) throws -> Daemon {
        var environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        environment["DELTASEAL_INTAKE_SETTLE"] = "0.1"
        return try Daemon([TestSupport.supervisor, "start", "--spool", harness.config.spool, "--store", harness.storeRoot, "--host", "test-host",
                           "--metrics-address", address ?? "127.0.0.1:\(port)"] + (writer.map { ["--writer", $0, "--max-in-flight", "1"] } ?? []),
                          environment: environment, cwd: harness.root, log: harness.root + "/log")
    }

    /// A writer that waits until the test calls `release`, then writes as the built-in one does.
    func heldWriter(_ harness: PipelineHarness) throws -> (writer: String, release: () -> Void) {
        let release = harness.root + "/release"
        let writer = try TestSupport.script("while [ ! -e \(release) ]; do sleep 0.05; done; exec \(TestSupport.writer) \"$@\"",
                                            at: harness.root + "/held.sh")
        return (writer, { _ = FileManager.default.createFile(atPath: release, contents: nil) })
    }

    func statusUpdatedAt(_ harness: PipelineHarness) -> String? {
        guard let bytes = try? Files.readAll(harness.config.spool + "/status.json"),
              let status = try? StableJSON.decode(SupervisorStatus.self, from: bytes) else { return nil }
        return status.updatedAt
    }

    @Test func healthIsAboutProgressNotAboutDeltasFinishing() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        // One slot, held by a writer that does not finish: intake is blocked on the slot.
        let (writer, release) = try heldWriter(harness)
        for n in 0..<2 { try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b\(n).ndjson", spool: harness.config.spool) }
        let port = try TestSupport.freePort()
        let running = try daemon(harness, port: port, writer: writer)
        defer { running.kill() }
        try await waitUntil { ((try? harness.spool.workInProgress()) ?? []).count == 1 }
        // The health timer keeps publishing while intake waits for the slot.
        let first = try #require(await waitFor { statusUpdatedAt(harness) })
        try await waitUntil(timeout: .seconds(10)) { (statusUpdatedAt(harness) ?? first) > first }
        #expect(try await TestSupport.http("http://127.0.0.1:\(port)/healthz").status == 200)
        #expect(try await TestSupport.http("http://127.0.0.1:\(port)/readyz").status == 200)
        release()
        try await waitUntil(timeout: .seconds(60)) { ((try? harness.shippedDeltas()) ?? []).count == 2 }
        let metrics = try await TestSupport.http("http://127.0.0.1:\(port)/metrics").body
        #expect(metrics.contains("deltaseal_last_shipped_timestamp_seconds "), "\(metrics)")
    }

    @Test func readinessIsFalseWhilePausedForDisk() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let port = try TestSupport.freePort()
        try harness.spool.prepare()
        // A floor no disk reaches: intake pauses at once.
        let running = try daemon(harness, port: port, environment: ["DELTASEAL_INTAKE_MIN_FREE_BYTES": "1000TiB"])
        defer { running.kill() }
        try await waitUntil(timeout: .seconds(20)) {
            (try? await TestSupport.http("http://127.0.0.1:\(port)/readyz"))?.body.contains("intake paused: free disk") == true
        }
        let metrics = try await TestSupport.http("http://127.0.0.1:\(port)/metrics").body
        #expect(metrics.contains("deltaseal_intake_paused{reason=\"free_disk\"} 1"), "\(metrics)")
        #expect(try await TestSupport.http("http://127.0.0.1:\(port)/healthz").status == 200)
        let status = try await TestSupport.run([TestSupport.supervisor, "status", "--spool", harness.config.spool])
        #expect(status.stdout.contains("PAUSED: free disk"), "\(status.stdout)")
    }

    @Test func readinessIsFalseWhileDraining() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let (writer, release) = try heldWriter(harness)
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        let port = try TestSupport.freePort()
        let running = try daemon(harness, port: port, writer: writer)
        try await waitUntil { ((try? harness.spool.workInProgress()) ?? []).count == 1 }
        running.signal(SIGTERM)
        try await waitUntil(timeout: .seconds(20)) {
            (try? await TestSupport.http("http://127.0.0.1:\(port)/readyz"))?.body.contains("draining") == true
        }
        #expect(try await TestSupport.http("http://127.0.0.1:\(port)/healthz").status == 200)
        release()
        #expect(await running.wait() == 0)
    }

    /// A TCP connection to 127.0.0.1:`port` that never sends a byte.
    func idleConnection(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected != 0 { close(fd) }
        try #require(connected == 0, "connect: \(String(cString: strerror(errno)))")
        return fd
    }

    /// Whether the kernel lists `::1` (on `lo`): without it the IPv6 tests cannot run.
    static let hasIPv6Loopback: Bool = {
        guard let handle = FileHandle(forReadingAtPath: "/proc/net/if_inet6"), let data = try? handle.readToEnd() else { return false }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").contains { $0.hasPrefix("00000000000000000000000000000001 ") }
    }()

    @Test func healthAnswersWhileIdleConnectionsAreOpen() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let port = try TestSupport.freePort()
        let running = try daemon(harness, port: port)
        try await waitUntil(timeout: .seconds(20)) { (try? await TestSupport.http("http://127.0.0.1:\(port)/healthz"))?.status == 200 }
        // Connected, nothing sent: a server that takes one connection at a time would wait on
        // the first of them (the hand-written one did, 5 s each) before it read the probe.
        let idle = try (0..<20).map { _ in try idleConnection(port: port) }
        defer { for fd in idle { close(fd) } }
        // A functional bound, not a benchmark: 1 s is far above an answer and far below 5 s.
        let health = try await TestSupport.http("http://127.0.0.1:\(port)/healthz", timeout: 1)
        #expect(health.status == 200, "\(health.body)")
        #expect(health.body == "ok\n")
        // Nor do they hold up the shutdown: idle connections are closed, not waited for.
        running.signal(SIGTERM)
        #expect(await running.wait() == 0)
    }

    @Test(.enabled(if: hasIPv6Loopback, "no IPv6 loopback on this host (no ::1 in /proc/net/if_inet6)"))
    func endpointsServeIPv6AndEveryInterface() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let port = try TestSupport.freePort()
        let loopback6 = try daemon(harness, port: port, address: "[::1]:\(port)")
        try await waitUntil(timeout: .seconds(20)) { (try? await TestSupport.http("http://[::1]:\(port)/healthz"))?.status == 200 }
        #expect(try await TestSupport.http("http://[::1]:\(port)/nothing-here") == (404, "try /metrics, /healthz or /readyz\n"))
        // Said at info, in the daemon's log: the server's quieter logger leaves the daemon's level alone.
        let log = (try? String(contentsOfFile: harness.root + "/log", encoding: .utf8)) ?? ""
        #expect(log.contains("serving /metrics, /healthz and /readyz") && log.contains("[::1]:\(port)"), "\(log)")
        loopback6.signal(SIGTERM)
        #expect(await loopback6.wait() == 0)
        // `:PORT`: every interface, both families on one socket.
        let every = try daemon(harness, port: port, address: ":\(port)")
        try await waitUntil(timeout: .seconds(20)) { (try? await TestSupport.http("http://[::1]:\(port)/healthz"))?.status == 200 }
        #expect(try await TestSupport.http("http://127.0.0.1:\(port)/healthz").status == 200)
        #expect(try await TestSupport.http("http://127.0.0.1:\(port)/readyz") == (200, "ready\n"))
        every.signal(SIGTERM)
        #expect(await every.wait() == 0)
    }

    @Test func anAddressInUseLeavesTheDaemonShippingWithoutEndpoints() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        // Another process's listener on the port (this one's: the same to the daemon).
        let port = try TestSupport.freePort()
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(holder, 1) == 0)
        let running = try daemon(harness, port: port)
        let log = harness.root + "/log"
        let logged = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        try await waitUntil(timeout: .seconds(20)) { logged().contains("cannot serve metrics; running without them") }
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        try await waitUntil(timeout: .seconds(60)) { ((try? harness.shippedDeltas()) ?? []).count == 1 }
        running.signal(SIGTERM)
        #expect(await running.wait() == 0)
    }

    @Test func metricsHaveHelpZerosAndLongBuckets() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        let port = try TestSupport.freePort()
        let running = try daemon(harness, port: port)
        defer { running.kill() }
        try await waitUntil(timeout: .seconds(60)) { ((try? harness.shippedDeltas()) ?? []).count == 1 }
        try await waitUntil(timeout: .seconds(10)) {
            (try? await TestSupport.http("http://127.0.0.1:\(port)/metrics"))?.body.contains("deltaseal_deltas_total{outcome=\"shipped\"} 1") == true
        }
        let metrics = try await TestSupport.http("http://127.0.0.1:\(port)/metrics").body
        for line in ["# HELP deltaseal_deltas_total ", "deltaseal_deltas_total{outcome=\"failed\"} 0", "deltaseal_deltas_total{outcome=\"rejected\"} 0",
                     "deltaseal_store_available 1", "deltaseal_intake_paused{reason=\"store\"} 0",
                     "deltaseal_stage_duration_seconds_bucket{stage=\"write\",le=\"3600.0\"}", "# HELP deltaseal_stage_duration_seconds ",
                     "deltaseal_build_info{version=\"\(DeltaSealVersion.version)\",commit="] {
            #expect(metrics.contains(line), "\(line) missing from:\n\(metrics)")
        }
        // Every metric has its help text.
        let types = metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ")[2] }
        let helps = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { $0.split(separator: " ")[2] })
        #expect(types.allSatisfy(helps.contains), "no HELP for \(types.filter { !helps.contains($0) })")
    }

    @Test func statusAfterARestartStillShowsWhyDeltasFailed() async throws {
        var harness = try PipelineHarness()
        defer { harness.remove() }
        harness.config.retry.maxAttempts = 1
        let builtIn = harness.config.writerCommand
        harness.config.writerCommand = [try TestSupport.script("echo 'the model file is missing' >&2; exit 1", at: harness.root + "/broken.sh")]
        try TestSupport.dropBatch(TestSupport.batch(records: 2), named: "b.ndjson", spool: harness.config.spool)
        _ = try await harness.runOnce()
        harness.config.writerCommand = builtIn
        try TestSupport.dropBatch("not json\n", named: "bad.ndjson", spool: harness.config.spool)
        _ = try await harness.runOnce()
        // No supervisor runs now: what status says comes from the reports on disk.
        let result = try await TestSupport.run([TestSupport.supervisor, "status", "--json", "--spool", harness.config.spool])
        let status = try StableJSON.decode(SupervisorStatus.self, from: Array(result.stdout.utf8))
        #expect(!status.running)
        #expect(status.schemaVersion == 1)
        #expect(status.recentFailures.contains { $0.outcome == "failed" && $0.reason.contains("the model file is missing") }, "\(status.recentFailures)")
        #expect(status.recentFailures.contains { $0.outcome == "rejected" && $0.reason.contains("malformed JSON") }, "\(status.recentFailures)")
    }

    @Test func systemdHearsReadyStatusWatchdogAndStopping() async throws {
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let socketPath = harness.root + "/notify.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (n, b) in socketPath.utf8.enumerated() { raw[n] = b } }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received: [String] = []
        func drain() {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                if n <= 0 { return }
                received.append(String(decoding: buffer[..<n], as: UTF8.self))
            }
        }
        let port = try TestSupport.freePort()
        let running = try daemon(harness, port: port, environment: ["NOTIFY_SOCKET": socketPath, "WATCHDOG_USEC": "2000000"])
        try await waitUntil(timeout: .seconds(20)) {
            drain()
            return received.contains { $0.contains("READY=1") } && received.contains { $0.contains("WATCHDOG=1") }
        }
        #expect(received.contains { $0.contains("STATUS=0 in flight, 0 shipped") }, "\(received)")
        running.signal(SIGTERM)
        #expect(await running.wait() == 0)
        drain()
        #expect(received.contains { $0.contains("STOPPING=1") }, "\(received)")
    }
}

/// Polls `value` until it is not nil (at most 10 s).
func waitFor<T>(_ value: () -> T?) async -> T? {
    for _ in 0..<200 {
        if let found = value() { return found }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return nil
}
