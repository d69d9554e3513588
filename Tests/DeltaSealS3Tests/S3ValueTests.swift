@testable import DeltaSealS3
import DeltaSealStore
import Foundation
import Testing

@Suite struct SigV4Tests {
    /// The GET example of AWS's "Signature Version 4 signing" documentation for S3.
    @Test func matchesAWSDocumentedExample() {
        let signer = SigV4(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", source: "test"),
                           region: "us-east-1")
        let headers = signer.sign(method: "GET", path: "/test.txt", query: [],
                                  headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")],
                                  payloadHash: SigV4.emptyPayloadHash, amzDate: "20130524T000000Z")
        let authorization = headers.first { $0.0 == "Authorization" }?.1
        #expect(authorization == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    @Test func encodesLikeS3() {
        #expect(SigV4.encode("a b/ü+=&~.txt", keepSlash: true) == "a%20b/%C3%BC%2B%3D%26~.txt")
        #expect(SigV4.encode("a/b", keepSlash: false) == "a%2Fb")
        #expect(SigV4.amzDate(unixMilliseconds: 1_369_353_600_000) == "20130524T000000Z")
    }

    @Test func sessionTokenIsSigned() {
        let signer = SigV4(credentials: S3Credentials(accessKeyID: "A", secretAccessKey: "S", sessionToken: "T", source: "test"),
                           region: "eu-west-1")
        let headers = signer.sign(method: "PUT", path: "/b/k", query: [("partNumber", "1")], headers: [("host", "h")],
                                  payloadHash: SigV4.emptyPayloadHash, amzDate: "20260101T000000Z")
        #expect(headers.contains { $0 == ("x-amz-security-token", "T") })
        #expect(headers.first { $0.0 == "Authorization" }?.1.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token") == true)
    }
}

@Suite struct CredentialTests {
    let files = [
        "/home/u/.aws/credentials": "[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key = defaultsecret\n\n[ci]\naws_access_key_id=CIKEY\naws_secret_access_key=cisecret\naws_session_token = citoken\n",
        "/home/u/.aws/config": "[default]\nregion = eu-central-1\n[profile cfgonly]\naws_access_key_id = CFGKEY\naws_secret_access_key = cfgsecret\nregion = ap-south-1\n",
    ]

    func read(_ path: String) -> String? { files[path] }

    @Test func environmentComesFirst() throws {
        let env = ["HOME": "/home/u", "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_PROFILE": "ci"]
        let credentials = try S3Credentials.resolve(environment: env, readFile: read)
        #expect(credentials.accessKeyID == "ENVKEY" && credentials.secretAccessKey == "envsecret" && credentials.sessionToken == nil)
        #expect(credentials.source == "environment")
    }

    @Test func profileFromCredentialsThenConfig() throws {
        let ci = try S3Credentials.resolve(environment: ["HOME": "/home/u", "AWS_PROFILE": "ci"], readFile: read)
        #expect(ci.accessKeyID == "CIKEY" && ci.sessionToken == "citoken")
        let fallback = try S3Credentials.resolve(environment: ["HOME": "/home/u"], readFile: read)
        #expect(fallback.accessKeyID == "DEFAULTKEY")
        let configOnly = try S3Credentials.resolve(environment: ["HOME": "/home/u", "AWS_PROFILE": "cfgonly"], readFile: read)
        #expect(configOnly.accessKeyID == "CFGKEY")
        #expect(S3Credentials.region(environment: ["HOME": "/home/u", "AWS_PROFILE": "cfgonly"], readFile: read) == "ap-south-1")
        #expect(S3Credentials.region(environment: ["HOME": "/home/u", "AWS_REGION": "us-west-2"], readFile: read) == "us-west-2")
    }

    @Test func missingCredentialsSayWhereTheyWereSought() {
        #expect {
            try S3Credentials.resolve(environment: ["HOME": "/nowhere", "AWS_PROFILE": "x"], readFile: read)
        } throws: { error in
            "\(error)".contains("profile x in /nowhere/.aws/credentials")
        }
    }

    @Test func secretsNeverPrint() {
        let credentials = S3Credentials(accessKeyID: "AKID", secretAccessKey: "very-secret", sessionToken: "tok", source: "environment")
        #expect(!"\(credentials)".contains("very-secret"))
        #expect(!String(reflecting: credentials).contains("very-secret"))
        #expect(!String(reflecting: credentials).contains("tok"))
    }
}

/// A clock tests move by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Int64
    init(_ start: Int64) { value = start }
    var now: Int64 { lock.withLock { value } }
    func advance(seconds: Int64) { lock.withLock { value += seconds * 1000 } }
}

@Suite struct RefreshTests {
    @Test func refreshesFiveMinutesAheadOrHalfwayForShortLifetimes() {
        #expect(RefreshingCredentials.refreshTime(obtained: 0, expiration: 3_600_000) == 3_300_000)
        #expect(RefreshingCredentials.refreshTime(obtained: 0, expiration: 240_000) == 120_000)
        #expect(RefreshingCredentials.refreshTime(obtained: 0, expiration: nil) == .max)
    }

