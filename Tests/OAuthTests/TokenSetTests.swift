import Foundation
import Testing
@testable import OAuth

@Suite("Stored token set")
struct TokenSetTests {
    @Test("description shows no token and survives a corrupt huge expiry")
    func description() throws {
        let tokens = TokenSet(
            accessToken: Fixture.accessToken, refreshToken: Fixture.refreshToken,
            expiresAt: Date(timeIntervalSince1970: 1e300), idToken: "header.payload.sig")
        let text = "\(tokens)"
        #expect(!text.contains(Fixture.accessToken))
        #expect(!text.contains(Fixture.refreshToken))
        #expect(!text.contains("payload"))
        #expect(text.contains("refresh: true"))
    }

    @Test("a parsed set round-trips through the keyring JSON")
    func roundTrip() throws {
        let tokens = try TokenResponse.parse(
            Fixture.tokenResponse(expiresIn: "3600", extra: #""refresh_token":"\#(Fixture.refreshToken)""#),
            now: Fixture.now, previous: nil)
        #expect(try TokenSet(jsonData: tokens.jsonData()) == tokens)
        #expect(tokens.isValid(for: 3500, at: Fixture.now))
        #expect(!tokens.isValid(for: 3700, at: Fixture.now))
    }
}
