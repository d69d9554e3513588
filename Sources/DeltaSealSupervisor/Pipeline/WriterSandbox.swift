import CDeltaSealLinux
import DeltaSealStore
import DeltaSealSystem
#if canImport(Glibc)
import Glibc
#endif

/// How this supervisor confines its writers: who they run as, whether Landlock fences their
/// writes, and what it takes to hand a directory over to them. Decided once, at start.
public struct WriterSandbox: Sendable {
    /// Who writers run as.
    public var identity: WriterIdentity
    /// The kernel's Landlock ABI, nil where it has none.
    public var landlockABI: Int?
    /// Whether writers run under Landlock (configured and available).
    public var landlock: Bool
    /// Where writer cgroups are made, or why they are not.
    public var cgroups: CgroupDelegation.Detection = .unavailable("writer.cgroup: off")
    /// `memory.max` and `pids.max` of each writer's cgroup.
    public var cgroupMemoryMax: UInt64?
    public var cgroupPidsMax: UInt64?

    /// From the configuration and this kernel; throws ``WriterIdentity/Problem`` when the
    /// configured user cannot work.
    public static func make(_ config: SupervisorConfig) throws -> WriterSandbox {
        let identity = try WriterIdentity.resolve(user: config.writerUser, group: config.writerGroup)
        let abi = Sandbox.landlockABI
        var sandbox = WriterSandbox(identity: identity, landlockABI: abi, landlock: config.writerLandlock && abi != nil)
        sandbox.cgroupMemoryMax = config.writerCgroupMemoryMax
        sandbox.cgroupPidsMax = config.writerCgroupPidsMax
        return sandbox
    }

    /// Looks for a delegated cgroup v2 subtree (`writer.cgroup: auto`); done once, at start,
    /// by the daemon (it may move the process into a cgroup of its own).
    mutating func detectCgroups(_ config: SupervisorConfig) {
        guard config.writerCgroup == "auto" else { return }
        // One subtree per spool: a start removes only its own leftovers.
        let scope = String(SHA256Stream.hex(of: Array(config.spool.utf8)).prefix(12))
        cgroups = CgroupDelegation.detect(wantControllers: cgroupMemoryMax != nil || cgroupPidsMax != nil, scope: scope)
        if case .delegated(let delegation) = cgroups { delegation.removeLeftovers() }
    }

    /// A cgroup for one writer, or nil where there is no delegation (or making it failed).
    func makeGroup(_ name: String) -> String? {
        guard case .delegated(let delegation) = cgroups else { return nil }
        return try? delegation.makeGroup(name, memoryMax: cgroupMemoryMax, pidsMax: cgroupPidsMax)
    }

    /// The uid that must own every file of a writer's output.
    public var ownerUID: uid_t { identity.identity?.uid ?? geteuid() }

    /// One line for logs, status and `config check`.
    public var summary: String {
        let cgroup: String = switch cgroups {
        case .delegated(let delegation):
            "a cgroup each under \(delegation.base)" + (delegation.controllers.isEmpty ? "" : " (\(delegation.controllers.sorted().joined(separator: ", ")))")
        case .unavailable(let why): "no cgroup (\(why))"
        }
        return "writers run as \(identity.summary), no_new_privs, "
            + (landlock ? "Landlock ABI \(landlockABI ?? 0) (writes only to their output and tmp)"
                : landlockABI == nil ? "no Landlock (this kernel has none)" : "Landlock off (writer.landlock: false)")
            + ", " + cgroup
    }

    /// Makes `directories` the writer's own (owner and group), so it can write there and only there.
    func handOver(_ directories: [String]) throws {
        guard let identity = identity.identity else { return }
        for directory in directories {
            try syscallRetrying("chown", directory) { chown(directory, identity.uid, identity.gid) }
        }
    }

    /// The Landlock ruleset a fork-server's child enforces on itself: the one a writer process
    /// gets (writes only beneath `writable`), as a descriptor to pass it.
    func landlockRuleset(writable: [String]) throws -> Int32 {
        let paths = writable.map { UnsafePointer(strdup($0)) } + [nil]
        defer { paths.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        var outcome = dsl_sandbox_outcome()
        let fd = paths.withUnsafeBufferPointer { dsl_landlock_ruleset($0.baseAddress, &outcome) }
        guard fd >= 0 else {
            let subject = outcome.failed_stage == DSL_STAGE_RULE && outcome.failed_index >= 0 && Int(outcome.failed_index) < writable.count
                ? writable[Int(outcome.failed_index)] : "Landlock ABI \(landlockABI.map(String.init) ?? "none")"
            throw SystemError(outcome.failed_stage == DSL_STAGE_RULE ? "landlock-rule" : "landlock-ruleset", subject, errno: outcome.failed_errno)
        }
        return fd
    }

    /// The confinement of one writer process.
    func confinement(writable: [String], cgroup: String? = nil) -> Sandbox {
        Sandbox(identity: identity.identity, writableDirectories: writable, landlock: landlock, noNewPrivileges: true, cgroup: cgroup)
    }
}
