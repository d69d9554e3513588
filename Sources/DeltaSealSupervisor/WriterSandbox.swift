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

    /// From the configuration and this kernel; throws ``WriterIdentity/Problem`` when the
    /// configured user cannot work.
    public static func make(_ config: SupervisorConfig) throws -> WriterSandbox {
        let identity = try WriterIdentity.resolve(user: config.writerUser, group: config.writerGroup)
        let abi = Sandbox.landlockABI
        return WriterSandbox(identity: identity, landlockABI: abi, landlock: config.writerLandlock && abi != nil)
    }

    /// The uid that must own every file of a writer's output.
    public var ownerUID: uid_t { identity.identity?.uid ?? geteuid() }

    /// One line for logs, status and `config check`.
    public var summary: String {
        "writers run as \(identity.summary), no_new_privs, "
            + (landlock ? "Landlock ABI \(landlockABI ?? 0) (writes only to their output and tmp)"
                : landlockABI == nil ? "no Landlock (this kernel has none)" : "Landlock off (writer.landlock: false)")
    }

    /// Makes `directories` the writer's own (owner and group), so it can write there and only there.
    func handOver(_ directories: [String]) throws {
        guard let identity = identity.identity else { return }
        for directory in directories {
            try syscallRetrying("chown", directory) { chown(directory, identity.uid, identity.gid) }
        }
    }

    /// The confinement of one writer process.
    func confinement(writable: [String]) -> Sandbox {
        Sandbox(identity: identity.identity, writableDirectories: writable, landlock: landlock, noNewPrivileges: true)
    }
}
