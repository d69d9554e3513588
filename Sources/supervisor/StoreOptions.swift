import ArgumentParser

/// Where the store is and how to reach it: what `start` and `gc` share.
struct StoreOptions: ParsableArguments {
    @Option(help: "Store: file:///PATH, an absolute path, or s3://BUCKET/PREFIX (store; default ./var/store).")
    var store: String?

    @Option(help: "This host's id in object keys (host; default: the host name).")
    var host: String?

    @Option(help: "S3 endpoint, https://host[:port] (s3.endpoint; overrides AWS_ENDPOINT_URL).")
    var endpoint: String?

    @Option(help: "S3 signing region (s3.region; overrides AWS_REGION and AWS_DEFAULT_REGION).")
    var region: String?

    @Option(help: "S3 bucket addressing: auto, path or virtual (s3.addressing).")
    var addressing: String?

    @Option(name: .customLong("stall-timeout"), help: "Seconds (fractions allowed) a transfer may move no byte (s3.stall_timeout).")
    var stallTimeout: String?

    @Option(name: .customLong("s3-max-attempts"), help: "Attempts per S3 request before the delta's attempt fails (s3.max_attempts).")
    var s3MaxAttempts: String?

    var overrides: [SettingOverride] {
        let pairs: [(String, String?, String)] = [
            ("store", store, "--store"), ("host", host, "--host"), ("s3.endpoint", endpoint, "--endpoint"), ("s3.region", region, "--region"),
            ("s3.addressing", addressing, "--addressing"), ("s3.stall_timeout", stallTimeout, "--stall-timeout"),
            ("s3.max_attempts", s3MaxAttempts, "--s3-max-attempts"),
        ]
        return pairs.compactMap { key, value, flag in value.map { (key, $0, flag) } }
    }
}
