import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// How a child is confined when ``ChildProcess/spawn(arguments:environment:workingDirectory:outputPath:errorPath:limits:sandbox:outputLimit:)``
/// forks it: who it runs as, whether it may gain privileges, and where it may write.
public struct Sandbox: Sendable, Equatable {
    /// A uid and gid to run as.
    public struct Identity: Sendable, Equatable {
        /// The user id.
        public var uid: uid_t
        /// The group id; supplementary groups are always cleared.
        public var gid: gid_t

        /// An identity by number.
        public init(uid: uid_t, gid: gid_t) {
            self.uid = uid
            self.gid = gid
        }

        /// A user or group name that this system does not know.
        public struct LookupError: Error, CustomStringConvertible, Sendable, Equatable {
            /// `user` or `group`.
            public var kind: String
            /// The name looked up.
            public var name: String

            /// The error for `name` of `kind`.
            public init(kind: String, name: String) {
                self.kind = kind
                self.name = name
            }

            public var description: String { "no \(kind) named \"\(name)\" on this system" }
        }

        /// The identity of `user` with `group`, or the user's primary group when `group` is nil.
        public static func lookup(user: String, group: String? = nil) throws -> Identity {
            var uid: uid_t = 0
            var gid: gid_t = 0
            try withLookupBuffer("getpwnam_r", user, kind: "user") { buffer in
                var entry = passwd()
                var found: UnsafeMutablePointer<passwd>?
                let code = getpwnam_r(user, &entry, buffer.baseAddress!, buffer.count, &found)
                if code == 0, found != nil { (uid, gid) = (entry.pw_uid, entry.pw_gid) }
                return (code, found != nil)
            }
            if let group {
                try withLookupBuffer("getgrnam_r", group, kind: "group") { buffer in
                    var entry = Glibc.group()
                    var found: UnsafeMutablePointer<Glibc.group>?
                    let code = getgrnam_r(group, &entry, buffer.baseAddress!, buffer.count, &found)
                    if code == 0, found != nil { gid = entry.gr_gid }
                    return (code, found != nil)
                }
            }
            return Identity(uid: uid, gid: gid)
        }

        /// Calls `body` with a buffer, growing it while the entry does not fit; `body` answers the
        /// function's return code and whether it found the name.
        private static func withLookupBuffer(_ operation: String, _ name: String, kind: String,
                                             _ body: (UnsafeMutableBufferPointer<CChar>) -> (Int32, Bool)) throws {
            var size = 16 << 10
            while true {
                let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: size)
                defer { buffer.deallocate() }
                let (code, found) = body(buffer)
                if code == 0 && found { return }
                // A missing name is 0 with no entry; some NSS modules answer ENOENT or ESRCH instead.
                if code == 0 || code == ENOENT || code == ESRCH { throw LookupError(kind: kind, name: name) }
                guard code == ERANGE, size < 1 << 24 else { throw SystemError(operation, name, errno: code) }
                size *= 4
            }
        }
    }

    /// Who the child runs as; nil keeps the parent's identity.
    public var identity: Identity?
    /// Directories beneath which a Landlock-confined child may create, change and remove files.
    public var writableDirectories: [String]
    /// Whether to confine the child with Landlock: read and execute everywhere, write only beneath
    /// ``writableDirectories`` and to `/dev/null`. Spawning fails, rather than running unconfined,
    /// on a kernel without Landlock.
    public var landlock: Bool
    /// Whether the child gets `PR_SET_NO_NEW_PRIVS`: no setuid bit or file capability raises what
    /// it can do. Landlock needs it once the child has dropped root.
    public var noNewPrivileges: Bool

    /// A cgroup v2 directory the child joins before it drops its privileges (see
    /// ``CgroupDelegation``), nil for none.
    public var cgroup: String?

    /// A sandbox; by default no identity change, Landlock with nothing writable, no_new_privs.
    public init(identity: Identity? = nil, writableDirectories: [String] = [], landlock: Bool = true,
                noNewPrivileges: Bool = true, cgroup: String? = nil) {
        self.identity = identity
        self.writableDirectories = writableDirectories
        self.landlock = landlock
        self.noNewPrivileges = noNewPrivileges
        self.cgroup = cgroup
    }

    /// The kernel's Landlock ABI version, or nil when Landlock is not built in or not enabled.
    public static var landlockABI: Int? {
        let abi = dsl_landlock_abi()
        return abi > 0 ? Int(abi) : nil
    }
}
