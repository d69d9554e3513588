import DeltaSealSystem
import Foundation
import Testing

/// The sandboxed spawn of writers, with real processes: Landlock, no_new_privs, identity, inherited
/// descriptors, spawn failures, the bounded log, process group and limits, a grandchild holding
/// the output pipe.
///
/// The time limit guards against a hang, not for speed: on 2 busy cores the whole suite can keep
/// the cooperative pool from a test for a couple of minutes before it starts.
///
/// Serialized: the spawn-failure test checks that no new child of this process is left, which
/// other tests' children running at the same time would disturb.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct SandboxTests {
    private static let environment = ["PATH": "/usr/bin:/bin", "LANG": "C"]

    /// What a finished child left.
    private struct Run {
        var process: ChildProcess
        var termination: ChildProcess.Termination
        var log: String
    }

    /// Spawns `arguments` in `directory` and waits for it; its output goes to `directory/<log>`.
    private func run(_ arguments: [String], in directory: String, sandbox: Sandbox?, log name: String = "child.log",
                     limits: ChildProcess.Limits = ChildProcess.Limits(), outputLimit: Int? = nil) async throws -> Run {
        let log = directory + "/" + name
        let process = try ChildProcess.spawn(arguments: arguments, environment: Self.environment, workingDirectory: directory,
                                             outputPath: log, limits: limits, sandbox: sandbox, outputLimit: outputLimit)
        let termination = await process.wait(timeout: .seconds(60), grace: .seconds(1))
        let text = String(decoding: (try? Files.readAll(log)) ?? [], as: UTF8.self)
        return Run(process: process, termination: termination, log: text)
    }

    private func shell(_ script: String, _ arguments: String...) -> [String] {
        ["/bin/sh", "-c", script, "sh"] + arguments
    }

    private func fileStatus(_ path: String) -> stat? {
        var status = stat()
        return stat(path, &status) == 0 ? status : nil
    }

    /// Children of this process, alive or zombie, from `/proc/*/stat`.
    private func children() -> Set<Int32> {
        let me = getpid()
        var found = Set<Int32>()
        for entry in (try? Files.list("/proc")) ?? [] {
            guard let pid = Int32(entry),
                  let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = text.lastIndex(of: ")") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == me { found.insert(pid) }
        }
        return found
    }

    private static let probe = """
        echo inside > "$1/inside.txt" && echo WROTE-INSIDE
        echo pwned >> "$2" && echo WROTE-OUTSIDE
        true > "$2" && echo TRUNCATED-OUTSIDE
        ln "$2" "$1/link" && echo LINKED-OUTSIDE
        mv "$2" "$1/moved" && echo MOVED-OUTSIDE
        echo quiet > /dev/null && echo DEVNULL-OK
        exit 0
        """

    @Test func landlockAllowsWritesOnlyBeneathTheWritableDirectory() async throws {
        guard let abi = Sandbox.landlockABI else {
            print("skipped: kernel has no Landlock")
            return
        }
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let out = root + "/out"
        let outside = root + "/outside.txt"
        try Files.makeDirectories(out)
        try TestSupport.write("original\n", to: outside)
        chmod(outside, 0o640)
        // A fixed old mtime, so any write would show.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_000_000_000)], ofItemAtPath: outside)
        let before = try #require(fileStatus(outside))

        let confined = try await run(shell(Self.probe, out, outside), in: root,
                                     sandbox: Sandbox(writableDirectories: [out]))
        #expect(confined.termination.exitStatus == 0)
        #expect(confined.log.contains("WROTE-INSIDE"))
        #expect(confined.log.contains("DEVNULL-OK"))
        for refused in ["WROTE-OUTSIDE", "TRUNCATED-OUTSIDE", "LINKED-OUTSIDE", "MOVED-OUTSIDE"] {
            #expect(!confined.log.contains(refused), "Landlock ABI \(abi) let through: \(refused)\n\(confined.log)")
        }
        #expect(try String(contentsOfFile: out + "/inside.txt", encoding: .utf8) == "inside\n")
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "original\n")
        let after = try #require(fileStatus(outside))
        #expect(after.st_mode == before.st_mode)
        #expect(after.st_size == before.st_size)
        #expect(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)
        #expect(after.st_nlink == 1)
        #expect(!Files.exists(out + "/link") && !Files.exists(out + "/moved"))

        // The same probe unconfined does all of it: the refusals above are Landlock's.
        try Files.makeDirectories(out + "/free")
        let free = try await run(shell(Self.probe, out + "/free", outside), in: root,
                                 sandbox: Sandbox(writableDirectories: [], landlock: false), log: "free.log")
        #expect(free.log.contains("LINKED-OUTSIDE") && free.log.contains("MOVED-OUTSIDE"), "\(free.log)")
    }

    @Test func theChildHasNoNewPrivileges() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let probe = ["/bin/grep", "NoNewPrivs", "/proc/self/status"]
        let sandboxed = try await run(probe, in: root, sandbox: Sandbox(landlock: false, noNewPrivileges: true))
        #expect(sandboxed.log == "NoNewPrivs:\t1\n")
        if ProcessSecurity.hasNoNewPrivileges {
            print("note: this test process already has no_new_privs, so the unsandboxed control is not informative")
        } else {
            let plain = try await run(probe, in: root, sandbox: nil, log: "plain.log")
            #expect(plain.log == "NoNewPrivs:\t0\n")
        }
    }

    @Test func theChildRunsAsTheGivenIdentityWithoutSupplementaryGroups() async throws {
        guard getuid() == 0 else {
            print("skipped: switching identity needs root")
            return
        }
        let nobody = try Sandbox.Identity.lookup(user: "nobody", group: "nogroup")
        #expect(nobody == Sandbox.Identity(uid: 65534, gid: 65534))
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let switched = try await run(shell("id -u; id -g; id -G"), in: root,
                                     sandbox: Sandbox(identity: nobody, landlock: false))
        #expect(switched.log == "65534\n65534\n65534\n")

        // The writer's real shape: dropped to nobody and under Landlock, which needs no_new_privs then.
        guard Sandbox.landlockABI != nil else { return }
        let out = root + "/out"
        try Files.makeDirectories(out)
        // mkdtemp made the directory 0700; nobody has to pass through it to reach out/.
        chmod(root, 0o755)
        chmod(out, 0o777)
        let confined = try await run(shell("echo x > \"$1/f\" && id -u", out), in: root,
                                     sandbox: Sandbox(identity: nobody, writableDirectories: [out]), log: "confined.log")
        #expect(confined.log == "65534\n")
        #expect(fileStatus(out + "/f")?.st_uid == 65534)
    }

    @Test func aMissingUserIsNamedInTheError() {
        #expect(throws: Sandbox.Identity.LookupError(kind: "user", name: "deltaseal-no-such-user")) {
            try Sandbox.Identity.lookup(user: "deltaseal-no-such-user")
        }
        #expect(throws: Sandbox.Identity.LookupError(kind: "group", name: "deltaseal-no-such-group")) {
            try Sandbox.Identity.lookup(user: "root", group: "deltaseal-no-such-group")
        }
    }

    @Test func onlyStandardDescriptorsReachTheChild() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        try TestSupport.write("held open\n", to: root + "/held")
        // Deliberately without O_CLOEXEC: only the spawn's own closing keeps it from the child.
        let held = open(root + "/held", O_RDONLY)
        try #require(held >= 0)
        defer { close(held) }
        #expect(fcntl(held, F_GETFD) & FD_CLOEXEC == 0)
        let sandbox = Sandbox(landlock: Sandbox.landlockABI != nil)
        let listed = try await run(["/bin/ls", "-1", "/proc/self/fd"], in: root, sandbox: sandbox)
        // 3 is the directory ls opens to list; anything more was inherited.
        #expect(listed.log.split(separator: "\n") == ["0", "1", "2", "3"], "\(listed.log)")
    }

    @Test func aFailedSpawnNamesItsStageAndPathAndLeavesNoChild() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let before = children()
        func failure(_ arguments: [String], directory: String, sandbox: Sandbox) -> SystemError? {
            do {
                _ = try ChildProcess.spawn(arguments: arguments, environment: Self.environment, workingDirectory: directory,
                                           outputPath: root + "/child.log", sandbox: sandbox)
                return nil
            } catch {
                return error as? SystemError
            }
        }
        let missingDirectory = root + "/no-such-directory"
        let chdir = try #require(failure(["/bin/true"], directory: missingDirectory, sandbox: Sandbox(landlock: false)))
        #expect(chdir.operation == "chdir" && chdir.subject == missingDirectory && chdir.errno == ENOENT)
        #expect(chdir.description.contains(missingDirectory))

        let missingProgram = root + "/no-such-program"
        let execve = try #require(failure([missingProgram], directory: root, sandbox: Sandbox(landlock: false)))
        #expect(execve.operation == "execve" && execve.subject == missingProgram && execve.errno == ENOENT)

        if Sandbox.landlockABI != nil {
            let rule = try #require(failure(["/bin/true"], directory: root, sandbox: Sandbox(writableDirectories: [missingDirectory])))
            #expect(rule.operation == "landlock-rule" && rule.subject == missingDirectory && rule.errno == ENOENT)
        }
        // Each failed child was reaped before spawn threw: no new child, zombie or not, remains.
        // A failed child never reached execve, so it is still this test binary; the children of
        // tests running alongside are other programs (or become them within microseconds).
        func isThisBinary(_ pid: Int32) -> Bool {
            let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
            return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) == me
                || ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") ?? false)
                    && ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("DeltaSealDeltaag") ?? false)
        }
        #expect(children().subtracting(before).filter(isThisBinary).isEmpty)
    }

    @Test func theLogKeepsOnlyTheLastBytesOfAFloodOfOutput() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let limit = 64 << 10
        try TestSupport.write("stale from an earlier attempt\n", to: root + "/child.log")
        let flood = try await run(shell("head -c 20000000 /dev/zero | tr '\\0' x >&2; echo LAST-LINE >&2"), in: root,
                                  sandbox: Sandbox(landlock: Sandbox.landlockABI != nil), outputLimit: limit)
        #expect(flood.termination.exitStatus == 0)
        let bytes = try Files.readAll(root + "/child.log")
        #expect(bytes.count == limit)
        #expect(bytes.suffix(10) == Array("LAST-LINE\n".utf8))
        #expect(bytes.dropLast(10).allSatisfy { $0 == UInt8(ascii: "x") })

        // Unsandboxed, and less than the limit: all of it, stdout and stderr alike.
        let small = try await run(shell("echo out; echo err >&2"), in: root, sandbox: nil, log: "small.log", outputLimit: limit)
        #expect(small.log == "out\nerr\n")
    }

    @Test func theChildLeadsItsOwnProcessGroupUnderItsLimits() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let limits = ChildProcess.Limits(openFiles: 77, addressSpaceBytes: 8 << 30, cpuSeconds: 120, fileSizeBytes: 1 << 20)
        let script = "echo $$ $(cut -d' ' -f5 /proc/$$/stat); ulimit -n; ulimit -Hn; ulimit -t; ulimit -f; ulimit -v"
        let limited = try await run(["/bin/bash", "-c", script], in: root,
                                    sandbox: Sandbox(landlock: Sandbox.landlockABI != nil), limits: limits)
        let lines = limited.log.split(separator: "\n").map(String.init)
        #expect(lines.first == "\(limited.process.pid) \(limited.process.pid)", "pid and pgid: \(limited.log)")
        // bash counts -f in KiB and -v in KiB.
        #expect(Array(lines.dropFirst()) == ["77", "77", "120", "1024", "\(8 << 20)"], "\(limited.log)")
    }

    @Test func aGrandchildHoldingTheOutputOpenDoesNotHangTheWait() async throws {
        let root = try TestSupport.temporaryDirectory()
        defer { try? Files.removeTree(root) }
        let started = ContinuousClock.now
        // setsid takes the sleeper out of the group, so killing the group would not close the pipe either.
        let escaped = try await run(shell("setsid sleep 30 & echo grandchild $!; echo done"), in: root,
                                    sandbox: Sandbox(landlock: false), outputLimit: 4096)
        let waited = ContinuousClock.now - started
        let grandchild = Int32(escaped.log.split(separator: "\n").first?.split(separator: " ").last ?? "") ?? 0
        // Killed only while it is still that process (its start time): not our child, so its pid
        // could be another process's by the time the test ends.
        let grandchildStart = grandchild > 0 ? ProcessIdentity.startTime(of: grandchild) : nil
        defer { if let grandchildStart, ProcessIdentity.startTime(of: grandchild) == grandchildStart { kill(grandchild, SIGKILL) } }
        #expect(escaped.log.hasSuffix("done\n"), "\(escaped.log)")
        #expect(waited < .seconds(10), "waited \(waited)")
        // The case was real: the grandchild was alive, outside the group, holding the pipe.
        #expect(grandchild > 0 && kill(grandchild, 0) == 0)
        #expect(getpgid(grandchild) != escaped.process.pid)
    }
}
