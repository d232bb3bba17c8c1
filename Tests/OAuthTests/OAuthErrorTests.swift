import Foundation
import Testing
@testable import OAuth

@Suite("OAuthError classification and messages")
struct OAuthErrorTests {
    @Test("OAuth errors from the token endpoint require authorizing again, known codes or not",
          arguments: ["invalid_grant", "unauthorized_client", "invalid_scope",
                      "invalid_request", "unsupported_grant_type", "something_new"])
    func reauthorize(code: String) {
        for status in [400, 401, 403] {
            let error = OAuthError(code: .oauth, oauthError: code, httpStatus: status)
            #expect(error.requiresReauthorization)
            #expect(!error.isTransient)
        }
    }

    @Test("invalid_client is the client's authentication, not the grant: keep the grant, suggest client_auth = post")
    func invalidClient() {
        for status in [400, 401] {
            let error = OAuthError(code: .oauth, oauthError: "invalid_client", httpStatus: status)
            #expect(error.isClientAuthenticationFailure)
            #expect(!error.requiresReauthorization)
            #expect(!error.isTransient)
            #expect(error.description.contains("client's authentication") && error.description.contains("client_auth = \"post\""))
            #expect(!error.description.contains("Authorize the connection again"))
        }
        #expect(!OAuthError(code: .oauth, oauthError: "invalid_client", httpStatus: 503).isClientAuthenticationFailure, "a 503 is transient first")
        #expect(!OAuthError(code: .oauth, oauthError: "invalid_grant", httpStatus: 400).isClientAuthenticationFailure)
    }

    @Test("5xx, 429 and 408 are transient whatever the body says", arguments: [500, 502, 503, 504, 429, 408])
    func transient(status: Int) {
        for error in [OAuthError(code: .httpStatus, httpStatus: status),
                      OAuthError(code: .oauth, oauthError: "invalid_grant", httpStatus: status)] {
            #expect(error.isTransient)
            #expect(!error.requiresReauthorization)
            #expect(error.description.contains("Try again later"))
        }
    }

    @Test("status without an OAuth error: 400/401/403 transient (a maintenance or firewall page), 404 and 3xx neither")
    func bareStatus() {
        for status in [400, 401, 403] {
            #expect(!OAuthError(code: .httpStatus, httpStatus: status).requiresReauthorization)
            #expect(OAuthError(code: .httpStatus, httpStatus: status).isTransient)
        }
        for error in [OAuthError(code: .httpStatus, httpStatus: 404), OAuthError(code: .redirected, httpStatus: 302),
                      OAuthError(code: .invalidResponse, httpStatus: 200), OAuthError(code: .invalidConfiguration)] {
            #expect(!error.requiresReauthorization)
            #expect(!error.isTransient)
        }
    }

    @Test("every code has a sentence that ends with what to do", arguments: OAuthError.Code.allCases)
    func sentences(code: OAuthError.Code) {
        let text = OAuthError(code: code, httpStatus: 400).description
        #expect(text.hasSuffix("."))
        #expect(text.split(separator: ".").count >= 2)
    }

    @Test("server text with a token in it is scrubbed from the message")
    func scrubbed() {
        let error = OAuthError(
            code: .oauth, oauthError: "invalid_grant",
            errorDescription: "refresh token \(Fixture.refreshToken) was revoked", httpStatus: 400)
        #expect(!error.description.contains(Fixture.refreshToken))
        #expect(error.description.contains("invalid_grant"))
        #expect(error.description.contains("was revoked"))
    }

    @Test("a hostile error code is cut to its charset and length")
    func hostileCode() {
        let error = OAuthError(code: .oauth, oauthError: "bad\"\\\n" + String(repeating: "z", count: 100))
        #expect(error.oauthError?.hasPrefix("bad") == true)
        #expect((error.oauthError?.count ?? 0) <= 64)
        #expect(error.oauthError?.contains("\"") == false)
        #expect(OAuthError(code: .oauth, oauthError: "\n\u{1}").oauthError == nil)
    }
}
