import Foundation
import Testing
@testable import OAuth

@Suite("Discovery (RFC 8414, OpenID Connect Discovery)")
struct DiscoveryDocumentTests {
    static let issuer = "https://as.example/o"

    static func metadata(issuer: String = issuer, extra: String = "") -> HTTPResponseSpec {
        Fixture.json(200, """
            {"issuer":"\(issuer)","authorization_endpoint":"https://as.example/o/authorize/",
             "token_endpoint":"https://as.example/o/token/","revocation_endpoint":"https://as.example/o/revoke_token/"
             \(extra)}
            """)
    }

    @Test("candidate URLs: OpenID first, then RFC 8414 with the path after the well-known part")
    func candidates() {
        #expect(DiscoveryDocument.candidateURLs(issuer: "https://as.example/o/").map(\.absoluteString) == [
            "https://as.example/o/.well-known/openid-configuration",
            "https://as.example/.well-known/oauth-authorization-server/o",
        ])
        #expect(DiscoveryDocument.candidateURLs(issuer: "https://as.example").map(\.absoluteString) == [
            "https://as.example/.well-known/openid-configuration",
            "https://as.example/.well-known/oauth-authorization-server",
        ])
        #expect(DiscoveryDocument.candidateURLs(issuer: "http://127.0.0.1:8000/o").count == 2)
        #expect(DiscoveryDocument.candidateURLs(issuer: "http://as.example/o").isEmpty)
        #expect(DiscoveryDocument.candidateURLs(issuer: "https://as.example/o?x=1").isEmpty)
    }

    @Test("a document with the configured issuer gives the endpoints")
    func matching() throws {
        let endpoints = try DiscoveryDocument.parse(
            Self.metadata(extra: #","device_authorization_endpoint":"https://as.example/o/device/","authorization_response_iss_parameter_supported":true"#),
            expectedIssuer: Self.issuer)
        #expect(endpoints.authorization.absoluteString == "https://as.example/o/authorize/")
        #expect(endpoints.token.absoluteString == "https://as.example/o/token/")
        #expect(endpoints.revocation?.absoluteString == "https://as.example/o/revoke_token/")
        #expect(endpoints.deviceAuthorization?.absoluteString == "https://as.example/o/device/")
        #expect(endpoints.issuer == Self.issuer)
        #expect(endpoints.authorizationResponseIssParameterSupported)
        #expect(try DiscoveryDocument.parse(Self.metadata(), expectedIssuer: Self.issuer)
            .authorizationResponseIssParameterSupported == false)
    }

    @Test("another issuer, even one slash off, is refused (RFC 8414 §3.3)",
          arguments: ["https://evil.example/o", "https://as.example/o/", "https://AS.example/o"])
    func mismatching(issuer: String) {
        let error = #expect(throws: OAuthError.self) {
            try DiscoveryDocument.parse(Self.metadata(issuer: issuer), expectedIssuer: Self.issuer)
        }
        #expect(error?.code == .issuerMismatch)
    }

    @Test("missing fields, http endpoints, errors and redirects are refused")
    func refused() {
        let noToken = Fixture.json(200, #"{"issuer":"\#(Self.issuer)","authorization_endpoint":"https://as.example/a"}"#)
        let httpToken = Fixture.json(200, #"{"issuer":"\#(Self.issuer)","authorization_endpoint":"https://as.example/a","token_endpoint":"http://as.example/t"}"#)
        let huge = HTTPResponseSpec(status: 200, body: Data(repeating: 0x20, count: DiscoveryDocument.maximumSize + 1))
        for (response, code) in [(noToken, OAuthError.Code.discovery), (httpToken, .discovery), (huge, .discovery),
                                 (HTTPResponseSpec(status: 404), .discovery), (HTTPResponseSpec(status: 301), .redirected),
                                 (Fixture.json(200, "<html>"), .discovery)] {
            let error = #expect(throws: OAuthError.self) {
                try DiscoveryDocument.parse(response, expectedIssuer: Self.issuer)
            }
            #expect(error?.code == code)
        }
        let unavailable = #expect(throws: OAuthError.self) {
            try DiscoveryDocument.parse(HTTPResponseSpec(status: 503), expectedIssuer: Self.issuer)
        }
        #expect(unavailable?.isTransient == true)
    }

    @Test("manual endpoints: https or loopback http only")
    func validate() throws {
        let good = ProviderEndpoints(
            authorization: URL(string: "https://as.example/a")!, token: URL(string: "http://127.0.0.1:8000/t")!)
        try good.validate()
        #expect(good.usesLoopbackHTTP)
        let bad = ProviderEndpoints(
            authorization: URL(string: "https://as.example/a")!, token: URL(string: "http://as.example/t")!)
        #expect(throws: OAuthError.self) { try bad.validate() }
    }
}
