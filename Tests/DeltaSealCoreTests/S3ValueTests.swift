@testable import DeltaSealS3
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
