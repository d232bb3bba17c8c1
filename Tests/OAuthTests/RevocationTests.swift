import Foundation
import Testing
@testable import OAuth

@Suite("Revocation (RFC 7009)")
struct RevocationTests {
    static let endpoint = URL(string: "https://as.example/o/revoke_token/")!

    @Test("request body and order: refresh token first")
    func request() {
        let tokens = TokenSet(accessToken: "AT", refreshToken: "RT+1")
        let requests = RevocationRequest.all(for: tokens)
        #expect(requests.map(\.tokenTypeHint) == [.refreshToken, .accessToken])
        let http = requests[0].httpRequest(endpoint: Self.endpoint, client: .none(clientID: "cli"))
        #expect(http.method == "POST")
        #expect(Fixture.form(http) == ["token": "RT+1", "token_type_hint": "refresh_token", "client_id": "cli"])
        #expect(String(decoding: http.body, as: UTF8.self).contains("token=RT%2B1"))
        #expect(!"\(requests[0])".contains("RT+1"))
        #expect(RevocationRequest.all(for: TokenSet(accessToken: "AT")).count == 1)
    }

    @Test("classification")
    func classify() {
        #expect(RevocationResult.classify(HTTPResponseSpec(status: 200)) == .revoked)
        guard case .mayStillBeValid(let reason) = RevocationResult.classify(HTTPResponseSpec(status: 503)) else {
            Issue.record("503 must say the token may still be valid")
            return
        }
        #expect(reason.contains("may still be valid"))
        for status in [500, 502, 429] {
            guard case .mayStillBeValid = RevocationResult.classify(HTTPResponseSpec(status: status)) else {
                Issue.record("\(status) must be mayStillBeValid")
                continue
            }
        }
        guard case .rejected(let error) = RevocationResult.classify(Fixture.json(400, #"{"error":"unsupported_token_type"}"#)) else {
            Issue.record("400 must be rejected")
            return
        }
        #expect(error.oauthError == "unsupported_token_type")
        guard case .rejected(let redirect) = RevocationResult.classify(HTTPResponseSpec(status: 302)) else {
            Issue.record("302 must be rejected")
            return
        }
        #expect(redirect.code == .redirected)
    }
}
