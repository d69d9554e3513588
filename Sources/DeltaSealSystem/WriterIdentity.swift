#if canImport(Glibc)
import Glibc
#endif

/// Who a writer runs as, decided from `writer.user`/`writer.group` and who the supervisor is; the
/// verifier's check command runs under the same rules (`--check-user`/`--check-group`).
public struct WriterIdentity: Sendable, Equatable {
    /// The unprivileged user writers run as when the supervisor runs as root and nothing is set;
    /// `bin/supervisor` and `bin/install` create it (`useradd --system`) when it is missing.
    public static let defaultUser = "deltaseal-writer"

    /// The identity to switch to, or nil to keep the supervisor's own.
    public var identity: Sandbox.Identity?
    /// For logs, status and `config check`: `deltaseal-writer (uid 998, gid 998)`.
    public var summary: String
    /// What an operator should know (writers as root, as the supervisor's own user).
    public var warnings: [String]

    /// Resolves the configured user; throws a message naming the setting when it cannot work.
    public static func resolve(user: String, group: String, euid: uid_t = geteuid()) throws -> WriterIdentity {
        let groupName = group.isEmpty ? nil : group
        func lookup(_ name: String) throws -> Sandbox.Identity {
            do { return try Sandbox.Identity.lookup(user: name, group: groupName) } catch let error as Sandbox.Identity.LookupError {
                if name == defaultUser && error.kind == "user" {
                    throw Problem(message: "writer.user: the writer user \(defaultUser) does not exist; bin/supervisor creates it "
                        + "(or: useradd --system --no-create-home --shell /usr/sbin/nologin \(defaultUser)), or set writer.user")
                }
                throw Problem(message: "writer.user/writer.group: \(error)")
            }
        }
        func named(_ name: String, _ identity: Sandbox.Identity) -> String { "\(name) (uid \(identity.uid), gid \(identity.gid))" }
        switch (user, euid == 0) {
        case ("auto", true):
            let identity = try lookup(defaultUser)
            return WriterIdentity(identity: identity, summary: named(defaultUser, identity), warnings: [])
        case ("root", true), ("self", true):
            return WriterIdentity(identity: nil, summary: "root (uid 0)", warnings: [
                "writers run as root (writer.user: \(user)): a writer could read every secret of this host; prefer an unprivileged writer.user",
            ])
        case ("auto", false), ("self", false):
            return WriterIdentity(identity: nil, summary: "the supervisor's own user (uid \(euid))", warnings: [
                "writers run as the supervisor's own user (uid \(euid)); they are kept from it by a non-dumpable supervisor and Landlock only. "
                    + "Run the supervisor as root with an unprivileged writer.user to separate them",
            ])
        case ("root", false):
            throw Problem(message: "writer.user: root needs the supervisor to run as root")
        case (let name, true):
            let identity = try lookup(name)
            let warnings = identity.uid == 0 ? ["writers run as root (writer.user: \(name)); prefer an unprivileged user"] : []
            return WriterIdentity(identity: identity, summary: named(name, identity), warnings: warnings)
        case (let name, false):
            let identity = try lookup(name)
            guard identity.uid == euid else {
                throw Problem(message: "writer.user: switching writers to \(name) needs the supervisor to run as root")
            }
            return WriterIdentity(identity: nil, summary: named(name, identity), warnings: [])
        }
    }

    /// A configuration that cannot work, with the setting named.
    public struct Problem: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }
}
