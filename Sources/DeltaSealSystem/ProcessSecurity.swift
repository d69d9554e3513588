import CDeltaSealLinux
#if canImport(Glibc)
import Glibc
#endif

/// Hardening of the calling process itself.
public enum ProcessSecurity {
    /// Makes this process non-dumpable: no core file with its memory, and processes of the same uid
    /// (a writer that switched to it, say) can neither ptrace it nor read its `/proc/<pid>/mem` or
    /// `environ`. Children get the default back when they exec.
    public static func makeNonDumpable() throws {
        try syscallRetrying("prctl(PR_SET_DUMPABLE)", "self") { dsl_set_dumpable(0) }
    }

    /// Whether this process has `PR_SET_NO_NEW_PRIVS` set.
    public static var hasNoNewPrivileges: Bool { dsl_get_no_new_privs() == 1 }
}
