import Foundation
import Testing
@testable import OAuth

@Suite("Authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3)")
struct AuthorizationRequestTests {
    static let endpoint = URL(string: "https://as.example/o/authorize/?tenant=acme&client_id=stale#frag")!

    func items(_ url: URL) -> [URLQueryItem] {
        FormURLEncoding.decode(URLComponents(url: url, resolvingAgainstBaseURL: false)?.percentEncodedQuery ?? "")
    }

    func value(_ name: String, in url: URL) -> String? {
        items(url).first { $0.name == name }?.value
    }

    @Test("carries code, S256 challenge, state, exact redirect and the endpoint's own query")
    func contents() throws {
        let pkce = PKCE.generate()
        let request = AuthorizationRequest(
            clientID: "cli", redirectURI: Fixture.redirectURI, scope: "read write", state: "st4te", pkce: pkce)
        let url = request.url(endpoint: Self.endpoint)
        #expect(value("response_type", in: url) == "code")
        #expect(value("client_id", in: url) == "cli")
        #expect(value("redirect_uri", in: url) == "http://127.0.0.1:49152/callback")
        #expect(value("scope", in: url) == "read write")
        #expect(value("state", in: url) == "st4te")
        #expect(value("code_challenge", in: url) == pkce.challenge)
        #expect(value("code_challenge_method", in: url) == "S256")
        #expect(value("tenant", in: url) == "acme")
        #expect(value("nonce", in: url) == nil)
        #expect(!url.absoluteString.contains(pkce.verifier))
        #expect(url.fragment == nil)
        #expect(url.absoluteString.hasPrefix("https://as.example/o/authorize/?tenant=acme&response_type=code&"))
        // No parameter twice: the endpoint's stale client_id is replaced (§3.1).
        let names = items(url).map(\.name)
        #expect(names.count == Set(names).count)
    }

    @Test("offline_access asks for consent (OIDC Core §11) unless the admin set a prompt; admin parameters follow ours")
    func promptAndAdditionalParameters() {
        let offline = AuthorizationRequest(clientID: "cli", redirectURI: Fixture.redirectURI, scope: "openid offline_access")
        #expect(value("prompt", in: offline.url(endpoint: Self.endpoint)) == "consent")
        let plain = AuthorizationRequest(clientID: "cli", redirectURI: Fixture.redirectURI, scope: "openid offline_accessible")
        #expect(value("prompt", in: plain.url(endpoint: Self.endpoint)) == nil, "a whole scope token, not a prefix")
        let admin = AuthorizationRequest(clientID: "cli", redirectURI: Fixture.redirectURI, scope: "offline_access read",
                                         additionalParameters: ["prompt": "login consent", "login_hint": "jdoe+x@acme", "state": "forged",
                                                                "redirect_uri": "https://evil.example/"])
        let url = admin.url(endpoint: Self.endpoint)
        #expect(value("prompt", in: url) == "login consent")
        #expect(value("login_hint", in: url) == "jdoe+x@acme")
        #expect(value("state", in: url) == admin.state, "the protocol's own parameters cannot be overridden")
        #expect(value("redirect_uri", in: url) == Fixture.redirectURI.absoluteString)
        let names = items(url).map(\.name)
        #expect(names.count == Set(names).count)
        #expect(Array(names.suffix(2)) == ["login_hint", "prompt"], "after ours, by name: \(names)")
    }

    @Test("a space in scope is +, a + in a value is %2B")
    func escaping() {
        let request = AuthorizationRequest(
            clientID: "a+b", redirectURI: Fixture.redirectURI, scope: "openid profile", state: "s", nonce: "n")
        let query = request.url(endpoint: URL(string: "https://as.example/auth")!).query ?? ""
        #expect(query.contains("scope=openid+profile"))
        #expect(query.contains("client_id=a%2Bb"))
        #expect(query.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A49152%2Fcallback"))
    }

    @Test("fresh state per request and a nonce only with openid")
    func defaults() {
        let plain = AuthorizationRequest(clientID: "c", redirectURI: Fixture.redirectURI, scope: "read")
        let other = AuthorizationRequest(clientID: "c", redirectURI: Fixture.redirectURI, scope: "read")
        #expect(plain.state != other.state)
        #expect(plain.state.count == 22)
        #expect(plain.nonce == nil)
        let oidc = AuthorizationRequest(clientID: "c", redirectURI: Fixture.redirectURI, scope: "read openid")
        #expect(oidc.nonce?.count == 22)
        #expect(value("nonce", in: oidc.url(endpoint: Self.endpoint)) == oidc.nonce)
        let lookalike = AuthorizationRequest(clientID: "c", redirectURI: Fixture.redirectURI, scope: "openidish")
        #expect(lookalike.nonce == nil)
    }

    @Test("description redacts state and nonce")
    func description() {
        let request = AuthorizationRequest(
            clientID: "c", redirectURI: Fixture.redirectURI, scope: "openid", state: "SECRETSTATE", nonce: "SECRETNONCE")
        #expect(!"\(request)".contains("SECRETSTATE"))
        #expect(!"\(request)".contains("SECRETNONCE"))
    }
}