    @Test func asksTheSourceAgainWhenDueAndAfterInvalidation() throws {
        let clock = ManualClock(1_000_000)
        let counter = ManualClock(0)
        let provider = RefreshingCredentials(source: "test source", now: { clock.now }) {
            counter.advance(seconds: 1)
            return S3Credentials(accessKeyID: "K\(counter.now / 1000)", secretAccessKey: "s", sessionToken: "t", source: "test source",
                                 expiration: clock.now + 3_600_000)
        }
        let first = try provider.credentials()
        clock.advance(seconds: 3_000)
        #expect(try provider.credentials() == first)
        clock.advance(seconds: 301)  // past expiration - 5 min
        let second = try provider.credentials()
        #expect(second.accessKeyID == "K2")
        provider.invalidate(first)  // stale ones do not drop fresh ones
        #expect(try provider.credentials() == second)
        provider.invalidate(second)
        #expect(try provider.credentials().accessKeyID == "K3")
        #expect(provider.fetchCount == 3)
    }
}

@Suite struct CredentialSourceTests {
    @Test func containerFullURIMustBeHTTPSOrLoopback() throws {
        #expect(ContainerCredentials.isAllowed("https://creds.example.com/x"))
        #expect(ContainerCredentials.isAllowed("http://127.0.0.1:8080/creds"))
        #expect(ContainerCredentials.isAllowed("http://localhost/creds"))
        #expect(ContainerCredentials.isAllowed("http://[::1]:80/creds"))
        #expect(ContainerCredentials.isAllowed("http://169.254.170.23/v1/credentials"))
        #expect(!ContainerCredentials.isAllowed("http://10.0.0.1/creds"))
        #expect(!ContainerCredentials.isAllowed("http://127.0.0.1.evil.com/creds"))
        #expect(throws: StoreError.self) { try ContainerCredentials(environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://example.com/"]) }
        let relative = try #require(try ContainerCredentials(environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc"]))
        #expect(relative.url == "http://169.254.170.2/v2/credentials/abc")
    }

    @Test func credentialProcessOutputIsChecked() throws {
        let good = Array(#"{"Version": 1, "AccessKeyId": "AK", "SecretAccessKey": "SK", "SessionToken": "ST", "Expiration": "2030-01-02T03:04:05Z"}"#.utf8)
        let credentials = try CredentialProcess.parse(good, label: "credential_process of profile p")
        #expect(credentials.accessKeyID == "AK" && credentials.sessionToken == "ST" && credentials.expiration == 1_893_553_445_000)
        #expect(credentials.source == "credential_process of profile p")
        #expect(throws: StoreError.self) { try CredentialProcess.parse(Array(#"{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "S"}"#.utf8), label: "p") }
        #expect(throws: StoreError.self) { try CredentialProcess.parse(Array("not json".utf8), label: "p") }
    }

    @Test func stsEndpoints() {
        #expect(STSClient(environment: [:], region: "eu-west-1").endpoint == "https://sts.eu-west-1.amazonaws.com")
        #expect(STSClient(environment: ["AWS_STS_REGIONAL_ENDPOINTS": "legacy"], region: "eu-west-1").endpoint == "https://sts.amazonaws.com")
        #expect(STSClient(environment: [:], region: nil).endpoint == "https://sts.amazonaws.com")
        #expect(STSClient(environment: ["AWS_ENDPOINT_URL": "http://127.0.0.1:5000"], region: nil).endpoint == "http://127.0.0.1:5000")
        #expect(STSClient(environment: ["AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_STS": "http://b/"], region: "x").endpoint == "http://b")
    }

    @Test func stsAnswersAndErrors() throws {
        let ok = HTTPResponse(status: 200, headers: [:], body: Array("""
            <AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>sec</SecretAccessKey>\
            <SessionToken>tok</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>
            """.utf8))
        let credentials = try STSClient.parse(ok, action: "AssumeRole", label: "role r")
        #expect(credentials.accessKeyID == "ASIAX" && credentials.sessionToken == "tok" && credentials.expiration == 1_893_553_445_000)
        let throttled = HTTPResponse(status: 400, headers: [:], body: Array("<ErrorResponse><Error><Code>Throttling</Code><Message>slow</Message></Error></ErrorResponse>".utf8))
        #expect { try STSClient.parse(throttled, action: "AssumeRole", label: "role r") } throws: { ($0 as? StoreError)?.isRetryable == true }
        let denied = HTTPResponse(status: 403, headers: [:], body: Array("<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>".utf8))
        #expect { try STSClient.parse(denied, action: "AssumeRole", label: "role r") } throws: {
            ($0 as? StoreError)?.isRetryable == false && "\($0)".contains("AccessDenied")
        }
    }

