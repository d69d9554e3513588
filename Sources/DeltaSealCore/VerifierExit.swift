/// Exit statuses of the verifier.
public enum VerifierExit {
    /// The delta is valid.
    public static let valid: Int32 = 0
    /// The delta is invalid; the report says which file and why.
    public static let invalid: Int32 = 1
    /// The delta could not be checked (store unreachable, not found, unreadable manifest).
    public static let couldNotCheck: Int32 = 2
}
