import Foundation
import Testing
@testable import OAuth

@Suite("Token request (RFC 6749 §4.1.3, §6; RFC 8628 §3.4)")
struct TokenRequestTests {
    @Test("authorization code exchange")
    func authorizationCode() {
        let request = TokenRequest.authorizationCode(code: "c+d&e", redirectURI: Fixture.redirectURI, verifier: "v~1")
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: .none(clientID: "cli"))
        #expect(request.method == "POST")
        #expect(request.url == Fixture.tokenEndpoint)
        #expect(request.header("content-type") == "application/x-www-form-urlencoded")
        #expect(request.header("ACCEPT") == "application/json")
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body.contains("code=c%2Bd%26e"))
        #expect(!body.contains("c+d"))
        let form = Fixture.form(request)
        #expect(form == [
            "grant_type": "authorization_code", "code": "c+d&e",
            "redirect_uri": "http://127.0.0.1:49152/callback", "code_verifier": "v~1", "client_id": "cli",
        ])
    }

    @Test("refresh with and without scope")
    func refresh() {
        let client = ClientAuthentication.post(clientID: "cli", secret: "s")
        let plain = Fixture.form(TokenRequest.refresh(refreshToken: "r&t", scope: nil)
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: client))
        #expect(plain == ["grant_type": "refresh_token", "refresh_token": "r&t", "client_id": "cli", "client_secret": "s"])
        let scoped = Fixture.form(TokenRequest.refresh(refreshToken: "r", scope: "read")
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: client))
        #expect(scoped["scope"] == "read")
    }

    @Test("device code poll")
    func deviceCode() {
        let form = Fixture.form(TokenRequest.deviceCode(deviceCode: "dc")
            .httpRequest(endpoint: Fixture.tokenEndpoint, client: .basic(clientID: "c", secret: "s")))
        #expect(form == ["grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "dc"])
    }

    @Test("descriptions redact codes and tokens")
    func description() {
        let code = TokenRequest.authorizationCode(code: "THE-CODE", redirectURI: Fixture.redirectURI, verifier: "THE-VERIFIER")
        #expect(!"\(code)".contains("THE-CODE") && !"\(code)".contains("THE-VERIFIER"))
        #expect(!"\(TokenRequest.refresh(refreshToken: "THE-RT", scope: nil))".contains("THE-RT"))
    }
}