    @Test func ssoTokenCacheAndPortalAnswer() throws {
        #expect(SSOCredentials.cacheName("corp") == "ee0bfd2552fbd840c02cc48b6e823320543c450f.json")
        let cache = #"{"accessToken": "tok", "expiresAt": "2030-01-01T00:00:00Z"}"#
        #expect(try SSOCredentials.accessToken(cache: cache, now: 0, file: "f") == "tok")
        #expect { try SSOCredentials.accessToken(cache: cache, now: 1_900_000_000_000, file: "f") } throws: { "\($0)".contains("aws sso login") }
        let answer = Array(#"{"roleCredentials": {"accessKeyId": "A", "secretAccessKey": "S", "sessionToken": "T", "expiration": 1893553445000}}"#.utf8)
        let credentials = try SSOCredentials.parse(answer, source: "SSO role R of profile p")
        #expect(credentials.accessKeyID == "A" && credentials.sessionToken == "T" && credentials.expiration == 1_893_553_445_000)
    }

    @Test func profilesPickTheirSourceInTheSDKsOrder() throws {
        let files: [String: String] = [
            "/h/.aws/config": """
                [profile role]
                role_arn = arn:aws:iam::1:role/r
                source_profile = base
                [profile chained]
                role_arn = arn:aws:iam::1:role/c
                source_profile = role
                [profile proc]
                credential_process = /bin/echo
                [profile both]
                aws_access_key_id = STATIC
                aws_secret_access_key = s
                credential_process = /bin/false
                [profile legacy-sso]
                sso_start_url = https://x.awsapps.com/start
                sso_region = eu-west-1
                sso_account_id = 1
                sso_role_name = R
                [profile loop]
                role_arn = arn:aws:iam::1:role/l
                source_profile = loop2
                [profile loop2]
                role_arn = arn:aws:iam::1:role/l2
                source_profile = loop
                [profile nosource]
                role_arn = arn:aws:iam::1:role/n
                """,
            "/h/.aws/credentials": "[base]\naws_access_key_id = BASE\naws_secret_access_key = b\n",
        ]
        func provider(_ profile: String) throws -> any CredentialProvider {
            try CredentialChain.provider(environment: ["HOME": "/h", "AWS_PROFILE": profile], readFile: { files[$0] })
        }
        #expect(try provider("role").source == "role arn:aws:iam::1:role/r of profile role (source_profile base)")
        #expect(try provider("chained").source == "role arn:aws:iam::1:role/c of profile chained (source_profile role)")
        #expect(try provider("proc").source == "credential_process of profile proc")
        #expect(try provider("both").credentials().accessKeyID == "STATIC")
        #expect(try provider("legacy-sso").source == "SSO role R of profile legacy-sso")
        #expect { try provider("loop") } throws: { "\($0)".contains("loops") }
        #expect { try provider("nosource") } throws: { "\($0)".contains("neither source_profile nor credential_source") }
        // Web identity in the environment comes before any profile; environment keys before that.
        let web = try CredentialChain.provider(environment: ["HOME": "/h", "AWS_PROFILE": "proc", "AWS_WEB_IDENTITY_TOKEN_FILE": "/t",
                                                             "AWS_ROLE_ARN": "arn:aws:iam::1:role/w"], readFile: { files[$0] })
        #expect(web.source == "web identity (role arn:aws:iam::1:role/w)")
        #expect(CredentialChain.longTermCredentials(environment: ["HOME": "/h", "AWS_PROFILE": "proc"], readFile: { files[$0] }) == nil)
        #expect(CredentialChain.longTermCredentials(environment: ["HOME": "/h", "AWS_PROFILE": "base"], readFile: { files[$0] })?.accessKeyID == "BASE")
    }

    @Test func handedOverCredentialsKeepTheirSource() throws {
        let credentials = S3Credentials(accessKeyID: "AK", secretAccessKey: "SK", source: "profile p in /h/.aws/credentials")
        let path = NSTemporaryDirectory() + "/handover-\(UInt32.random(in: 0 ... .max))"
        try credentials.sharedCredentialsFile.write(toFile: path, atomically: true, encoding: .utf8)
        let taken = try S3Credentials.takeFile(path)
        #expect(taken.accessKeyID == "AK" && taken.secretAccessKey == "SK")
        #expect(taken.source == "the supervisor (a private file; profile p in /h/.aws/credentials)")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func retryDelaysUseFullJitterUnderTheCap() {
        let retry = RequestRetry(maxAttempts: 3)
        for attempt in 1...12 {
            let delay = retry.delay(afterAttempt: attempt)
            #expect(delay >= 0 && delay < min(20, 0.1 * Double(1 << (attempt - 1))))
        }
        #expect(RequestRetry.reason(status: 503, code: "SlowDown") == .throttled)
        #expect(RequestRetry.reason(status: 429, code: "") == .throttled)
        #expect(RequestRetry.reason(status: 500, code: "InternalError") == .serverError)
        #expect(RequestRetry.reason(status: 403, code: "AccessDenied") == nil)
        #expect(RequestRetry.reason(status: 404, code: "NoSuchKey") == nil)
    }
}
