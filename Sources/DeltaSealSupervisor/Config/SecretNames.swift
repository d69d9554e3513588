/// Names of environment variables that carry credentials: never handed to a writer unless the
/// configuration names them with a leading `!`.
enum SecretNames {
    static func isSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        return upper.hasPrefix("AWS_") || upper.contains("SECRET") || upper.hasSuffix("_TOKEN") || upper.contains("TOKEN")
            || upper.hasSuffix("_KEY") || upper.contains("PASSWORD") || upper == "GOOGLE_APPLICATION_CREDENTIALS"
    }
}
