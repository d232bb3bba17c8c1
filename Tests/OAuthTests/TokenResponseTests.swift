import Foundation
import Testing
@testable import OAuth

@Suite("Token response (RFC 6749 §5.1, §6)")
struct TokenResponseTests {
    @Test("a good response becomes a token set with an absolute expiry")
    func good() throws {
        let response = Fixture.json(200, """
            {"access_token":"\(Fixture.accessToken)","token_type":"bearer","expires_in":3600,
             "refresh_token":"\(Fixture.refreshToken)","scope":"read write","id_token":"a.b.c"}
            """)
        let tokens = try TokenResponse.parse(response, now: Fixture.now, previous: nil)
        #expect(tokens.accessToken == Fixture.accessToken)
        #expect(tokens.refreshToken == Fixture.refreshToken)
        #expect(tokens.tokenType == "Bearer")
        #expect(tokens.expiresAt == Fixture.now.addingTimeInterval(3600))
        #expect(tokens.scope == "read write")
        #expect(tokens.idToken == "a.b.c")
        #expect(tokens.obtainedAt == Fixture.now)
    }

    @Test("a refresh without refresh_token or scope keeps the previous ones (§6)")
    func refreshKeepsPrevious() throws {
        let previous = TokenSet(
            accessToken: "old", refreshToken: Fixture.refreshToken, scope: "read",
            obtainedAt: Fixture.now.addingTimeInterval(-3600), account: "jdoe")
        let tokens = try TokenResponse.parse(Fixture.tokenResponse(expiresIn: "60"), now: Fixture.now, previous: previous)
        #expect(tokens.accessToken == Fixture.accessToken)
        #expect(tokens.refreshToken == Fixture.refreshToken)
        #expect(tokens.scope == "read")
        #expect(tokens.account == "jdoe")
        let nullRT = try TokenResponse.parse(
            Fixture.tokenResponse(expiresIn: "60", extra: #""refresh_token":null"#), now: Fixture.now, previous: previous)
        #expect(nullRT.refreshToken == Fixture.refreshToken)
    }

    @Test("a rotated refresh token replaces the previous one")
    func rotation() throws {
        let previous = TokenSet(accessToken: "old", refreshToken: "RT-old")
        let tokens = try TokenResponse.parse(
            Fixture.tokenResponse(expiresIn: "60", extra: #""refresh_token":"RT-new""#), now: Fixture.now, previous: previous)
        #expect(tokens.refreshToken == "RT-new")
    }

    @Test("no expires_in means no known expiry")
    func noExpiry() throws {
        #expect(try TokenResponse.parse(Fixture.tokenResponse(expiresIn: nil), now: Fixture.now, previous: nil).expiresAt == nil)
    }

    /// The S10 rule, case by case: (JSON literal, expected seconds).
    @Test("expires_in is clamped to 1 s … 1 year before any conversion (S10)", arguments: [
        ("-5", 1.0), ("0", 1), ("1e300", 31_536_000), ("\"3600\"", 3600), ("3.7", 3),
        ("9223372036854775808", 31_536_000), ("-9223372036854775809", 1), ("\" 120 \"", 120),
        ("\"1e999\"", 31_536_000), ("1.5e3", 1500), ("null", -1),
    ] as [(String, Double)])
    func expiresIn(literal: String, seconds: Double) throws {
        let tokens = try TokenResponse.parse(Fixture.tokenResponse(expiresIn: literal), now: Fixture.now, previous: nil)
        if seconds < 0 {
            #expect(tokens.expiresAt == nil)
        } else {
            #expect(tokens.expiresAt == Fixture.now.addingTimeInterval(seconds))
        }
        // The stored set stays printable and serializable with such values.
        _ = tokens.description
        _ = try tokens.jsonData()
    }

    @Test("non-numeric expires_in is rejected with a clear message",
          arguments: ["\"abc\"", "\"inf\"", "\"nan\"", "\"0x10\"", "true", "[1]", "{}", "\"\""])
    func expiresInRejected(literal: String) {
        let error = #expect(throws: OAuthError.self) {
            try TokenResponse.parse(Fixture.tokenResponse(expiresIn: literal), now: Fixture.now, previous: nil)
        }
        #expect(error?.code == .invalidResponse)
        #expect(error?.description.contains("expires_in") == true)
        #expect(error?.requiresReauthorization == false)
        #expect(error?.isTransient == false)
    }
}
