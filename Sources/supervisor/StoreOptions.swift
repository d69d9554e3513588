import ArgumentParser
import DeltaSealCommandLine

/// Where the store is and how to reach it: what `start` and `gc` share.
struct StoreOptions: ParsableArguments {
    @Option(help: "Store: file:///PATH, an absolute path, or s3://BUCKET/PREFIX (store; default ./var/store).")
    var store: String?

    @Option(help: "This host's id in object keys (host; default: the host name).")
    var host: String?

    @OptionGroup var s3: S3Flags<SupervisorS3Help>

    var overrides: [SettingOverride] { settingOverrides([("--store", store), ("--host", host)] + s3.given) }
}
