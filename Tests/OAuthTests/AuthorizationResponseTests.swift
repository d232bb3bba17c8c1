import Foundation
import Testing
@testable import OAuth

@Suite("Authorization response (RFC 6749 §4.1.2, RFC 9207)")
struct AuthorizationResponseTests {
    static let state = "expected-state-0123456789"
    static let issuer = "https://as.example/o"

    func check(_ query: String, issuer: String? = issuer, required: Bool = false) -> CallbackOutcome {
        AuthorizationResponse.validate(
            query: AuthorizationResponse.queryItems(percentEncodedQuery: query),
            expectedState: Self.state, expectedIssuer: issuer, issuerRequired: required)
    }

    @Test("right state gives the code")
    func code() {
        #expect(check("code=abc&state=\(Self.state)") == .code("abc"))
        #expect(check("code=abc&state=\(Self.state)&iss=https%3A%2F%2Fas.example%2Fo") == .code("abc"))
    }

    @Test("wrong, missing or repeated state is ignored: the flow goes on (S1)",
          arguments: ["code=abc&state=forged", "code=abc", "code=abc&state=",
                      "code=abc&state=\(state)&state=forged", "code=a&code=b&state=\(state)",
                      "error=access_denied&state=forged", "", "favicon.ico"])
    func ignored(query: String) throws {
        let outcome = check(query)
        guard case .ignore(let reason) = outcome else {
            Issue.record("expected .ignore, got \(outcome)")
            return
        }
        #expect(!reason.contains(Self.state))
    }

    @Test("an error with the right state ends the flow")
    func denied() {
        guard case .denied(let error) = check("error=access_denied&error_description=User+said+no&state=\(Self.state)") else {
            Issue.record("expected .denied")
            return
        }
        #expect(error.code == .accessDenied)
        #expect(error.errorDescription == "User said no")
        #expect(error.requiresReauthorization)
        guard case .denied(let other) = check("error=invalid_scope&state=\(Self.state)") else {
            Issue.record("expected .denied")
            return
        }
        #expect(other.code == .oauth && other.oauthError == "invalid_scope")
    }

    @Test("iss mismatch and missing required iss are refused (RFC 9207 §2.4)")
    func issuer() {
        guard case .denied(let mismatch) = check("code=abc&state=\(Self.state)&iss=https%3A%2F%2Fevil.example") else {
            Issue.record("expected .denied for a wrong iss")
            return
        }
        #expect(mismatch.code == .issuerMismatch)
        guard case .denied(let missing) = check("code=abc&state=\(Self.state)", required: true) else {
            Issue.record("expected .denied for a missing iss")
            return
        }
        #expect(missing.code == .issuerMismatch)
        // The error path is checked too.
        guard case .denied(let onError) = check("error=access_denied&state=\(Self.state)&iss=x") else {
            Issue.record("expected .denied")
            return
        }
        #expect(onError.code == .issuerMismatch)
        #expect(check("code=abc&state=\(Self.state)", required: false) == .code("abc"))
    }

    @Test("right state without code or error is a broken response")
    func noCode() {
        guard case .denied(let error) = check("state=\(Self.state)") else {
            Issue.record("expected .denied")
            return
        }
        #expect(error.code == .invalidResponse)
    }

    @Test("pasted redirect URL")
    func pasted() {
        let url = "  http://127.0.0.1:49152/callback?code=p%2Bq&state=\(Self.state)\n"
        #expect(AuthorizationResponse.parse(
            pastedURL: url, expectedState: Self.state, expectedIssuer: nil, issuerRequired: false,
            expectedRedirectURI: Fixture.redirectURI) == .code("p+q"))
        #expect(AuthorizationResponse.parse(
            pastedURL: "?code=c&state=\(Self.state)", expectedState: Self.state, expectedIssuer: nil,
            issuerRequired: false) == .code("c"))
        let elsewhere = "https://evil.example/callback?code=c&state=\(Self.state)"
        guard case .ignore = AuthorizationResponse.parse(
            pastedURL: elsewhere, expectedState: Self.state, expectedIssuer: nil, issuerRequired: false,
            expectedRedirectURI: Fixture.redirectURI)
        else {
            Issue.record("a URL for another host must be ignored")
            return
        }
    }
}
