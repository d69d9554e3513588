import DeltaSealS3
import DeltaSealStore
import DeltaSealStoreOpener
import DeltaSealSystem
import Foundation
import Testing

/// Every source of the credential chain against real servers, each signing real requests: moto
/// (STS, S3, instance metadata) for temporary credentials, SeaweedFS for sources that can hand out
/// its static identity (container credentials, `credential_process`, SSO through a loopback portal).
/// No AWS keys are in any of these environments.
@Suite(.timeLimit(.minutes(3)))
struct CredentialChainTests {
    static let moto = MotoServer.available
    static let seaweed = S3TestServer.available

    /// A private HOME with ~/.aws, and an environment naming nothing but it.
    final class Home {
        let path: String
        init() throws {
            path = try TestSupport.temporaryDirectory("home")
            try FileManager.default.createDirectory(atPath: path + "/.aws/sso/cache", withIntermediateDirectories: true)
        }
        deinit { try? Files.removeTree(path) }

        func write(_ name: String, _ text: String) throws -> String {
            let file = path + "/" + name
            try TestSupport.write(text, to: file)
            return file
        }

        var environment: [String: String] {
            ["HOME": path, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "AWS_REGION": "us-east-1",
             "AWS_EC2_METADATA_DISABLED": "true"]
        }
    }

    /// Opens `s3://bucket/prefix` the way the supervisor does, puts and reads back an object.
    @discardableResult
    func roundTrip(bucket: String, endpoint: String?, environment: [String: String]) async throws -> S3Store {
        var options = S3Options()
        options.endpoint = endpoint
        let location = StoreURL(scheme: .s3, root: bucket, prefix: S3TestServer.uniquePrefix())
        let store = try #require(try StoreOpener.open(location, s3: options, environment: environment) as? S3Store)
        let bytes = Array("signed by \(store.credentials.source)".utf8)
        try await store.put(key: "h/d/manifest.json", bytes: bytes, ifAbsent: true)
        #expect(try await store.getBytes(key: "h/d/manifest.json") == bytes)
        try await store.delete(keys: ["h/d/manifest.json"])
        return store
    }

    // MARK: - Temporary credentials from moto

