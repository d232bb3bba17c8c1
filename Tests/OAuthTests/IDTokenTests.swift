import Foundation
import Testing
@testable import OAuth

@Suite("ID token checks (OpenID Connect Core §3.1.3.7)")
struct IDTokenTests {
    static let issuer = "https://as.example/o"
    static let exp = Int(Fixture.now.timeIntervalSince1970) + 600

    func token(nonce: String = "n-123", iss: String = issuer, aud: String = #""cli""#, exp: String = "\(exp)",
               extra: String = "") -> String {
        Fixture.jwt(#"{"iss":"\#(iss)","sub":"42","aud":\#(aud),"exp":\#(exp),"nonce":"\#(nonce)","preferred_username":"jdoe"\#(extra)}"#)
    }

    func validate(_ idToken: String) throws -> IDToken {
        try IDToken.validateNonce(idToken: idToken, expected: "n-123", issuer: Self.issuer, clientID: "cli", now: Fixture.now)
    }

    @Test("a matching token passes and yields its claims")
    func good() throws {
        let claims = try validate(token())
        #expect(claims.subject == "42")
        #expect(claims.preferredUsername == "jdoe")
        #expect(claims.audience == ["cli"])
        _ = try validate(token(aud: #"["cli","other"]"#, extra: #","azp":"cli""#))
    }

    @Test("each failing check has its code", arguments: [
        ("nonce", OAuthError.Code.nonceMismatch), ("iss", .issuerMismatch), ("aud", .invalidResponse),
        ("azp", .invalidResponse), ("exp", .invalidResponse), ("exp-huge-negative", .invalidResponse),
        ("not-jwt", .invalidResponse),
    ])
    func failing(check: String, code: OAuthError.Code) {
        let bad: String
        switch check {
        case "nonce": bad = token(nonce: "n-124")
        case "iss": bad = token(iss: "https://evil.example/o")
        case "aud": bad = token(aud: #"["other"]"#)
        case "azp": bad = token(aud: #"["cli","other"]"#, extra: #","azp":"other""#)
        case "exp": bad = token(exp: "\(Self.exp - 1200)")
        case "exp-huge-negative": bad = token(exp: "-1e308")
        default: bad = "only.two"
        }
        let error = #expect(throws: OAuthError.self) { try validate(bad) }
        #expect(error?.code == code)
        #expect(error?.description.contains("n-12") == false)
    }

    @Test("a huge exp does not trap")
    func hugeExp() throws {
        _ = try validate(token(exp: "1e300"))
    }
}
