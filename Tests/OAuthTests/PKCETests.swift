import Foundation
import Testing
@testable import OAuth

@Suite("PKCE (RFC 7636)")
struct PKCETests {
    @Test("Appendix B test vector")
    func appendixB() throws {
        let pkce = try PKCE(verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        #expect(pkce.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        #expect(pkce.method == "S256")
    }

    @Test("generated verifiers are 43 unreserved characters and differ")
    func generated() throws {
        let a = PKCE.generate(), b = PKCE.generate()
        #expect(a.verifier.count == 43)
        #expect(a.verifier.utf8.allSatisfy(PKCE.isUnreserved))
        #expect(a.verifier != b.verifier)
        #expect(try PKCE(verifier: a.verifier).challenge == a.challenge)
    }

    @Test("verifiers outside 43–128 unreserved characters are refused",
          arguments: [String(repeating: "a", count: 42), String(repeating: "a", count: 129),
                      String(repeating: "a", count: 42) + "+", String(repeating: "a", count: 42) + "é"])
    func invalid(verifier: String) {
        #expect(throws: OAuthError.self) { try PKCE(verifier: verifier) }
    }

    @Test("the boundaries 43 and 128 are accepted")
    func boundaries() throws {
        _ = try PKCE(verifier: String(repeating: "~", count: 43))
        _ = try PKCE(verifier: String(repeating: "A", count: 128))
    }

    @Test("description hides the verifier")
    func description() {
        let pkce = PKCE.generate()
        #expect(!"\(pkce)".contains(pkce.verifier))
        #expect(!String(reflecting: pkce).contains(pkce.verifier))
    }
}

@Suite("Random values and constant-time compare")
struct RandomValueTests {
    @Test("state is 128 bits of base64url and never repeats")
    func state() {
        let values = (0..<200).map { _ in RandomValue.urlSafe(bytes: 16) }
        #expect(Set(values).count == values.count)
        for value in values {
            #expect(value.count == 22)
            #expect(Base64URL.decode(value)?.count == 16)
            #expect(value.utf8.allSatisfy(PKCE.isUnreserved))
        }
    }

    @Test("fewer than 16 bytes are raised to 16; more are honoured")
    func minimum() {
        #expect(RandomValue.urlSafe(bytes: 4).count == 22)
        #expect(RandomValue.urlSafe(bytes: 32).count == 43)
    }

    @Test("bits are spread: every base64url character appears over many values")
    func spread() {
        let text = (0..<400).map { _ in RandomValue.urlSafe() }.joined()
        #expect(Set(text).count == 64)
    }

    @Test("constant-time equality")
    func constantTime() {
        #expect(ConstantTime.equals("abc", "abc"))
        #expect(ConstantTime.equals("", ""))
        #expect(!ConstantTime.equals("abc", "abd"))
        #expect(!ConstantTime.equals("abc", "abcd"))
        #expect(!ConstantTime.equals("abc", ""))
        // Lengths differing by 256 must not wrap to "equal".
        #expect(!ConstantTime.equals("", String(repeating: "\0", count: 256)))
    }

    @Test("redaction shows only the length")
    func redaction() {
        #expect(Redaction.describe(secret: String(repeating: "x", count: 43)) == "<redacted 43 chars>")
        #expect(Redaction.describe(secret: nil as String?) == "<none>")
        let scrubbed = Redaction.scrub("Token \(Fixture.accessToken) is unknown")
        #expect(!scrubbed.contains(Fixture.accessToken))
        #expect(scrubbed.hasPrefix("Token <redacted"))
        #expect(Redaction.scrub("Invalid grant: code expired") == "Invalid grant: code expired")
    }
}