    /// moto checks every signature here: the AssumeRole call (signed for `sts` with the user's
    /// keys) and the S3 requests (signed with the role's keys and session token).
    @Test(.enabled(if: moto, "needs moto_server in .venv")) func assumeRoleThroughAProfileWithASourceProfile() async throws {
        let moto = try await MotoServer(checkingSignatures: true)
        try await moto.makeBucket("creds")
        let user = try #require(moto.userKeys)
        let home = try Home()
        _ = try home.write(".aws/credentials", "[base]\naws_access_key_id = \(user.id)\naws_secret_access_key = \(user.secret)\n")
        _ = try home.write(".aws/config", """
            [profile deploy]
            role_arn = arn:aws:iam::123456789012:role/deltaseal
            source_profile = base
            role_session_name = deltaseal-test
            region = us-east-1
            """)
        var environment = home.environment
        environment["AWS_PROFILE"] = "deploy"
        environment["AWS_ENDPOINT_URL"] = moto.endpoint
        let store = try await roundTrip(bucket: "creds", endpoint: nil, environment: environment)
        #expect(store.credentials.source == "role arn:aws:iam::123456789012:role/deltaseal of profile deploy (source_profile base)")
        let credentials = try store.credentials.credentials()
        #expect(credentials.accessKeyID != user.id && credentials.sessionToken != nil && credentials.expiration != nil)

        // The same profile with a wrong source secret: STS refuses the AssumeRole, and says so.
        _ = try home.write(".aws/credentials", "[base]\naws_access_key_id = \(user.id)\naws_secret_access_key = wrong\n")
        let refused = try StoreOpener.open(StoreURL(scheme: .s3, root: "creds", prefix: "x"), environment: environment)
        await #expect {
            try await refused.head(key: "a")
        } throws: { error in
            "\(error)".contains("STS AssumeRole (role arn:aws:iam::123456789012:role/deltaseal of profile deploy (source_profile base)) refused")
                && "\(error)".contains("SignatureDoesNotMatch")
        }
    }

    @Test(.enabled(if: moto, "needs moto_server in .venv")) func webIdentityFromATokenFile() async throws {
        let moto = try await MotoServer()
        try await moto.makeBucket("webid")
        let home = try Home()
        var environment = home.environment
        environment["AWS_WEB_IDENTITY_TOKEN_FILE"] = try home.write("token", "eyJhbGciOiJSUzI1NiJ9.e30.c2lnbmF0dXJl\n")
        environment["AWS_ROLE_ARN"] = "arn:aws:iam::123456789012:role/web"
        environment["AWS_ROLE_SESSION_NAME"] = "deltaseal-web"
        environment["AWS_ENDPOINT_URL"] = moto.endpoint
        let store = try await roundTrip(bucket: "webid", endpoint: nil, environment: environment)
        #expect(store.credentials.source == "web identity (role arn:aws:iam::123456789012:role/web)")
        let credentials = try store.credentials.credentials()
        #expect(credentials.sessionToken != nil)

        // config check names the source and never the secret.
        let check = try await TestSupport.run([TestSupport.supervisor, "config", "check", "--store", "s3://webid/p", "--spool", home.path + "/spool"],
                                        cwd: home.path, environment: environment)
        // Its own fetch: other keys, the same source.
        #expect(check.stdout.contains("# s3 credentials: access key ASIA"), "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains(" from web identity (role arn:aws:iam::123456789012:role/web) (secret redacted)"), "\(check.stdout)")
        #expect(!check.stdout.contains(credentials.secretAccessKey))
    }

    @Test(.enabled(if: moto, "needs moto_server in .venv")) func instanceMetadataV2() async throws {
        let moto = try await MotoServer()
        try await moto.makeBucket("imds")
        let home = try Home()
        var environment = home.environment
        environment.removeValue(forKey: "AWS_EC2_METADATA_DISABLED")
        environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = moto.endpoint
        let store = try await roundTrip(bucket: "imds", endpoint: moto.endpoint, environment: environment)
        #expect(store.credentials.source == "IMDSv2 role default-role")
        #expect(try store.credentials.credentials().sessionToken == "test-session-token")

        // Turned off, the chain ends without asking it.
        environment["AWS_EC2_METADATA_DISABLED"] = "true"
        #expect {
            try StoreOpener.open(StoreURL(scheme: .s3, root: "imds", prefix: ""), environment: environment)
        } throws: { error in
            "\(error)".contains("instance metadata (AWS_EC2_METADATA_DISABLED)")
        }
    }

    // MARK: - Sources that hand out SeaweedFS's static identity

    @Test(.enabled(if: seaweed, "needs the SeaweedFS server bin/test starts"))
    func containerCredentialsWithATokenFileShipThroughTheSupervisorAndVerifier() async throws {
        let server = try #require(S3TestServer.current)
        let endpoint = try CredentialServer(accessKey: server.accessKey, secret: server.secretKey, lifetime: 3600, authorization: "container-token-1")
        let harness = try PipelineHarness()
        defer { harness.remove() }
        let home = try Home()
        var environment = home.environment
        environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = endpoint.url + "/creds"
        environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = try home.write("container-token", "container-token-1\n")
        let prefix = S3TestServer.uniquePrefix()
        try TestSupport.dropBatch(TestSupport.batch(records: 6), named: "b.ndjson", spool: harness.config.spool)
        let result = try await TestSupport.run(
            [TestSupport.supervisor, "start", "--once", "--spool", harness.config.spool, "--store", "s3://\(server.bucket)/\(prefix)",
             "--host", "test-host", "--endpoint", server.endpoint, "--log-level", "warning", "--metrics-address", ""],
            cwd: harness.root, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("shipped 1, rejected 0, failed 0"), "\(result.stdout)")
        // The supervisor asked once; its verifier, handed no temporary credentials, asked itself.
        let counts = try await endpoint.counts()
        #expect(counts.served == 2 && counts.refused == 0, "\(counts)")

        // A wrong token is refused, and the error says by whom.
        _ = try home.write("container-token", "wrong-token\n")
        var options = S3Options()
        options.endpoint = server.endpoint
        let store = try StoreOpener.open(StoreURL(scheme: .s3, root: server.bucket, prefix: prefix), s3: options, environment: environment)
        await #expect {
            try await store.head(key: "x")
        } throws: { error in
            "\(error)".contains("container credentials at \(endpoint.url)/creds: HTTP 401")
        }
    }

    @Test(.enabled(if: seaweed, "needs the SeaweedFS server bin/test starts"))
    func shortLivedCredentialsAreAskedForAgainAfterTheyExpire() async throws {
        let server = try #require(S3TestServer.current)
        let endpoint = try CredentialServer(accessKey: server.accessKey, secret: server.secretKey, lifetime: 3, authorization: "t")
        let home = try Home()
        var environment = home.environment
        environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = endpoint.url + "/creds"
        environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "t"
        var options = S3Options()
        options.endpoint = server.endpoint
        let store = try StoreOpener.open(StoreURL(scheme: .s3, root: server.bucket, prefix: S3TestServer.uniquePrefix()), s3: options,
                                         environment: environment)
        #expect(try await endpoint.counts().served == 0, "asked on first use, not at open")
        // The provider is asked directly, twice in a row: a store request is a job on the
        // executor and its answer comes back through the cooperative pool, which a loaded test
        // run can keep busy for longer than these credentials live.
        let provider = try #require(store as? S3Store).credentials
        let first = try provider.credentials()
        #expect(try provider.credentials() == first)
        #expect(try await endpoint.counts().served == 1)
        try await Task.sleep(for: .milliseconds(3_500))
        _ = try provider.credentials()
        #expect(try await endpoint.counts().served == 2)
        // What the provider hands out signs real requests.
        #expect(try await store.head(key: "c") == nil)
    }

    @Test(.enabled(if: seaweed, "needs the SeaweedFS server bin/test starts"))
    func anExpiredTokenAnswerRefreshesTheCredentialsAndRetriesOnce() async throws {
        let server = try #require(S3TestServer.current)
        let endpoint = try CredentialServer(accessKey: server.accessKey, secret: server.secretKey, lifetime: 3600, authorization: "t")
        let proxy = try FaultProxy(upstream: server.endpoint)
        let home = try Home()
        var environment = home.environment
        environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = endpoint.url + "/creds"
        environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "t"
        var options = S3Options()
        options.endpoint = proxy.endpoint
        let location = StoreURL(scheme: .s3, root: server.bucket, prefix: S3TestServer.uniquePrefix())

        try await proxy.set([.init(action: "expired_token", method: "PUT")])
        let store = CountingStore(try StoreOpener.open(location, s3: options, environment: environment))
        try await store.put(key: "h/d/manifest.json", bytes: Array("{}".utf8), ifAbsent: true)
        #expect(try await proxy.injected() == ["expired_token": 1])
        #expect(try await endpoint.counts().served == 2)
        #expect(store.requestCounts == ["PUT": 2])
        #expect(store.retryCounts == ["expired_token": 1])

        // Refused again after the refresh: one refresh only, and the error is worth a later retry.
        try await proxy.set([.init(action: "expired_token", method: "PUT", times: 5)])
        let again = CountingStore(try StoreOpener.open(location, s3: options, environment: environment))
        await #expect {
            try await again.put(key: "h/e/manifest.json", bytes: Array("{}".utf8), ifAbsent: true)
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .unauthorized && error.isRetryable && error.message.contains("container credentials")
        }
        #expect(try await proxy.injected() == ["expired_token": 2])
        #expect(again.requestCounts == ["PUT": 2])
    }

    @Test(.enabled(if: seaweed, "needs the SeaweedFS server bin/test starts")) func credentialProcessOfAProfile() async throws {
        let server = try #require(S3TestServer.current)
        let home = try Home()
        let calls = home.path + "/calls"
        let script = try TestSupport.script("""
            echo call >> \(calls)
            printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "Expiration": "2099-01-01T00:00:00Z"}' '\(server.accessKey)' '\(server.secretKey)'
            """, at: home.path + "/credentials.sh")
        _ = try home.write(".aws/config", "[profile proc]\ncredential_process = \(script) --profile proc\n")
        var environment = home.environment
        environment["AWS_PROFILE"] = "proc"
        let store = try await roundTrip(bucket: server.bucket, endpoint: server.endpoint, environment: environment)
        #expect(store.credentials.source == "credential_process of profile proc")
        #expect(try String(contentsOfFile: calls, encoding: .utf8) == "call\n")

        // Keys the server refuses: the verifier says where they came from, never the secret.
        _ = try TestSupport.script("""
            printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "wrong-secret-123"}' '\(server.accessKey)'
            """, at: home.path + "/credentials.sh")
        let verify = try await TestSupport.run([TestSupport.verifier, "s3://\(server.bucket)/nothing/h/d", "--endpoint", server.endpoint],
                                         environment: environment)
        #expect(verify.status != 0)
        #expect(verify.stdout.contains("the server refused the credentials (access key \(server.accessKey) from credential_process of profile proc (secret redacted))"),
                "\(verify.stdout)")
        #expect(!verify.stdout.contains("wrong-secret-123"))
    }

    @Test(.enabled(if: seaweed, "needs the SeaweedFS server bin/test starts")) func ssoProfileWithACachedToken() async throws {
        let server = try #require(S3TestServer.current)
        let portal = try CredentialServer(accessKey: server.accessKey, secret: server.secretKey, lifetime: 3600, authorization: "sso-access-token")
        let home = try Home()
        _ = try home.write(".aws/config", """
            [profile sso]
            sso_session = corp
            sso_account_id = 111122223333
            sso_role_name = Deployer
            [sso-session corp]
            sso_region = us-east-1
            sso_start_url = https://example.awsapps.com/start
            """)
        _ = try home.write(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json",
                           #"{"accessToken": "sso-access-token", "expiresAt": "2099-01-01T00:00:00Z", "region": "us-east-1"}"#)
        var environment = home.environment
        environment["AWS_PROFILE"] = "sso"
        environment["AWS_ENDPOINT_URL_SSO"] = portal.url
        let store = try await roundTrip(bucket: server.bucket, endpoint: server.endpoint, environment: environment)
        #expect(store.credentials.source == "SSO role Deployer of profile sso")
        #expect(try await portal.counts().served == 1)
    }
}
